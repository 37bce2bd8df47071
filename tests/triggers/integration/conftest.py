"""A real Celery worker (prefork, real Redis) running real Docker sandboxes for the event-chain tests.

It uses the same helpers as the execution engine's (tests/support/sandbox_runs.py) but is module-scoped
and restores the default queue afterwards, so it never mixes with the session-wide worker of
tests/execution/integration when both directories run in one pytest process.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.celery_worker import WorkerProcess
from tests.support.sandbox_runs import Deployer, ensure_runtime_image, sandbox_worker

pytestmark = [pytest.mark.docker, pytest.mark.redis, pytest.mark.worker]


@pytest.fixture(scope="module")
def chain_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trigger-media")


@pytest.fixture(autouse=True)
def isolated_media(settings, chain_media: Path) -> None:
    """The worker reads bundles from the same media root as the test."""
    settings.MEDIA_ROOT = str(chain_media)


@pytest.fixture(scope="module")
def trigger_worker(
    tmp_path_factory: pytest.TempPathFactory, chain_media: Path, django_db_setup: Any
) -> Iterator[WorkerProcess]:
    ensure_runtime_image()
    with sandbox_worker(tmp_path_factory.mktemp("trigger-worker"), chain_media) as worker:
        yield worker


@pytest.fixture
def deploy(world: Any, publisher_kit: Any, trigger_worker: WorkerProcess) -> Deployer:
    return Deployer(world, publisher_kit)
