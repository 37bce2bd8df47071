"""Each run's private directory in this node's sandbox work directory, and the sweep of those left behind.

A run's directory holds what the worker streamed from the object store for it (the evidence copies, the
dependency layer's archive) until the run is over. It is named after the run AND the worker process that
made it::

    <work dir>/run-<execution id>@<host>:<pid>:<process start time>

so that a worker killed outright (SIGKILL, the OOM killer, a power cut), whose ``finally`` never ran, leaves a
directory anyone on this host can tell is orphaned: its process is gone, or its pid now names another process
(the start time differs). ``sweep_run_dirs`` removes exactly those, when a worker node starts and at every
periodic sweep; a live worker's directory, or one made on another host (a work directory is never shared, but
if it were, this host could not tell), is never touched.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

from .sandbox.container import local_owner_is_alive, owner_id

logger = logging.getLogger(__name__)

RUN_DIR_PREFIX = "run-"
OWNER_SEPARATOR = "@"


def run_dir(work_dir: Path, execution_id: Any) -> Path:
    """The directory this worker process uses for the run ``execution_id`` (ValueError: not a UUID)."""
    return Path(work_dir) / f"{RUN_DIR_PREFIX}{uuid.UUID(str(execution_id))}{OWNER_SEPARATOR}{owner_id()}"


def sweep_run_dirs(work_dir: Path) -> list[str]:
    """Remove the run directories in ``work_dir`` whose worker process is no longer alive on this host;
    returns their names."""
    removed: list[str] = []
    try:
        entries = list(Path(work_dir).iterdir())
    except FileNotFoundError:
        return removed
    for path in entries:
        name = path.name
        _, separator, owner = name.partition(OWNER_SEPARATOR)
        if (
            not (name.startswith(RUN_DIR_PREFIX) and separator and owner)
            or path.is_symlink()
            or not path.is_dir()
        ):
            continue  # not a run directory of this scheme (slots, the pool's files)
        if local_owner_is_alive(owner):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    if removed:
        logger.info("Removed %d run directories left by dead workers in %s", len(removed), work_dir)
    return removed
