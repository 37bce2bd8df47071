"""A real Celery worker (prefork, real Redis) running real sandboxes (real Docker), sharing the test DB.

The worker is started once per test session; tests use transactional databases so it sees their data.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from argus_plugins.celery import app as celery_app
from execution import services as execution_services
from execution.models import Execution
from execution.sandbox import connect
from execution.sandbox.container import LABEL_MANAGED, LABEL_OWNER, local_owner_is_alive
from execution.sandbox.images import DEFAULT_CACHE_DIR, ensure_runtime_images
from installations import services as installation_services
from registry import services as registry_services
from tests.support.celery_worker import WorkerProcess, running_worker
from tests.support.publishing import manifest_for

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
    from django.conf import settings

    client = connect(settings.DOCKER_BASE_URL, timeout=120)
    try:
        cache = Path(os.environ.get("ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR))
        ensure_runtime_images(client, settings.ARGUS_RUNTIME_IMAGES, cache_dir=cache, log=print)
    finally:
        client.close()


@pytest.fixture(scope="session")
def platform_worker(
    tmp_path_factory: pytest.TempPathFactory,
    shared_media: Path,
    runtime_image: None,
    django_db_setup: Any,
    django_db_blocker: Any,
) -> Iterator[WorkerProcess]:
    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    work = tmp_path_factory.mktemp("worker")
    sandbox_dir = work / "sandbox"
    sandbox_dir.mkdir(mode=0o700)
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "ARGUS_MEDIA_ROOT": str(shared_media),
        "ARGUS_SANDBOX_WORK_DIR": str(sandbox_dir),
        "ARGUS_HEARTBEAT_TIMEOUT_SECONDS": "20",
        # The worker's Prometheus metrics go to a directory of their own (see worker_metrics_dir).
        "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
    }
    with running_worker(work, concurrency=2, extra_env=env) as worker:
        previous = celery_app.conf.task_default_queue
        celery_app.conf.task_default_queue = worker.queue
        try:
            yield worker
        finally:
            celery_app.conf.task_default_queue = previous
    # The worker processes have exited: any container of theirs (its slot is in their sandbox directory)
    # still there is a leak. Containers of other processes on this shared engine, alive or dead (e.g. a
    # benchmark, another checkout's tests), are not ours to judge.
    client = connect()
    try:
        wait_for(
            lambda: not _orphans(client, sandbox_dir),
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


def wait_terminal(execution: Execution, timeout: float = 90.0) -> Execution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution.refresh_from_db()
        if execution.is_terminal:
            return execution
        time.sleep(0.1)
    raise AssertionError(f"execution {execution.pk} still {execution.status} after {timeout}s")


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Deployer:
    """Publishes a plugin whose main.py is given inline, installs it in tenant A and grants it all."""

    def __init__(self, world: Any, kit: Any) -> None:
        self.world, self.kit, self.count = world, kit, 0

    def __call__(
        self,
        code: str,
        *,
        capabilities: list[str] | None = None,
        grant: bool = True,
        resources: dict[str, Any] | None = None,
        **manifest: Any,
    ):
        self.count += 1
        slug = f"p{self.count}"
        plugin = registry_services.create_plugin(
            actor=self.kit.owner, publisher_id=self.kit.publisher.pk, slug=slug, name=slug
        )
        caps = capabilities or []
        resources = {"memory_mb": 128, "cpus": 1, "timeout_seconds": 20, "pids": 32, **(resources or {})}
        full = manifest_for(slug, "1.0.0", capabilities=caps, resources=resources, **manifest)
        self.kit.publish(plugin, "1.0.0", reviewer=self.world.staff, manifest=full, files={"main.py": code})
        installation = installation_services.install_plugin(
            actor=self.world.admin_a, tenant_id=self.world.tenant_a.pk, plugin_id=plugin.pk
        )
        if grant:
            for capability in caps:
                installation_services.grant_capability(
                    actor=self.world.admin_a, installation_id=installation.pk, capability=capability
                )
        return installation

    def run(self, installation: Any, input: Any = None, evidence_ids: Any = None) -> Execution:
        return execution_services.run_plugin(
            actor=self.world.analyst_a,
            installation_id=installation.pk,
            input=input or {},
            evidence_ids=evidence_ids,
        )


@pytest.fixture
def deploy(world: Any, publisher_kit: Any, platform_worker: WorkerProcess) -> Deployer:
    return Deployer(world, publisher_kit)
