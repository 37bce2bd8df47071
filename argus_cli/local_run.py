"""`argus-plugin run`: a plugin folder run locally the way the platform runs it.

Same runtime image, same sandbox package (execution.sandbox: single-use container, no network,
read-only root, dropped capabilities, the manifest's resources bounded like a tenant's defaults) and
the same statuses as a platform run. Only the local Docker engine is needed, no platform.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argus_cli.errors import CliError
from argus_plugins import runtimes
from execution.sandbox import (
    DockerUnavailable,
    InvalidJob,
    Outcome,
    RuntimeImageMissing,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    connect,
    run_job,
)
from execution.sandbox.protocol import LiveOutput
from execution.verdict import Verdict, judge
from registry import ecosystems
from registry.bundles import extract_bundle, inspect_bundle, pack_directory, read_bundle_file
from registry.layers import LayerBuildFailed, extract_layer, sha256_file
from registry.lockfile import MAX_LOCK_FILE_BYTES, LockedRequirement, LockFileInvalid
from registry.manifest import lock_file_of

MiB = 1 << 20
# The platform's default caps (ARGUS_STDOUT_MAX_BYTES, ARGUS_STDERR_MAX_BYTES, ARGUS_OUTPUT_MAX_BYTES).
STDOUT_MAX_BYTES = MiB
STDERR_MAX_BYTES = MiB
OUTPUT_MAX_BYTES = 4 * MiB
ARTIFACTS_WRITE = "artifacts:write"
LIVE_INTERVAL_SECONDS = 0.5  # as the platform publishes a running plugin's output
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")

BUILD_HINT = (
    "build it from a checkout of the platform with `python manage.py build_runtime_images` "
    "(needs debootstrap and root; offline once Debian's packages are cached)"
)


@dataclass
class LocalRun:
    status: str
    reason: str | None
    exit_code: int | None
    stdout: str
    stderr: str
    output: Any = None
    limits: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "errorReason": self.reason,
            "exitCode": self.exit_code,
            "output": self.output,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "limits": self.limits,
            "evidence": self.evidence,
            "artifacts": self.artifacts,
        }


def read_input(value: str) -> bytes:
    """``--input``: a JSON text, or the path of a file holding one. Must be a JSON object."""
    path = Path(value)
    text = (
        path.read_text(encoding="utf-8") if not value.lstrip().startswith("{") and path.is_file() else value
    )
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise CliError(f"--input is neither a JSON object nor a file holding one: {exc}") from None
    if not isinstance(parsed, dict):
        raise CliError("--input must be a JSON object.")
    return json.dumps(parsed).encode()


def check_lock_file(manifest: dict[str, Any], data: bytes) -> list[LockedRequirement] | None:
    """The manifest's lock file parsed as the platform parses it at upload (None when there is none)."""
    lock_file = lock_file_of(manifest)
    if lock_file is None:
        return None
    content = read_bundle_file(data, lock_file, max_bytes=MAX_LOCK_FILE_BYTES)
    if content is None:
        raise CliError(f"the manifest's lock file {lock_file} is not in the plugin folder.")
    table = runtimes.runtime_images()
    ecosystem = table.get(str(manifest.get("runtime")), {}).get("dependencies", ecosystems.PIP)
    try:
        return ecosystems.parse_lock(ecosystem, content)
    except LockFileInvalid as invalid:
        lines = "\n".join(f"  [{p.code.value}] {lock_file}: {p}" for p in invalid.problems)
        raise CliError(f"the lock file is refused:\n{lines}") from None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "argus-plugin" / "layers"


def dependency_layer(ecosystem: str, requirements: list[LockedRequirement], python_version: str) -> Path:
    """The layer the platform would freeze for these requirements, built once and cached by lock hash
    (the cached archive is re-hashed against the digest recorded when it was built): its archive's path."""
    text = ecosystems.normalized_lock(ecosystem, requirements)
    key = hashlib.sha256(f"{ecosystem}\n{python_version}\n{text}".encode()).hexdigest()
    archive, digest = cache_dir() / f"{key}.tar.gz", cache_dir() / f"{key}.sha256"
    if archive.is_file() and digest.is_file() and sha256_file(archive) == digest.read_text().strip():
        return archive
    defaults = ecosystems.Sources()
    sources = ecosystems.Sources(
        pip_index_url=os.environ.get("ARGUS_PACKAGE_INDEX_URL", defaults.pip_index_url),
        npm_registry_url=os.environ.get("ARGUS_NPM_REGISTRY_URL", defaults.npm_registry_url),
        python_version=python_version,
    )
    archive.parent.mkdir(parents=True, exist_ok=True)
    building = archive.with_name(f"{key}.{os.getpid()}.building")
    building.unlink(missing_ok=True)
    try:
        frozen = ecosystems.freeze(ecosystem, requirements, sources, building)
    except LayerBuildFailed as failed:
        building.unlink(missing_ok=True)
        raise CliError(f"dependencies cannot be resolved [{failed.code.value}]: {failed.message}") from None
    os.replace(building, archive)
    digest.write_text(frozen.sha256 + "\n")
    return archive


def evidence_ids(paths: list[Path]) -> dict[str, str]:
    """Each evidence file under a safe id derived from its name (the platform uses the evidence's UUID)."""
    mapping: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise CliError(f"evidence {path} is not a file.")
        base = _UNSAFE_ID.sub("-", path.name).strip(".-")[:100] or "evidence"
        candidate, n = base, 1
        while candidate in mapping:
            n += 1
            candidate = f"{base}-{n}"
        mapping[candidate] = str(path.resolve())
    return mapping


def run_locally(
    directory: Path,
    *,
    input_json: bytes,
    evidence: list[Path],
    extended: bool = False,
    timeout_seconds: float | None = None,
    on_live: Callable[[LiveOutput], None] | None = None,
) -> LocalRun:
    data = pack_directory(directory)
    manifest = inspect_bundle(data).manifest
    table = runtimes.runtime_images(python_launch=os.environ.get("ARGUS_PYTHON_LAUNCH", "fork"))
    runtime = table.get(str(manifest.get("runtime")))
    if runtime is None:
        raise CliError(f"unknown runtime {manifest.get('runtime')!r}; this CLI knows: {', '.join(table)}.")
    limits = runtimes.bounded_limits(manifest["resources"], extended=extended)
    if timeout_seconds is not None:
        limits["timeout_seconds"] = min(limits["timeout_seconds"], timeout_seconds)
    files = evidence_ids(evidence)
    ecosystem = runtime.get("dependencies", ecosystems.PIP)
    requirements = check_lock_file(manifest, data)
    layer = (
        dependency_layer(ecosystem, requirements, runtime.get("python_version", "3.11"))
        if requirements
        else None
    )
    job = SandboxJob(
        execution_id=f"local-{uuid.uuid4()}",
        image=runtime["image"],
        interpreter=tuple(runtime["interpreter"]),
        launch=runtime["launch"],
        entrypoint=manifest["entrypoint"],
        bundle=functools.partial(extract_bundle, data),
        input=input_json,
        evidence=files,
        layer=functools.partial(extract_layer, layer) if layer is not None else None,
        env=ecosystems.SANDBOX_ENV[ecosystem] if layer is not None else {},
        plugin_name=str(manifest["name"]),
        plugin_version=str(manifest["version"]),
        artifacts_enabled=ARTIFACTS_WRITE in manifest.get("capabilities", []),
        work_dir=Path(tempfile.gettempdir()) / "argus-plugin-run",
        update_interval_seconds=LIVE_INTERVAL_SECONDS if on_live is not None else 0.0,
        limits=SandboxLimits(
            memory_mb=int(limits["memory_mb"]),
            cpus=float(limits["cpus"]),
            pids=int(limits["pids"]),
            timeout_seconds=float(limits["timeout_seconds"]),
            stdout_max_bytes=STDOUT_MAX_BYTES,
            stderr_max_bytes=STDERR_MAX_BYTES,
            output_max_bytes=OUTPUT_MAX_BYTES,
        ),
    )
    try:
        client = connect()  # DOCKER_HOST or the local socket, as the docker CLI does
    except DockerUnavailable as exc:
        raise CliError(f"cannot reach the Docker engine: {exc}. Start Docker or set DOCKER_HOST.") from None
    try:
        result = run_job(client, job, on_live=on_live)
    except RuntimeImageMissing:
        raise CliError(
            f"the runtime image {runtime['image']} is not on this Docker engine; {BUILD_HINT}."
        ) from None
    except DockerUnavailable as exc:
        raise CliError(f"the Docker engine failed: {exc}") from None
    except InvalidJob as exc:
        raise CliError(f"the plugin cannot run: {exc}") from None
    finally:
        client.close()
    return _classify(result, limits, files)


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _classify(result: SandboxResult, limits: dict[str, Any], evidence: dict[str, str]) -> LocalRun:
    """The platform's statuses for a sandbox result: the worker's own judgement (execution.verdict)."""
    if result.outcome == Outcome.CANCELLED:
        verdict = Verdict("CANCELLED", "Cancelled.")
    else:
        verdict = judge(
            result,
            timeout_seconds=limits["timeout_seconds"],
            memory_mb=limits["memory_mb"],
            output_max_bytes=OUTPUT_MAX_BYTES,
        )
    return LocalRun(
        status=verdict.status,
        reason=verdict.reason,
        exit_code=result.exit_code,
        stdout=_text(result.stdout),
        stderr=_text(result.stderr),
        output=verdict.output,
        limits=limits,
        evidence=evidence,
        artifacts=[artifact.name for artifact in result.artifacts],
    )
