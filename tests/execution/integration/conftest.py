"""A real Celery worker (prefork, real Redis) running real sandboxes (real Docker), sharing the test DB.

The worker is started once per test session; tests use transactional databases so it sees their data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from execution.sandbox import connect
from execution.sandbox.container import LABEL_MANAGED, LABEL_OWNER, local_owner_is_alive
from tests.support.celery_worker import WorkerProcess
from tests.support.sandbox_runs import Deployer, ensure_runtime_image, sandbox_worker, wait_for

pytestmark = [pytest.mark.docker, pytest.mark.redis, pytest.mark.worker]


@pytest.fixture(scope="session")
def shared_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def isolated_media(settings, shared_media: Path) -> None:
    """The worker process reads bundles and evidence from the same media root as the test."""
    settings.MEDIA_ROOT = str(shared_media)


@pytest.fixture(scope="session")
def runtime_image() -> None:
    ensure_runtime_image()


@pytest.fixture(scope="session")
def platform_worker(
    tmp_path_factory: pytest.TempPathFactory,
    shared_media: Path,
    runtime_image: None,
    django_db_setup: Any,
) -> Iterator[WorkerProcess]:
    work = tmp_path_factory.mktemp("worker")
    env = {
        "ARGUS_HEARTBEAT_TIMEOUT_SECONDS": "20",
        # The worker's Prometheus metrics go to a directory of their own (see worker_metrics_dir).
        "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
    }
    with sandbox_worker(work, shared_media, env) as worker:
        yield worker
    # The worker processes have exited: any container of theirs (its slot is in their sandbox directory)
    # still there is a leak. Containers of other processes on this shared engine, alive or dead (e.g. a
    # benchmark, another checkout's tests), are not ours to judge.
    client = connect()
    try:
        wait_for(
            lambda: not _orphans(client, work / "sandbox"),
            timeout=20,
            what="sandbox containers of stopped workers to go",
        )
    finally:
        client.close()


@pytest.fixture
def worker_metrics_dir(platform_worker: WorkerProcess) -> Path:
    """Where the shared worker's processes write their Prometheus metrics (multiprocess mode)."""
    return platform_worker.log_path.parent / "metrics"


def _orphans(client: Any, sandbox_dir: Path) -> list[str]:
    containers = client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"})
    return [
        c["Id"][:12]
        for c in containers
        if not local_owner_is_alive((c.get("Labels") or {}).get(LABEL_OWNER, ""))
        and any(str(m.get("Source", "")).startswith(str(sandbox_dir)) for m in c.get("Mounts") or [])
    ]


@pytest.fixture
def deploy(world: Any, publisher_kit: Any, platform_worker: WorkerProcess) -> Deployer:
    return Deployer(world, publisher_kit)
