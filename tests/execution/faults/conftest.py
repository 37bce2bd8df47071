"""Fault injection against the real platform: Celery worker and beat processes, a Redis server of the test's own
(so that it can be stopped, or its clients dropped, without touching the machine's shared one), real Docker.

Every scenario checks the same promises: no healthy run is killed, every run ends terminal within the bound the
README documents ("Failure bounds"), nothing runs twice (one claim per run), and the ledger verifies.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from argus_plugins.celery import app as celery_app
from execution.models import Execution, ExecutionStatus
from execution.sandbox import connect
from execution.sandbox.shared_pool import sweep_pool
from ledger.verification import verify_chain
from tests.execution.integration import conftest as integration
from tests.execution.integration.conftest import Deployer
from tests.support.celery_worker import BeatProcess, WorkerProcess, running_beat, running_worker
from tests.support.private_redis import PrivateRedis, private_redis

# The integration tests' fixtures: the runtime image, and one media root shared with the worker processes.
runtime_image = integration.runtime_image
shared_media = integration.shared_media
isolated_media = integration.isolated_media

#: Shorter than the defaults (30 s and 10 s) so that the suite stays quick; the bounds scale with them.
QUEUED_STALE_SECONDS = 8
SWEEP_INTERVAL_SECONDS = 2


def _reset_publisher_pools() -> None:
    """Celery keeps a connection pool and a producer pool per broker URL: drop them so the next publish
    connects to the broker now configured."""
    if celery_app._pool is not None:
        with contextlib.suppress(Exception):
            celery_app._pool.force_close_all()
    celery_app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        celery_app.__dict__["amqp"]._producer_pool = None


@dataclass
class Platform:
    """Processes of one scenario, all on the scenario's own broker and queue."""

    redis: PrivateRedis
    directory: Path
    queue: str
    env: dict[str, str] = field(default_factory=dict)

    def worker(self, concurrency: int = 2) -> contextlib.AbstractContextManager[WorkerProcess]:
        return running_worker(self.directory, queue=self.queue, concurrency=concurrency, extra_env=self.env)

    def beat(self) -> contextlib.AbstractContextManager[BeatProcess]:
        return running_beat(self.directory, extra_env=self.env)


@pytest.fixture
def platform(tmp_path: Path, shared_media: Path, runtime_image: None) -> Iterator[Platform]:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir(mode=0o700)
    queue = f"faults-{uuid.uuid4().hex[:10]}"
    with private_redis(tmp_path) as redis_server:
        env = {
            "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
            "ARGUS_MEDIA_ROOT": str(shared_media),
            "ARGUS_SANDBOX_WORK_DIR": str(sandbox),
            "CELERY_BROKER_URL": redis_server.url,
            "CELERY_RESULT_BACKEND": redis_server.url,
            "REDIS_URL": redis_server.url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "ARGUS_QUEUED_STALE_SECONDS": str(QUEUED_STALE_SECONDS),
            "ARGUS_SWEEP_INTERVAL_SECONDS": str(SWEEP_INTERVAL_SECONDS),
        }
        previous = celery_app.conf.broker_url, celery_app.conf.task_default_queue
        _reset_publisher_pools()
        celery_app.conf.broker_url, celery_app.conf.task_default_queue = redis_server.url, queue
        try:
            yield Platform(redis_server, tmp_path, queue, env)
        finally:
            _reset_publisher_pools()
            celery_app.conf.broker_url, celery_app.conf.task_default_queue = previous
            # A worker SIGKILLed with its pool keeper leaves the host pool's warm containers to the next
            # keeper or sweep on its work directory: this is the last one.
            client = connect()
            try:
                sweep_pool(client, sandbox)
            finally:
                client.close()


@pytest.fixture
def deploy(world: Any, publisher_kit: Any, platform: Platform) -> Deployer:
    return Deployer(world, publisher_kit)


def assert_ran_once_and_ledger_verifies(executions: list[Execution]) -> None:
    for execution in executions:
        execution.refresh_from_db()
        assert execution.is_terminal, (execution.pk, execution.status)
        assert execution.attempts <= 1, (execution.pk, execution.attempts)  # claimed (so run) at most once
        assert execution.ledger_entry is not None
    assert verify_chain().ok


def statuses(executions: list[Execution]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for execution in executions:
        execution.refresh_from_db()
        counts[execution.status] = counts.get(execution.status, 0) + 1
    return counts


SUCCEEDED = ExecutionStatus.SUCCEEDED
