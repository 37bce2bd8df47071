"""Worker side of the launcher protocol: job header encoding and a strict result-frame parser.

Everything that comes out of a container is untrusted. The parser is incremental, checks every
length against the caps of the job before buffering, and raises MalformedFrame on anything
unexpected; the caller turns that into a SANDBOX_ERROR with the reason. Update frames (what the plugin
printed and reported while running) may come between the acknowledgement and the result frame; their
bytes accumulate in ``LiveOutput``, within the same caps.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from . import launcher as _launcher
from .container import is_gvisor
from .spec import Artifact, SandboxJob

JOB_MAGIC = _launcher.JOB_MAGIC
ACK_MAGIC = _launcher.ACK_MAGIC
RESULT_MAGIC = _launcher.RESULT_MAGIC
RESULT_END = _launcher.RESULT_END
UPDATE_MAGIC = _launcher.UPDATE_MAGIC
MAX_UPDATE_HEADER = _launcher.MAX_UPDATE_HEADER
PROTOCOL_VERSION = _launcher.PROTOCOL_VERSION
_LENGTH = _launcher.LENGTH
_PREFIX = len(RESULT_MAGIC) + _LENGTH.size
MAX_RESULT_HEADER = _launcher.MAX_RESULT_HEADER
MAX_ARTIFACT_NAME = _launcher.ARTIFACT_NAME_MAX

# Docker's multiplexed attach stream (non-TTY): u8 stream, 3 zero bytes, u32 big-endian size.
_MUX = struct.Struct(">BxxxI")
STREAM_STDOUT = 1
STREAM_STDERR = 2


class MalformedFrame(Exception):
    """The container's result stream is not a valid frame (launcher died, or hostile bytes)."""


def encode_job(job: SandboxJob) -> bytes:
    limits = job.limits
    script = f"{_launcher.PLUGIN_DIR}/{job.entrypoint}"
    header = {
        "v": PROTOCOL_VERSION,
        "argv": [*job.interpreter, script],
        "main": script if job.launch == "fork" else None,
        "cwd": _launcher.PLUGIN_DIR,
        "env": job.plugin_env(),
        "timeout": float(limits.timeout_seconds),
        "stdout_max": limits.stdout_max_bytes,
        "stderr_max": limits.stderr_max_bytes,
        "output_max": limits.output_max_bytes,
        "artifacts": bool(job.artifacts_enabled),
        "artifacts_max_count": limits.artifacts_max_count,
        "artifacts_max_bytes": limits.artifacts_max_bytes,
        "update_interval": float(job.update_interval_seconds),
        # gVisor only: the launcher says when the plugin's processes reach its limit (see LiveOutput).
        "process_watch": limits.pids if is_gvisor(job.runtime) else 0,
    }
    body = json.dumps(header, separators=(",", ":")).encode()
    return JOB_MAGIC + _LENGTH.pack(len(body)) + body


@dataclass(frozen=True)
class FrameCaps:
    stdout: int
    stderr: int
    output: int
    artifacts_enabled: bool
    artifacts_count: int
    artifacts_bytes: int

    @classmethod
    def for_job(cls, job: SandboxJob) -> FrameCaps:
        lim = job.limits
        return cls(
            stdout=lim.stdout_max_bytes,
            stderr=lim.stderr_max_bytes,
            output=lim.output_max_bytes,
            artifacts_enabled=job.artifacts_enabled,
            artifacts_count=lim.artifacts_max_count,
            artifacts_bytes=lim.artifacts_max_bytes,
        )

    @property
    def max_frame(self) -> int:
        blobs = self.stdout + self.stderr + self.output
        if self.artifacts_enabled:
            blobs += self.artifacts_bytes
        return len(ACK_MAGIC) + _PREFIX + MAX_RESULT_HEADER + blobs + len(RESULT_END)

    @property
    def max_updates(self) -> int:
        """Bytes the update frames may bring on top of the result frame: their stdout and stderr (within
        the caps); their headers are counted by the attach stream's overall allowance."""
        return self.stdout + self.stderr


@dataclass
class Progress:
    fraction: float
    message: str


@dataclass
class LiveOutput:
    """What the plugin printed and reported so far, from the update frames (within the caps)."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    progress: Progress | None = None
    #: Bumped by every update frame: the worker publishes when it changed.
    version: int = 0
    #: The plugin's processes reached its limit (gVisor only): if the sandbox dies after that, a fork bomb
    #: made gVisor's kernel exhaust the container's host threads, and the plugin is to blame.
    at_process_limit: bool = False


@dataclass
class ParsedResult:
    header: dict[str, Any]
    stdout: bytes
    stderr: bytes
    output: bytes | None
    artifacts: list[Artifact]
    progress: Progress | None = None


class ResultFrameParser:
    """Incremental parser of the launcher's stdout: ACK_MAGIC, then one result frame."""

    def __init__(self, caps: FrameCaps) -> None:
        self.caps = caps
        self.acked = False
        self._buf = bytearray()
        self._header: dict[str, Any] | None = None
        self._header_end = 0
        self._frame_end = 0
        self._update: dict[str, Any] | None = None
        self._update_end = 0
        self.live = LiveOutput()
        self.result: ParsedResult | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def feed(self, data: bytes) -> None:
        if self.result is not None:
            if data:
                raise MalformedFrame("unexpected bytes after the result frame")
            return
        self._buf += data
        if not self.acked:
            if not ACK_MAGIC.startswith(bytes(self._buf[: len(ACK_MAGIC)])):
                raise MalformedFrame("the launcher did not acknowledge the job")
            if len(self._buf) < len(ACK_MAGIC):
                return
            del self._buf[: len(ACK_MAGIC)]
            self.acked = True
        while self._header is None and self._try_update():
            pass
        if self._header is None and self._update is None and not self._buf.startswith(UPDATE_MAGIC):
            self._try_header()
        if self._header is not None and len(self._buf) >= self._frame_end:
            if len(self._buf) > self._frame_end:
                raise MalformedFrame("unexpected bytes after the result frame")
            if bytes(self._buf[self._frame_end - len(RESULT_END) :]) != RESULT_END:
                raise MalformedFrame("result frame end marker missing")
            self.result = self._split()
            self._buf = bytearray()

    def _try_update(self) -> bool:
        """Consume one complete update frame at the front of the buffer; False when there is none (yet)."""
        if self._update is None:
            if len(self._buf) < _PREFIX:
                return False
            if bytes(self._buf[: len(UPDATE_MAGIC)]) != UPDATE_MAGIC:
                return False  # a result frame (checked by _try_header)
            (size,) = _LENGTH.unpack_from(self._buf, len(UPDATE_MAGIC))
            if size > MAX_UPDATE_HEADER:
                raise MalformedFrame(f"update header of {size} bytes is over the limit")
            if len(self._buf) < _PREFIX + size:
                return False
            try:
                header = json.loads(bytes(self._buf[_PREFIX : _PREFIX + size]))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise MalformedFrame(f"update header is not JSON: {exc}") from None
            self._check_update(header)
            self._update = header
            self._update_end = _PREFIX + size + header["stdout"] + header["stderr"]
        if len(self._buf) < self._update_end:
            return False
        header = self._update
        start = self._update_end - header["stdout"] - header["stderr"]
        self.live.stdout += self._buf[start : start + header["stdout"]]
        self.live.stderr += self._buf[start + header["stdout"] : self._update_end]
        if "progress" in header:
            self.live.progress = _progress(header["progress"])
        if header.get("at_process_limit"):
            self.live.at_process_limit = True
        self.live.version += 1
        del self._buf[: self._update_end]
        self._update = None
        return True

    def _check_update(self, header: Any) -> None:
        if (
            not isinstance(header, dict)
            or not set(header) <= {"stdout", "stderr", "progress", "at_process_limit"}
            or header.get("at_process_limit", True) is not True
        ):
            raise MalformedFrame("update header has the wrong shape")
        for stream, cap, kept in (
            ("stdout", self.caps.stdout, self.live.stdout),
            ("stderr", self.caps.stderr, self.live.stderr),
        ):
            size = header.get(stream)
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or len(kept) + size > cap:
                raise MalformedFrame(f"update {stream} size is missing or over its cap")
        if "progress" in header:
            _progress(header["progress"])

    def _try_header(self) -> None:
        if len(self._buf) < _PREFIX:
            head = bytes(self._buf[: len(RESULT_MAGIC)])
            if not (RESULT_MAGIC.startswith(head) or UPDATE_MAGIC.startswith(head)):
                raise MalformedFrame("result stream does not start with the frame magic")
            return
        if bytes(self._buf[: len(RESULT_MAGIC)]) != RESULT_MAGIC:
            raise MalformedFrame("result stream does not start with the frame magic")
        (size,) = _LENGTH.unpack_from(self._buf, len(RESULT_MAGIC))
        if size > MAX_RESULT_HEADER:
            raise MalformedFrame(f"result header of {size} bytes is over the limit")
        if len(self._buf) < _PREFIX + size:
            return
        try:
            header = json.loads(bytes(self._buf[_PREFIX : _PREFIX + size]))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedFrame(f"result header is not JSON: {exc}") from None
        blob_total = self._check_header(header)
        self._header = header
        self._header_end = _PREFIX + size
        self._frame_end = self._header_end + blob_total + len(RESULT_END)

    def _check_header(self, header: Any) -> int:
        if not isinstance(header, dict) or header.get("v") != PROTOCOL_VERSION:
            raise MalformedFrame("result header has the wrong shape or version")
        _expect(header, "spawn_error", (str, type(None)))
        _expect(header, "exit_code", (int, type(None)))
        _expect(header, "signal", (int, type(None)))
        _expect(header, "timed_out", bool)
        _expect(header, "oom_killed", bool)
        _expect(header, "stdout_total", int)
        _expect(header, "stderr_total", int)
        output = _expect(header, "output", dict)
        _expect(output, "present", bool)
        _expect(output, "truncated", bool)
        _expect(output, "error", (str, type(None)))
        errors = _expect(header, "artifact_errors", list)
        if not all(isinstance(e, str) for e in errors) or len(errors) > 10_000:
            raise MalformedFrame("artifact_errors must be a list of strings")
        timings = _expect(header, "timings", dict)
        if not all(isinstance(v, int | float) for v in timings.values()):
            raise MalformedFrame("timings must be numbers")
        if header.get("progress") is not None:
            _progress(header["progress"])
        blobs = _expect(header, "blobs", list)
        kinds = [b.get("kind") if isinstance(b, dict) else None for b in blobs]
        if kinds[:2] != ["stdout", "stderr"]:
            raise MalformedFrame("blobs must start with stdout and stderr")
        total = 0
        artifact_bytes = 0
        artifact_names: set[str] = set()
        for index, blob in enumerate(blobs):
            size = blob.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise MalformedFrame("blob size must be a non-negative integer")
            kind = blob["kind"]
            if kind == "stdout" and index == 0:
                cap = self.caps.stdout
            elif kind == "stderr" and index == 1:
                cap = self.caps.stderr
            elif kind == "output" and index == 2:
                cap = self.caps.output
            elif kind == "artifact" and self.caps.artifacts_enabled:
                name = blob.get("name")
                if not isinstance(name, str) or name.casefold() in artifact_names:
                    raise MalformedFrame("artifact name missing or duplicated")
                # The launcher refuses such names itself (the plugin's error): one here is a protocol fault.
                if _launcher.artifact_name_problem(name) is not None:
                    shown = _launcher.display_name(name)
                    raise MalformedFrame(f"artifact name {shown} breaks the name rules")
                artifact_names.add(name.casefold())
                if len(artifact_names) > self.caps.artifacts_count:
                    raise MalformedFrame("more artifacts than allowed")
                artifact_bytes += size
                cap = self.caps.artifacts_bytes - (artifact_bytes - size)
            else:
                raise MalformedFrame(f"unexpected blob {kind!r} at position {index}")
            if size > cap:
                raise MalformedFrame(f"{kind} blob of {size} bytes exceeds its cap")
            total += size
        return total

    def _split(self) -> ParsedResult:
        assert self._header is not None
        view = memoryview(self._buf)
        offset = self._header_end
        stdout = stderr = b""
        output: bytes | None = None
        artifacts: list[Artifact] = []
        for blob in self._header["blobs"]:
            data = bytes(view[offset : offset + blob["size"]])
            offset += blob["size"]
            kind = blob["kind"]
            if kind == "stdout":
                stdout = data
            elif kind == "stderr":
                stderr = data
            elif kind == "output":
                output = data
            else:
                artifacts.append(Artifact(blob["name"], data, hashlib.sha256(data).hexdigest()))
        view.release()
        progress = self._header.get("progress")
        return ParsedResult(
            self._header, stdout, stderr, output, artifacts, _progress(progress) if progress else None
        )


def _progress(value: Any) -> Progress:
    """A progress report from a frame, checked (the launcher validated it; the frame is still untrusted)."""
    if not isinstance(value, dict) or set(value) != {"fraction", "message"}:
        raise MalformedFrame("progress has the wrong shape")
    fraction, message = value["fraction"], value["message"]
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 <= fraction <= 1:
        raise MalformedFrame("progress fraction must be a number from 0 to 1")
    if not isinstance(message, str) or len(message) > _launcher.PROGRESS_MESSAGE_MAX:
        raise MalformedFrame("progress message must be a short string")
    return Progress(float(fraction), message)


def _expect(obj: dict[str, Any], key: str, types: type | tuple[type, ...]) -> Any:
    value = obj.get(key)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise MalformedFrame(f"result header field {key!r} is missing or has the wrong type")
    return value


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


class AttachDemuxer:
    """Splits Docker's multiplexed attach stream: stdout feeds the frame parser, stderr (the
    launcher's own diagnostics) is kept up to a small cap, and the total is hard-capped."""

    def __init__(self, parser: ResultFrameParser, *, stderr_cap: int = 64 * 1024) -> None:
        self.parser = parser
        self.stderr = bytearray()
        self.stderr_cap = stderr_cap
        self.max_total = parser.caps.max_frame + parser.caps.max_updates + 16 * 1024 * 1024
        self.total = 0
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.max_total:
            raise MalformedFrame(f"container sent more than {self.max_total} bytes")
        self._buf += data
        while len(self._buf) >= _MUX.size:
            stream, size = _MUX.unpack_from(self._buf)
            if stream not in (STREAM_STDOUT, STREAM_STDERR):
                raise MalformedFrame(f"unexpected attach stream id {stream}")
            if len(self._buf) < _MUX.size + size:
                return
            payload = bytes(self._buf[_MUX.size : _MUX.size + size])
            del self._buf[: _MUX.size + size]
            if stream == STREAM_STDOUT:
                self.parser.feed(payload)
            else:
                room = self.stderr_cap - len(self.stderr)
                if room > 0:
                    self.stderr += payload[:room]
