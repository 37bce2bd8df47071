"""The launcher's own machinery, on the host: its JSON codec (it avoids importing json), how it spawns
the plugin (fork + exec, without subprocess), and that its start-up stays lean."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
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
        pid, out_fd, err_fd, progress_fd = launcher.spawn(
            ["/bin/sh", "-c", script], str(tmp_path), {"ONLY_THIS": "yes", "PATH": "/usr/bin:/bin"}, str(stdin_file)
        )
        out, err = _read_all(out_fd).decode(), _read_all(err_fd).decode()
        _, status = os.waitpid(pid, 0)
        os.close(progress_fd)
    finally:
        os.close(leaked_r)
        os.close(leaked_w)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = out.splitlines()
    assert lines[0] == '{"n": 1}'
    assert lines[1] == f"cwd={tmp_path} env=yes other=unset"
    # 0, 1, 2, the progress pipe (3) and the one ls opened to list the directory: nothing of the
    # launcher's leaks in.
    assert [int(fd) for fd in lines[2].split()] == [0, 1, 2, 3, 4]
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


def test_a_prestarted_process_runs_its_program_after_the_go_and_sees_nothing_from_before(tmp_path: Path) -> None:
    stdin_file = tmp_path / "input.json"
    stdin_file.write_text('{"n": 2}')
    before_r, before_w = os.pipe()  # a descriptor of ours from before the prestart
    os.set_inheritable(before_w, True)
    after_r = after_w = -1
    try:
        waiting = launcher.prestart(python=False)
        # While it waits: its stdin is the go pipe (not ours), 1-3 its pipes, one more to report a failure.
        deadline = time.monotonic() + 10
        while len(held := os.listdir(f"/proc/{waiting.pid}/fd")) != 5 and time.monotonic() < deadline:
            time.sleep(0.01)  # until it has closed what it inherited
        assert sorted(int(fd) for fd in held)[:4] == [0, 1, 2, 3] and len(held) == 5
        assert os.readlink(f"/proc/{waiting.pid}/fd/0").startswith("pipe:")
        after_r, after_w = os.pipe()  # opened after the prestart, before the go: the job's time
        os.set_inheritable(after_w, True)
        script = 'cat; echo; echo "cwd=$(pwd) env=$ONLY_THIS"; ls /proc/self/fd | sort -n | tr "\\n" " "'
        pid, out_fd, err_fd, progress_fd = waiting.go(
            ["/bin/sh", "-c", script], str(tmp_path), {"ONLY_THIS": "go", "PATH": "/usr/bin:/bin"}, str(stdin_file)
        )
        assert pid == waiting.pid
        out = _read_all(out_fd).decode()
        _read_all(err_fd)
        _, status = os.waitpid(pid, 0)
        os.close(progress_fd)
    finally:
        for fd in (before_r, before_w, after_r, after_w):
            if fd >= 0:
                os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    lines = out.splitlines()
    assert lines[:2] == ['{"n": 2}', f"cwd={tmp_path} env=go"]
    assert [int(fd) for fd in lines[2].split()] == [0, 1, 2, 3, 4]


def test_a_prestarted_process_lost_before_its_go_is_reported_and_leaves_nothing_open(tmp_path: Path) -> None:
    stdin_file = tmp_path / "input.json"
    stdin_file.write_text("{}")
    before = set(os.listdir("/proc/self/fd"))
    waiting = launcher.prestart(python=False)
    os.kill(waiting.pid, signal.SIGKILL)
    os.waitid(os.P_PID, waiting.pid, os.WEXITED | os.WNOWAIT)  # dead while waiting, not yet reaped
    with pytest.raises(launcher.PrestartLost):
        waiting.go(["true"], str(tmp_path), {"PATH": "/usr/bin:/bin"}, str(stdin_file))
    with pytest.raises(ChildProcessError):
        os.waitpid(waiting.pid, os.WNOHANG)  # reaped
    assert set(os.listdir("/proc/self/fd")) == before
    waiting = launcher.prestart(python=False)  # a failure after the go is the program's, reported as before
    with pytest.raises(FileNotFoundError):
        waiting.go(["true"], str(tmp_path / "no-such-dir"), {"PATH": "/usr/bin:/bin"}, str(stdin_file))
    assert set(os.listdir("/proc/self/fd")) == before


def test_the_launcher_starts_without_heavy_imports() -> None:
    # What the container runs (python3 -I -S, then import launcher): each module kept out here is CPU
    # that every single plugin run would pay for.
    directory = Path(launcher.__file__).parent
    code = f"import sys; sys.path.insert(0, {str(directory)!r}); import launcher; print(' '.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-I", "-S", "-c", code], check=True, capture_output=True,
                                text=True).stdout.split())
    assert "launcher" in loaded
    assert not loaded & {"json", "json.decoder", "re", "enum", "subprocess", "contextlib", "collections", "signal"}


# ------------------------------------------------------------------------- fork mode = python3 main.py
# The same plugin file, run as a fresh `python3 main.py` and by a fork of a launcher-like interpreter
# (started `-I -S`, the launcher imported, then spawn(..., main=...)), must behave the same. Both run in
# subprocesses on the host: a forked child ends by unwinding to the top of its interpreter, which must
# not be this pytest process.

FORK_RUNNER = """
import os, sys, time  # not json: the launcher itself never imports it (PRELOADED is the child's)
sys.path.insert(0, {directory!r})
import launcher
waiting = launcher.prestart()  # as the launcher does while its container waits in the pool
time.sleep(0.05)
pid, out_fd, err_fd, progress_fd = waiting.go([sys.executable, {main!r}], {cwd!r}, {env!r}, {stdin!r}, {main!r})
def drain(fd):
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
out, err = drain(out_fd), drain(err_fd)
_, status = os.waitpid(pid, 0)
import json
print(json.dumps([os.waitstatus_to_exitcode(status), out, err]))
"""

INTROSPECT = r"""
import json, os, signal, site, sys
print(json.dumps({
    "user_site": site.getusersitepackages(), "user_base": site.getuserbase(),
    "name": __name__, "file": __file__, "argv": sys.argv, "path": sys.path, "cwd": os.getcwd(),
    "env": dict(os.environ), "stdin": sys.stdin.read(), "seekable": sys.stdin.seekable(),
    "stdin_name": sys.stdin.name, "stdout_name": sys.stdout.name,
    "codecs": [(s.encoding, s.errors, s.line_buffering) for s in (sys.stdin, sys.stdout, sys.stderr)],
    "dunder_streams": [sys.__stdin__ is sys.stdin, sys.__stdout__ is sys.stdout],
    "bytecode": sys.dont_write_bytecode, "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
    "main_module": sys.modules["__main__"].__dict__ is globals(), "spec": __spec__, "package": __package__,
    "builtins": getattr(__builtins__, "__name__", None), "exit_helper": "exit" in dir(__builtins__),
    "annotations_future": hasattr(sys.modules["__main__"], "__annotations__") and bool(__annotations__),
}, sort_keys=True))
x: int = 1
"""

SCENARIOS = {
    "introspection": INTROSPECT,
    "exit code": "import sys\nprint('before')\nsys.exit(3)\n",
    "exit message": "import sys\nsys.exit('bye now')\n",
    "uncaught exception": "def inner():\n    raise ValueError('boom')\n\nprint('partial output')\ninner()\n",
    "syntax error": "print('never'\n",
    "atexit, threads, unflushed files": (
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "def late():\n    time.sleep(0.2)\n    print('thread finished')\n"
        "threading.Thread(target=late).start()\n"
        "leftover = open('unclosed.txt', 'w')\nleftover.write('flushed at exit')\n"
        "print('main done', end='')\n"
    ),
}


def _run_both(tmp_path: Path, code: str, files: dict[str, str] | None = None) -> tuple[list, list]:
    """``files``: more files, by path relative to the run's directory (``plugin/…`` beside main.py,
    ``deps/…`` in a directory on PYTHONPATH, as a dependency layer)."""
    results = []
    for mode in ("fresh", "fork"):
        work = tmp_path / mode
        plugin = work / "plugin"
        plugin.mkdir(parents=True)
        main = plugin / "main.py"
        main.write_text(code.replace("{mode}", mode))
        for relative, text in (files or {}).items():
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            (work / relative).write_text(text)
        stdin = work / "input.json"
        stdin.write_text('{"n": 1}')
        env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
               "ARGUS_PLUGIN": "acme.probe"}
        if (work / "deps").exists():
            env["PYTHONPATH"] = str(work / "deps")
        if mode == "fresh":
            with stdin.open("rb") as stdin_file:
                done = subprocess.run([sys.executable, str(main)], cwd=plugin, env=env, stdin=stdin_file,
                                      capture_output=True, text=True, timeout=60)
            result = [done.returncode, done.stdout, done.stderr]
        else:
            runner = FORK_RUNNER.format(directory=str(Path(launcher.__file__).parent), main=str(main),
                                        cwd=str(plugin), env=env, stdin=str(stdin))
            done = subprocess.run([sys.executable, "-I", "-S", "-c", runner], capture_output=True, text=True,
                                  timeout=60, env={"LANG": "C.UTF-8"})
            assert done.returncode == 0, done.stderr
            result = json.loads(done.stdout)
        leftover = plugin / "unclosed.txt"
        result.append(leftover.read_text() if leftover.exists() else None)
        results.append(result)
    return results[0], results[1]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fork_mode_runs_a_plugin_as_python3_main_py_would(tmp_path: Path, scenario: str) -> None:
    fresh, forked = _run_both(tmp_path, SCENARIOS[scenario])

    def same_paths(result: list) -> list:  # each ran in its own directory
        return [str(part).replace(str(tmp_path / "fresh"), "<dir>").replace(str(tmp_path / "fork"), "<dir>")
                for part in result]

    assert same_paths(forked) == same_paths(fresh)
    if scenario == "introspection":
        seen = json.loads(forked[1])
        assert seen["name"] == "__main__" and seen["path"][0].endswith("/plugin") and seen["seekable"]
        assert seen["env"]["ARGUS_PLUGIN"] == "acme.probe" and seen["stdin"] == '{"n": 1}'
    if scenario == "uncaught exception":
        assert "launcher" not in forked[2] and "ValueError: boom" in forked[2] and forked[0] == 1
    if scenario.startswith("atexit"):
        assert forked[1:] == ["main donethread finished\natexit ran\n", "", "flushed at exit"]


PRELOAD_PROBE = """
import sys
print("json" in sys.modules, end=" ")
import json
print(json.__file__.rsplit("/", 2)[-2:], json.loads('[1]'), end=" ")
import re
print(re.__file__.rsplit("/", 1)[-1])
"""
OWN_JSON = "import re\n\ndef loads(text):\n    return ['own', text]\n"


@pytest.mark.parametrize("where", ["plugin", "deps"])
def test_a_plugin_s_own_json_module_wins_over_the_preloaded_one_as_in_a_fresh_start(
    tmp_path: Path, where: str
) -> None:
    fresh, forked = _run_both(tmp_path, PRELOAD_PROBE, files={f"{where}/json.py": OWN_JSON})
    assert forked == fresh
    assert fresh[1].startswith("False [") and "['own', '[1]']" in fresh[1], fresh


def test_a_plugin_without_its_own_json_gets_the_preloaded_standard_one(tmp_path: Path) -> None:
    fresh, forked = _run_both(tmp_path, PRELOAD_PROBE)
    # The only difference a plugin can see: json (and what it imports) is already in sys.modules.
    assert fresh[1].startswith("False ") and forked[1].startswith("True ")
    assert forked[1].split(" ", 1)[1] == fresh[1].split(" ", 1)[1]  # the same standard modules, same answers
    assert forked[0] == fresh[0] == 0
