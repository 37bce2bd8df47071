"""What a plugin runs on, shared by the platform (settings) and the publisher CLI (local runs).

Django-free on purpose: ``argus-plugin run`` must reproduce the platform's runtime images and default
limits without a platform installation, and the settings module builds its values from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Hard ceilings on what any manifest may ask for, whatever the grants.
RESOURCE_MAXIMA: dict[str, Any] = {"memory_mb": 2048, "cpus": 2.0, "timeout_seconds": 900, "pids": 512}
#: What a tenant's executions get at most without the compute:extended capability.
TENANT_DEFAULT_LIMITS: dict[str, Any] = {"memory_mb": 256, "cpus": 1.0, "timeout_seconds": 60, "pids": 64}
RESOURCE_KEYS = ("memory_mb", "cpus", "timeout_seconds", "pids")


def runtime_images(*, python_launch: str = "fork") -> dict[str, dict[str, Any]]:
    """Runtime name (as in manifests) -> the locally built image that runs it (build_runtime_images)."""
    return {
        "python3.11": {
            "image": "argus-runtime-python3.11:5",
            "suite": "bookworm",
            "packages": ["python3"],
            "interpreter": ["python3"],
            # Tag 2: the launcher streams live output and progress (a protocol break with tag 1's workers).
            # Tag 3: the container starts as root and the launcher drops to its own user, the plugin to
            # another (tag 2's launcher would run the plugin as root in such a container: never mix them).
            # Tag 4: the launcher starts the plugin's process while the container waits in the pool. Not a
            # protocol break, but hosts running both revisions (a rolling upgrade) must not keep rebuilding
            # one tag for each other's launcher.
            # Third-party wheels in a version's dependency layer must fit this interpreter.
            "python_version": "3.11",
            # Python plugins run in a fork of the launcher's interpreter: no second interpreter start per
            # run (see execution/sandbox/launcher.py); "exec" runs `python3 <entrypoint>` as a new program.
            "launch": python_launch,
            "dependencies": "pip",
        },
        # JavaScript: Debian bookworm's Node.js 18 (the launcher itself needs python3 in every image).
        # A third runtime is this much configuration plus, for its packages, a lock-file format.
        "node18": {
            "image": "argus-runtime-node18:4",  # 2: as python3.11's tag 3; 3: as its tag 4; 4: as its tag 5
            "suite": "bookworm",
            "packages": ["python3", "nodejs"],
            "interpreter": ["node"],
            "launch": "exec",
            "dependencies": "npm",
        },
    }


def bounded_limits(
    requested: Mapping[str, Any],
    *,
    defaults: Mapping[str, Any] = TENANT_DEFAULT_LIMITS,
    maxima: Mapping[str, Any] = RESOURCE_MAXIMA,
    extended: bool = False,
) -> dict[str, Any]:
    """The limits a run gets for ``requested``: the tenant's ``defaults`` bound it unless
    ``compute:extended`` is granted (``extended``), and the platform ``maxima`` always do."""
    bound = dict(maxima) if extended else {key: min(defaults[key], maxima[key]) for key in RESOURCE_KEYS}
    return {key: min(requested[key], bound[key]) for key in RESOURCE_KEYS}
