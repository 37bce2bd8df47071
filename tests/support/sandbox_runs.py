"""Running plugins for real in integration tests: the runtime image, a Celery worker that runs sandboxes
on the test database, a deployer that publishes and installs inline plugins, and waits with deadlines."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from argus_plugins.celery import app as celery_app
from execution import services as execution_services
from execution.models import Execution
from execution.sandbox import connect
from execution.sandbox.images import DEFAULT_CACHE_DIR, ensure_runtime_images
from installations import services as installation_services
from registry import services as registry_services
from tests.support.celery_worker import WorkerProcess, running_worker
from tests.support.publishing import manifest_for

#: The marks of a test module whose tests run plugins through a real worker: a transactional database
#: (the worker processes must see the test's rows), Docker, Redis and the worker itself.
SANDBOX_RUN_MARKS = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.docker,
    pytest.mark.redis,
    pytest.mark.worker,
]


def ensure_runtime_image() -> None:
    """Build (or load from the cache) the sandbox runtime images the settings name."""
    client = connect(settings.DOCKER_BASE_URL, timeout=120)
    try:
        cache = Path(os.environ.get("ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR))
        ensure_runtime_images(client, settings.ARGUS_RUNTIME_IMAGES, cache_dir=cache, log=print)
    finally:
        client.close()


def sandbox_worker_env(work: Path, media: Path) -> dict[str, str]:
    """The environment of a worker process that runs sandboxes on the test database, reading bundles and
    evidence from ``media``; its sandboxes' work directory is ``work/sandbox``, created here."""
    sandbox = work / "sandbox"
    sandbox.mkdir(mode=0o700)
    return {
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "ARGUS_MEDIA_ROOT": str(media),
        "ARGUS_SANDBOX_WORK_DIR": str(sandbox),
    }


@contextlib.contextmanager
def sandbox_worker(
    work: Path, media: Path, extra_env: dict[str, str] | None = None
) -> Iterator[WorkerProcess]:
    """A worker (two processes) of its own queue, to which this process publishes until it stops."""
    env = {**sandbox_worker_env(work, media), **(extra_env or {})}
    with running_worker(work, concurrency=2, extra_env=env) as worker:
        previous = celery_app.conf.task_default_queue
        celery_app.conf.task_default_queue = worker.queue
        try:
            yield worker
        finally:
            celery_app.conf.task_default_queue = previous


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


def install_in_tenant_a(world: Any, plugin_id: Any, grants: list[str]) -> Any:
    """Install the plugin in tenant A (as its admin) and grant it ``grants``."""
    installation = installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=plugin_id
    )
    for capability in grants:
        installation_services.grant_capability(
            actor=world.admin_a, installation_id=installation.pk, capability=capability
        )
    return installation


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
        return install_in_tenant_a(self.world, plugin.pk, caps if grant else [])

    def run(self, installation: Any, input: Any = None, evidence_ids: Any = None) -> Execution:
        return execution_services.run_plugin(
            actor=self.world.analyst_a,
            installation_id=installation.pk,
            input=input or {},
            evidence_ids=evidence_ids,
        )
