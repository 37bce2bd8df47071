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

Versions before this naming called them ``run-<execution id>``, with no owner: a node upgraded from one may
hold such directories left by its killed workers, which no owner check can judge. They go once their last
change is older than :data:`UNOWNED_RUN_DIR_AGE_SECONDS` (a day: far beyond any run's time limit), so that a
worker of the old version still finishing a run on this host during an upgrade keeps its directory.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from .sandbox.container import local_owner_is_alive, owner_id

logger = logging.getLogger(__name__)

RUN_DIR_PREFIX = "run-"
OWNER_SEPARATOR = "@"
#: An owner-less ``run-<execution id>`` directory (named by an older version) this long untouched is removed.
UNOWNED_RUN_DIR_AGE_SECONDS = 24 * 3600


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
        if not name.startswith(RUN_DIR_PREFIX) or path.is_symlink() or not path.is_dir():
            continue  # not a run directory (slots, the pool's files)
        if not separator:
            if not _is_stale_unowned(path):
                continue
        elif not owner or local_owner_is_alive(owner):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(name)
    if removed:
        logger.info("Removed %d run directories left by dead workers in %s", len(removed), work_dir)
    return removed


def _is_stale_unowned(path: Path) -> bool:
    """``run-<execution id>`` (an older version's name), untouched for ``UNOWNED_RUN_DIR_AGE_SECONDS``."""
    try:
        uuid.UUID(path.name.removeprefix(RUN_DIR_PREFIX))
        return time.time() - path.stat().st_mtime > UNOWNED_RUN_DIR_AGE_SECONDS
    except (ValueError, OSError):
        return False  # not such a name, or gone meanwhile
