"""Sandboxed execution of untrusted plugins in single-use, network-less Docker containers.

Import-safe without Django: nothing here reads settings or models; callers pass explicit objects.
See CONTRACT.md for what a plugin sees inside the container.
"""

from .container import connect, local_owner_is_alive, owner_id, sweep_orphans
from .errors import DockerUnavailable, ImageBuildError, InvalidJob, RuntimeImageMissing, SandboxError
from .pool import ContainerPool
from .runner import acquire, release, run_job
from .spec import Artifact, ContainerSettings, Outcome, SandboxJob, SandboxLimits, SandboxResult

__all__ = [
    "Artifact",
    "ContainerPool",
    "ContainerSettings",
    "DockerUnavailable",
    "ImageBuildError",
    "InvalidJob",
    "Outcome",
    "RuntimeImageMissing",
    "SandboxError",
    "SandboxJob",
    "SandboxLimits",
    "SandboxResult",
    "acquire",
    "connect",
    "local_owner_is_alive",
    "owner_id",
    "release",
    "run_job",
    "sweep_orphans",
]
