"""The launcher protocol without Docker: job header round trip, strict result-frame parsing, the
attach-stream demultiplexer, and the launcher's output/artifact collection on a scratch dir."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import pytest

from execution.sandbox import InvalidJob, SandboxJob, SandboxLimits, launcher
from execution.sandbox.protocol import (
    ACK_MAGIC,
    RESULT_END,
    RESULT_MAGIC,
    AttachDemuxer,
    FrameCaps,
    MalformedFrame,
    ResultFrameParser,
    encode_job,
)
from execution.sandbox.spec import safe_relative_path

CAPS = FrameCaps(
    stdout=100, stderr=100, output=100, artifacts_enabled=True, artifacts_count=2, artifacts_bytes=50
)


def header(**overrides: object) -> dict:
    base = {
        "v": 1,
        "spawn_error": None,
        "exit_code": 0,
        "signal": None,
        "timed_out": False,
        "oom_killed": False,
        "stdout_total": 3,
        "stderr_total": 0,
        "output": {"present": True, "size": 2, "truncated": False, "error": None},
        "artifact_errors": [],
        "blobs": [
            {"kind": "stdout", "size": 3},
            {"kind": "stderr", "size": 0},
            {"kind": "output", "size": 2},
        ],
        "timings": {"plugin_run": 0.1},
    }
    base.update(overrides)
    return base


def frame(head: dict, body: bytes, *, ack: bytes = ACK_MAGIC, end: bytes = RESULT_END) -> bytes:
    raw = json.dumps(head).encode()
    return ack + RESULT_MAGIC + struct.pack(">I", len(raw)) + raw + body + end


def parse(data: bytes, caps: FrameCaps = CAPS, step: int | None = None) -> ResultFrameParser:
    parser = ResultFrameParser(caps)
    step = step or len(data)
    for i in range(0, len(data), step):
        parser.feed(data[i : i + step])
    return parser


def test_valid_frame_parses_even_byte_by_byte() -> None:
    parser = parse(frame(header(), b"out{}"), step=1)
    assert parser.done and parser.acked
    assert parser.result.stdout == b"out" and parser.result.stderr == b"" and parser.result.output == b"{}"


def test_launcher_writer_and_worker_parser_agree(tmp_path: Path) -> None:
    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"artifact!")
    fd = os.open(artifact, os.O_RDONLY)
    head = header(
        blobs=[
            {"kind": "stdout", "size": 3},
            {"kind": "stderr", "size": 2},
            {"kind": "artifact", "name": "dir/a.bin", "size": 9},
        ],
        output={"present": False, "size": 0, "truncated": False, "error": None},
    )
    out = tmp_path / "stream"
    with open(out, "wb") as fh:
        fh.write(ACK_MAGIC)
        fh.flush()
        launcher.write_frame(head, [b"out", b"er", (fd, 9)], out_fd=fh.fileno())
    os.close(fd)
    result = parse(out.read_bytes(), step=7).result
    assert result.stdout == b"out" and result.stderr == b"er" and result.output is None
    assert [(a.name, a.data, a.sha256) for a in result.artifacts] == [
        ("dir/a.bin", b"artifact!", hashlib.sha256(b"artifact!").hexdigest())
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (frame(header(), b"out{}", ack=b"ARGUSNAK"), "acknowledge"),
        (ACK_MAGIC + b"NOTMAGIC" + b"\0" * 10, "magic"),
        (ACK_MAGIC + RESULT_MAGIC + struct.pack(">I", (1 << 20) + 1), "over the limit"),
        (ACK_MAGIC + RESULT_MAGIC + struct.pack(">I", 3) + b"{x}", "not JSON"),
        (frame(header(v=2), b"out{}"), "version"),
        (frame(header(exit_code="0"), b"out{}"), "exit_code"),
        (frame(header(timed_out=1), b"out{}"), "timed_out"),
        (frame(header(stdout_total=True), b"out{}"), "stdout_total"),
        (frame(header(blobs=[{"kind": "stderr", "size": 0}]), b""), "start with stdout"),
        (
            frame(header(blobs=[{"kind": "stdout", "size": 101}, {"kind": "stderr", "size": 0}]), b"x" * 101),
            "cap",
        ),
        (
            frame(header(blobs=[{"kind": "stdout", "size": -1}, {"kind": "stderr", "size": 0}]), b""),
            "non-negative",
        ),
        (frame(header(), b"out{}", end=b"ARGUSEN!"), "end marker"),
        (frame(header(), b"out{}") + b"extra", "after the result frame"),
    ],
)
def test_malformed_frames_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        parse(data)


def _artifact_frame(*artifacts: tuple[str, int]) -> bytes:
    blobs = [{"kind": "stdout", "size": 0}, {"kind": "stderr", "size": 0}]
    blobs += [{"kind": "artifact", "name": name, "size": size} for name, size in artifacts]
    return frame(header(blobs=blobs), b"x" * sum(size for _, size in artifacts))


@pytest.mark.parametrize(
    ("artifacts", "reason"),
    [
        ([("../escape", 1)], "breaks the name rules"),
        ([("/abs", 1)], "breaks the name rules"),
        ([("a", 1), ("a", 1)], "duplicated"),
        ([("a", 1), ("b", 1), ("c", 1)], "more artifacts"),
        ([("a", 30), ("b", 30)], "exceeds its cap"),
    ],
)
def test_artifact_blobs_are_checked_against_names_and_caps(artifacts: list, reason: str) -> None:
    with pytest.raises(MalformedFrame, match=reason):
        parse(_artifact_frame(*artifacts))


def test_artifacts_are_refused_when_not_enabled() -> None:
    caps = FrameCaps(
        stdout=100, stderr=100, output=100, artifacts_enabled=False, artifacts_count=2, artifacts_bytes=50
    )
    with pytest.raises(MalformedFrame, match="unexpected blob"):
        parse(_artifact_frame(("a", 1)), caps)


def _mux(stream: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(payload)) + payload


def test_demuxer_routes_streams_and_caps_launcher_stderr() -> None:
    parser = ResultFrameParser(CAPS)
    demux = AttachDemuxer(parser, stderr_cap=4)
    data = frame(header(), b"out{}")
    stream = _mux(2, b"launcher noise") + _mux(1, data[:5]) + _mux(1, data[5:])
    for i in range(0, len(stream), 3):
        demux.feed(stream[i : i + 3])
    assert parser.done and bytes(demux.stderr) == b"laun"


def test_demuxer_rejects_unknown_streams_and_floods() -> None:
    with pytest.raises(MalformedFrame, match="stream id"):
        AttachDemuxer(ResultFrameParser(CAPS)).feed(_mux(7, b"x"))
    demux = AttachDemuxer(ResultFrameParser(CAPS))
    with pytest.raises(MalformedFrame, match="more than"):
        demux.feed(_mux(2, b"x" * (demux.max_total + 1)))


def test_job_header_round_trips_through_the_launcher_reader() -> None:
    job = SandboxJob(
        execution_id="exec-1",
        image="img",
        entrypoint="pkg/main.py",
        bundle=[],
        env={"EXTRA": "1"},
        plugin_name="acme.x",
        plugin_version="2.0.0",
        limits=SandboxLimits(timeout_seconds=5, stdout_max_bytes=10),
        artifacts_enabled=True,
    )
    read_fd, write_fd = os.pipe()
    os.write(write_fd, encode_job(job))
    os.close(write_fd)
    decoded = launcher.read_job(read_fd)
    os.close(read_fd)
    assert decoded["argv"] == ["python3", "/argus/plugin/pkg/main.py"]
    assert decoded["timeout"] == 5.0 and decoded["stdout_max"] == 10 and decoded["artifacts"] is True
    assert decoded["env"]["ARGUS_EXECUTION_ID"] == "exec-1" and decoded["env"]["EXTRA"] == "1"


def test_the_process_limit_flag_travels_in_an_update_frame_whatever_the_interval() -> None:
    """Under gVisor the launcher says at once when the plugin's processes reach their limit (see runner:
    a sandbox that dies after that is the plugin's fault); the worker's parser keeps the flag."""
    stdout, stderr = launcher._Capture(100), launcher._Capture(100)
    stdout.feed(b"forking")
    updates = launcher._Updates(0, 0.0, stdout, stderr)  # no live updates asked for
    read_fd, write_fd = os.pipe()
    updates.maybe_send(1.0, launcher._Progress(-1), write_fd)  # nothing: no interval
    updates.send(1.0, launcher._Progress(-1), write_fd, at_process_limit=True)
    os.close(write_fd)
    data = os.read(read_fd, 4096)
    os.close(read_fd)
    parser = parse(ACK_MAGIC + data)
    assert parser.live.at_process_limit and parser.live.stdout == b"forking" and not parser.done
    bad = json.dumps({"stdout": 0, "stderr": 0, "at_process_limit": 1}).encode()
    with pytest.raises(MalformedFrame, match="wrong shape"):
        parse(ACK_MAGIC + launcher.UPDATE_MAGIC + struct.pack(">I", len(bad)) + bad)


def test_the_job_asks_for_the_process_watch_under_gvisor_only() -> None:
    def job(runtime: str | None) -> dict:
        spec = SandboxJob(
            execution_id="exec-1", image="img", entrypoint="main.py", bundle=[], runtime=runtime,
            limits=SandboxLimits(pids=32),
        )
        read_fd, write_fd = os.pipe()
        os.write(write_fd, encode_job(spec))
        os.close(write_fd)
        try:
            return launcher.read_job(read_fd)
        finally:
            os.close(read_fd)

    assert job("runsc")["process_watch"] == 32
    assert job(None)["process_watch"] == 0 and job("runc")["process_watch"] == 0


def test_launcher_reader_returns_none_when_the_worker_goes_away() -> None:
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    assert launcher.read_job(read_fd) is None
    os.close(read_fd)


@pytest.mark.parametrize("value", ["", ".", "..", "a/../b", "/etc", "x\0y"])
def test_unsafe_relative_paths(value: str) -> None:
    with pytest.raises(InvalidJob):
        safe_relative_path(value, what="test")


def test_plugin_environment_is_built_from_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGUS_FAKE_SECRET", "leak")
    job = SandboxJob(execution_id="e", image="i", entrypoint="m.py", bundle=[], env={"ARGUS_PLUGIN": "spoof"})
    env = job.plugin_env()
    assert "ARGUS_FAKE_SECRET" not in env and env["ARGUS_PLUGIN"] == ""  # the caller's fields win
    with pytest.raises(InvalidJob):
        SandboxJob(execution_id="e", image="i", entrypoint="m.py", bundle=[], env={"A": "x\0"}).plugin_env()


# -- the launcher's collection code, run on the host against a scratch directory ---------------


@pytest.fixture
def argus_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    output, artifacts = tmp_path / "output", tmp_path / "artifacts"
    output.mkdir()
    artifacts.mkdir()
    monkeypatch.setattr(launcher, "OUTPUT_PATH", str(output / "output.json"))
    monkeypatch.setattr(launcher, "ARTIFACTS_DIR", str(artifacts))
    return output, artifacts


def test_collect_output_refuses_symlinks_and_oversize(argus_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    output, _ = argus_dirs
    secret = tmp_path / "secret"
    secret.write_text("secret")
    (output / "output.json").symlink_to(secret)
    info, data = launcher.collect_output(100)
    assert data is None and info["error"] == "output.json is a symlink; refused"
    (output / "output.json").unlink()
    (output / "output.json").write_bytes(b"x" * 101)
    info, data = launcher.collect_output(100)
    assert data is None and info["truncated"]
    (output / "output.json").write_bytes(b"{}")
    assert launcher.collect_output(100) == (
        {"present": True, "size": 2, "truncated": False, "error": None},
        b"{}",
    )


def test_collect_artifacts_walks_regular_files_only(argus_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    _, artifacts = argus_dirs
    (artifacts / "a.txt").write_bytes(b"a" * 10)
    (artifacts / "sub").mkdir()
    (artifacts / "sub" / "b.txt").write_bytes(b"b" * 10)
    (artifacts / "sub" / "big.txt").write_bytes(b"c" * 100)
    (artifacts / "link").symlink_to(tmp_path)
    os.mkfifo(artifacts / "fifo")
    found, errors = launcher.collect_artifacts(max_count=10, max_bytes=50)
    try:
        assert [(name, size) for name, _fd, size in found] == [("a.txt", 10), ("sub/b.txt", 10)]
    finally:
        for _name, fd, _size in found:
            os.close(fd)
    assert sorted(errors) == [
        "fifo: is not a regular file; refused",
        "link: is a symlink; refused",
        "sub/big.txt: 100 bytes would exceed the artifact size budget; skipped",
    ]


def test_artifact_errors_are_capped(argus_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    _, artifacts = argus_dirs
    for i in range(150):
        (artifacts / f"link{i:03}").symlink_to(tmp_path)
    found, errors = launcher.collect_artifacts(max_count=10, max_bytes=50)
    assert found == [] and len(errors) == launcher.ARTIFACT_MAX_ERRORS + 1
    assert errors[-1] == "... and 50 more"
