"""A real Celery worker (prefork, real Redis) running real Docker sandboxes for the event-chain tests.

It reuses the execution engine's helpers (``running_worker``, ``Deployer``) but is module-scoped and
restores the default queue afterwards, so it never mixes with the session-wide worker of
tests/execution/integration when both directories run in one pytest process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from argus_plugins.celery import app as celery_app
from execution.sandbox import connect
from execution.sandbox.images import DEFAULT_CACHE_DIR, ensure_runtime_images
from tests.execution.integration.conftest import Deployer
from tests.support.celery_worker import WorkerProcess, running_worker

pytestmark = [pytest.mark.docker, pytest.mark.redis, pytest.mark.worker]


@pytest.fixture(scope="module")
def chain_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trigger-media")


@pytest.fixture(autouse=True)
def isolated_media(settings, chain_media: Path) -> None:
    """The worker reads bundles from the same media root as the test."""
    settings.MEDIA_ROOT = str(chain_media)


def _ensure_runtime_image() -> None:
    from django.conf import settings

    client = connect(settings.DOCKER_BASE_URL, timeout=120)
    try:
        cache = Path(os.environ.get("ARGUS_RUNTIME_CACHE_DIR", DEFAULT_CACHE_DIR))
        ensure_runtime_images(client, settings.ARGUS_RUNTIME_IMAGES, cache_dir=cache, log=print)
    finally:
        client.close()


@pytest.fixture(scope="module")
def trigger_worker(
    tmp_path_factory: pytest.TempPathFactory, chain_media: Path, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[WorkerProcess]:
    _ensure_runtime_image()
    with django_db_blocker.unblock():
        database = connection.settings_dict["NAME"]
    work = tmp_path_factory.mktemp("trigger-worker")
    sandbox_dir = work / "sandbox"
    sandbox_dir.mkdir(mode=0o700)
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "ARGUS_MEDIA_ROOT": str(chain_media),
        "ARGUS_SANDBOX_WORK_DIR": str(sandbox_dir),
    }
    with running_worker(work, concurrency=2, extra_env=env) as worker:
        previous = celery_app.conf.task_default_queue
        celery_app.conf.task_default_queue = worker.queue
        try:
            yield worker
        finally:
            celery_app.conf.task_default_queue = previous


@pytest.fixture
def deploy(world: Any, publisher_kit: Any, trigger_worker: WorkerProcess) -> Deployer:
    return Deployer(world, publisher_kit)
