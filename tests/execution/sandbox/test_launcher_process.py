"""The launcher's own machinery, on the host: its JSON codec (it avoids importing json), how it spawns
the plugin (fork + exec, without subprocess), and that its start-up stays lean."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from execution.sandbox import launcher

SAMPLES: list[object] = [
    None,
    True,
    False,
    0,
    -7,
    2**70,
    0.5,
    1e-07,
    123456789.125,
    "",
    "plain",
    'quote " and backslash \\ and slash /',
    "controls \x00 \x01 \x1f \x7f \t \n \r \b \f",
    "unicode é ß 漢字 🦊",
    "lone surrogate \udc80 (a file name that was not UTF-8)",
    [],
    {},
    {"nested": [1, {"a": [None, "x", 2.5]}], "": "empty key"},
    {"stdout_total": 3, "output": {"present": True, "error": None}, "blobs": [{"kind": "stdout", "size": 3}]},
]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_json_dumps_is_what_json_dumps_would_write(value: object) -> None:
    written = launcher.json_dumps(value)
    assert written == json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    assert written.isascii()
    assert json.loads(written) == value


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_json_loads_reads_what_json_writes(value: object) -> None:
    assert launcher.json_loads(json.dumps(value).encode()) == value
    if "\udc80" not in json.dumps(value, ensure_ascii=False):  # raw UTF-8 cannot carry a lone surrogate
        assert launcher.json_loads(f" \n{json.dumps(value, ensure_ascii=False)}\t ".encode()) == value


def test_python_string_quoting_matches_the_c_encoder() -> None:
    rng = random.Random(20261125)
    alphabet = [chr(c) for c in (*range(0x80), 0xA0, 0xE9, 0x2028, 0xD800, 0xDFFF, 0xFFFF, 0x1F98A, 0x10FFFF)]
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        assert launcher._quote_python(text) == json.dumps(text, ensure_ascii=True)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_floats_are_written_as_null(value: float) -> None:
    assert launcher.json_dumps({"t": value}) == '{"t":null}'


@pytest.mark.parametrize(
    ("value", "error"),
    [({1: "x"}, "keys must be str"), ({"x": {1, 2}}, "not JSON serialisable"), (b"raw", "not JSON")],
)
def test_json_dumps_refuses_what_json_has_no_spelling_for(value: object, error: str) -> None:
    with pytest.raises(TypeError, match=error):
        launcher.json_dumps(value)


@pytest.mark.parametrize("data", [b"", b"   ", b'{"a": 1} x', b"{'a': 1}", b"NaN", b'{"a": Infinity}', b"[1,"])
def test_json_loads_refuses_anything_but_one_json_document(data: bytes) -> None:
    with pytest.raises(ValueError):
        launcher.json_loads(data)


# --------------------------------------------------------------------------------------------- spawn


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)


def test_spawn_runs_the_program_with_its_stdin_env_cwd_and_nothing_else(tmp_path: Path) -> None:
    stdin_file = tmp_path / "input.json"
    stdin_file.write_text('{"n": 1}')
    leaked_r, leaked_w = os.pipe()  # a descriptor of ours the child must not see
    os.set_inheritable(leaked_w, True)
    script = (
        'cat; echo; echo "cwd=$(pwd) env=$ONLY_THIS other=${HOME:-unset}"; '
        'ls /proc/self/fd | sort -n | tr "\\n" " "; echo "sid=$(cut -d" " -f6 /proc/self/stat)" >&2'
    )
    try:
        pid, out_fd, err_fd = launcher.spawn(
            ["/bin/sh", "-c", script], str(tmp_path), {"ONLY_THIS": "yes", "PATH": "/usr/bin:/bin"}, str(stdin_file)
        )
        out, err = _read_all(out_fd).decode(), _read_all(err_fd).decode()
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(leaked_r)
        os.close(leaked_w)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = out.splitlines()
    assert lines[0] == '{"n": 1}'
    assert lines[1] == f"cwd={tmp_path} env=yes other=unset"
    # 0, 1, 2 and the one ls opened to list the directory: nothing of the launcher's leaks in.
    assert [int(fd) for fd in lines[2].split()] == [0, 1, 2, 3]
    assert err.strip() == f"sid={pid}"  # a session (and process group) of its own


def test_spawn_reports_a_missing_program_as_oserror(tmp_path: Path) -> None:
    stdin_file = tmp_path / "input.json"
    stdin_file.write_text("{}")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError) as caught:
        launcher.spawn(["/nonexistent/python3", "x.py"], str(tmp_path), {"PATH": "/bin"}, str(stdin_file))
    assert caught.value.filename == "/nonexistent/python3"
    with pytest.raises(FileNotFoundError):
        launcher.spawn(["true"], str(tmp_path / "no-such-dir"), {"PATH": "/usr/bin:/bin"}, str(stdin_file))
    assert set(os.listdir("/proc/self/fd")) == before  # every pipe was closed again


def test_the_launcher_starts_without_heavy_imports() -> None:
    # What the container runs (python3 -I -S, then import launcher): each module kept out here is CPU
    # that every single plugin run would pay for.
    directory = Path(launcher.__file__).parent
    code = f"import sys; sys.path.insert(0, {str(directory)!r}); import launcher; print(' '.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert "launcher" in loaded
    assert not loaded & {"json", "json.decoder", "re", "enum", "subprocess", "contextlib", "collections", "signal"}
