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

from execution.models import Execution, ExecutionStatus
from execution.sandbox import connect
from execution.sandbox.shared_pool import sweep_pool
from ledger.verification import verify_chain
from tests.execution.integration import conftest as integration
from tests.support.celery_worker import (
    BeatProcess,
    WorkerProcess,
    publishing_to,
    running_beat,
    running_worker,
)
from tests.support.private_redis import PrivateRedis, private_redis
from tests.support.sandbox_runs import Deployer, sandbox_worker_env

# The integration tests' fixtures: the runtime image, and one media root shared with the worker processes.
runtime_image = integration.runtime_image
shared_media = integration.shared_media
isolated_media = integration.isolated_media

#: Shorter than the defaults (30 s and 10 s) so that the suite stays quick; the bounds scale with them. (A run
#: released into the broker and still waiting after this long is published again: harmless, a second delivery
#: of a claimed run is acknowledged and ignored, which these tests check too.)
QUEUED_STALE_SECONDS = 4
SWEEP_INTERVAL_SECONDS = 1


@dataclass
class Platform:
    """Processes of one scenario, all on the scenario's own broker and queue."""

    redis: PrivateRedis
    directory: Path
    queue: str
    env: dict[str, str] = field(default_factory=dict)

    def worker(
        self, concurrency: int = 2, *, ready_timeout: float | None = 60.0
    ) -> contextlib.AbstractContextManager[WorkerProcess]:
        return running_worker(
            self.directory, queue=self.queue, concurrency=concurrency, extra_env=self.env, ready_timeout=ready_timeout
        )

    def beat(self, *, ready_timeout: float | None = 60.0) -> contextlib.AbstractContextManager[BeatProcess]:
        return running_beat(self.directory, extra_env=self.env, ready_timeout=ready_timeout)

    @contextlib.contextmanager
    def beat_and_worker(self, concurrency: int = 2) -> Iterator[tuple[BeatProcess, WorkerProcess]]:
        """Both started at once (each takes seconds to boot), then both waited for."""
        with self.beat(ready_timeout=None) as beat, self.worker(concurrency, ready_timeout=None) as worker:
            beat.wait_ready()
            worker.wait_ready()
            yield beat, worker


@pytest.fixture
def platform(tmp_path: Path, shared_media: Path, runtime_image: None) -> Iterator[Platform]:
    sandbox_env = sandbox_worker_env(tmp_path, shared_media)
    queue = f"faults-{uuid.uuid4().hex[:10]}"
    with private_redis(tmp_path) as redis_server:
        env = {
            **sandbox_env,
            "CELERY_BROKER_URL": redis_server.url,
            "CELERY_RESULT_BACKEND": redis_server.url,
            "REDIS_URL": redis_server.url,
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "ARGUS_QUEUED_STALE_SECONDS": str(QUEUED_STALE_SECONDS),
            "ARGUS_SWEEP_INTERVAL_SECONDS": str(SWEEP_INTERVAL_SECONDS),
        }
        try:
            with publishing_to(redis_server.url, queue):
                yield Platform(redis_server, tmp_path, queue, env)
        finally:
            # A worker SIGKILLed with its pool keeper leaves the host pool's warm containers to the next
            # keeper or sweep on its work directory: this is the last one.
            client = connect()
            try:
                sweep_pool(client, Path(sandbox_env["ARGUS_SANDBOX_WORK_DIR"]))
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
