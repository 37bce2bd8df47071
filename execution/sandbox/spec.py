"""Plain data: what to run (SandboxJob, SandboxLimits) and what happened (SandboxResult).

No Django here: the caller maps its settings and models onto these objects.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import InvalidJob
from .launcher import PLUGIN_GID, PLUGIN_UID, PROGRESS_FD

MiB = 1 << 20

# UID/GID the plugin runs as inside the container (baked into the runtime image's /etc/passwd); the
# launcher drops to them for the plugin (see launcher.py: it runs as another user itself).
SANDBOX_UID = PLUGIN_UID
SANDBOX_GID = PLUGIN_GID

EVIDENCE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits and output caps of one execution."""

    memory_mb: int = 256
    cpus: float = 1.0
    pids: int = 64
    timeout_seconds: float = 60.0
    tmp_mb: int = 64
    shm_mb: int = 16
    output_tmpfs_mb: int = 16
    artifacts_tmpfs_mb: int = 64
    nofile: int = 256
    stdout_max_bytes: int = MiB
    stderr_max_bytes: int = MiB
    output_max_bytes: int = 8 * MiB
    artifacts_max_count: int = 64
    artifacts_max_bytes: int = 32 * MiB

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise InvalidJob(f"limit {name} must be positive")
        if self.memory_mb < 32:
            raise InvalidJob("memory_mb must be at least 32 (the launcher needs a few MiB)")


@dataclass(frozen=True)
class ContainerSettings:
    """Everything fixed at container creation: the pool key. Per-job caps travel in the job header."""

    image: str
    runtime: str | None = None
    memory_mb: int = 256
    cpus: float = 1.0
    pids: int = 64
    tmp_mb: int = 64
    shm_mb: int = 16
    output_tmpfs_mb: int = 16
    artifacts_tmpfs_mb: int = 64
    nofile: int = 256

    @classmethod
    def for_job(cls, image: str, runtime: str | None, limits: SandboxLimits) -> ContainerSettings:
        return cls(
            image=image,
            runtime=runtime,
            memory_mb=limits.memory_mb,
            cpus=limits.cpus,
            pids=limits.pids,
            tmp_mb=limits.tmp_mb,
            shm_mb=limits.shm_mb,
            output_tmpfs_mb=limits.output_tmpfs_mb,
            artifacts_tmpfs_mb=limits.artifacts_tmpfs_mb,
            nofile=limits.nofile,
        )


LAUNCH_MODES = ("exec", "fork")
BundleFiles = Sequence[tuple[str, bytes]]
#: Writes the bundle into the (empty) directory it is given: e.g. extracting a verified archive
#: straight into the container's slot, with no intermediate copy.
BundleWriter = Callable[[Path], object]


@dataclass
class SandboxJob:
    """One plugin execution.

    ``bundle`` is a directory holding the extracted bundle (regular files and directories only), a
    list of (relative path, content), or a BundleWriter that fills the slot's empty plugin directory.
    ``evidence`` maps evidence ids to host file paths; each appears read-only at
    /argus/evidence/<id>. ``work_dir`` is where the cold path makes its per-container scratch
    directory (the pool uses its own).
    """

    execution_id: str
    image: str
    entrypoint: str
    bundle: Path | BundleFiles | BundleWriter
    input: bytes = b"{}"
    evidence: Mapping[str, str | Path] = field(default_factory=dict)
    #: Writes the version's frozen third-party packages into the (empty) directory it is given, which
    #: the plugin sees read-only at /argus/deps (None: the plugin has no dependencies).
    layer: BundleWriter | None = None
    plugin_name: str = ""
    plugin_version: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    limits: SandboxLimits = field(default_factory=SandboxLimits)
    runtime: str | None = None
    artifacts_enabled: bool = False
    work_dir: Path | None = None
    interpreter: tuple[str, ...] = ("python3",)
    #: "exec": run ``interpreter + [entrypoint]`` as a new program. "fork": the entrypoint is Python,
    #: run as ``__main__`` by a fork of the launcher's own (already started) interpreter, the image's
    #: ``python3``; the same program as ``python3 <entrypoint>`` without a second interpreter start.
    launch: str = "exec"
    #: While the plugin runs, the launcher sends what it printed and reported at most this often (and only
    #: when something changed); 0: only the final result.
    update_interval_seconds: float = 0.0

    def container_settings(self) -> ContainerSettings:
        return ContainerSettings.for_job(self.image, self.runtime, self.limits)

    def plugin_env(self) -> dict[str, str]:
        """The complete environment of the plugin process: nothing from the worker leaks in."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",  # noqa: S108 - the container's private tmpfs, not the host's /tmp
            "TMPDIR": "/tmp",  # noqa: S108
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        for name, value in self.env.items():
            if not ENV_NAME_RE.match(name):
                raise InvalidJob(f"invalid environment variable name {name!r}")
            env[name] = str(value)
        env["ARGUS_EXECUTION_ID"] = self.execution_id
        env["ARGUS_PLUGIN"] = self.plugin_name
        env["ARGUS_PLUGIN_VERSION"] = self.plugin_version
        env["ARGUS_PROGRESS_FD"] = str(PROGRESS_FD)
        for value in env.values():
            if "\0" in value:
                raise InvalidJob("environment values must not contain NUL")
        return env

    def validate(self) -> None:
        safe_relative_path(self.entrypoint, what="entrypoint")
        for evidence_id in self.evidence:
            if not EVIDENCE_ID_RE.match(evidence_id) or evidence_id in {".", ".."}:
                raise InvalidJob(f"invalid evidence id {evidence_id!r}")
        if not self.interpreter:
            raise InvalidJob("interpreter must not be empty")
        if self.launch not in LAUNCH_MODES:
            raise InvalidJob(f"launch must be one of {', '.join(LAUNCH_MODES)}, not {self.launch!r}")
        self.plugin_env()


def safe_relative_path(value: str, *, what: str) -> PurePosixPath:
    """A relative path that cannot climb out of its directory."""
    path = PurePosixPath(value)
    if (
        not value
        or "\0" in value
        or path.is_absolute()
        or any(part in {"..", ""} for part in path.parts)
        or path == PurePosixPath(".")
    ):
        raise InvalidJob(f"unsafe {what} path {value!r}")
    return path


class Outcome(enum.StrEnum):
    COMPLETED = "completed"  # the plugin ran to its end; look at exit_code and output
    TIMED_OUT = "timed_out"
    MEMORY_EXCEEDED = "memory_exceeded"
    CANCELLED = "cancelled"
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed; ``error`` says why
    # gVisor: the sandbox died while the plugin's processes were at their limit (a fork bomb); ``error`` says
    PROCESSES_EXCEEDED = "processes_exceeded"


@dataclass(frozen=True)
class Artifact:
    name: str
    data: bytes
    sha256: str


@dataclass
class SandboxResult:
    outcome: Outcome
    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_total: int = 0
    stderr_total: int = 0
    output: bytes | None = None
    output_truncated: bool = False
    output_error: str | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    artifact_errors: list[str] = field(default_factory=list)
    container_id: str | None = None
    path: str = ""  # "pool" or "cold"
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    #: The plugin's latest progress report as (fraction, message), if it made one.
    progress: tuple[float, str] | None = None
