"""A re-delivered message for a RUNNING run: ignored while its worker lives, the run failed as lost otherwise.

(After a broker connection drop, Celery restores the unacknowledged messages of runs that are running fine.)
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time

import pytest

from argus_plugins.core import clock
from execution import runtime, worker
from execution import services as execution_services
from execution.lifecycle import transition
from execution.models import Execution, ExecutionStatus

pytestmark = pytest.mark.django_db


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def claim(world, installation):
    def make(worker_hostname: str, heartbeat_age: float) -> Execution:
        execution = execution_services.run_plugin(actor=world.analyst_a, installation_id=installation.pk)
        transition(
            execution,
            ExecutionStatus.RUNNING,
            expected=ExecutionStatus.QUEUED,
            worker_hostname=worker_hostname,
            heartbeat_at=clock.now() - dt.timedelta(seconds=heartbeat_age),
        )
        return execution

    return make


HERE = socket.gethostname()


@pytest.mark.parametrize(
    ("owner", "heartbeat_age", "lost"),
    [
        pytest.param(f"{HERE}:{os.getpid()}", 1, False, id="live-owner-fresh-heartbeat"),
        pytest.param("elsewhere:123", 1, False, id="other-host-fresh-heartbeat"),
        pytest.param(f"{HERE}:{{dead}}", 1, True, id="dead-owner"),
        pytest.param("elsewhere:123", 3600, True, id="other-host-stale-heartbeat"),
        pytest.param(f"{HERE}:{os.getpid()}", 3600, True, id="live-owner-stale-heartbeat"),
    ],
)
def test_a_redelivered_running_run_is_lost_only_when_its_worker_is(claim, owner, heartbeat_age, lost) -> None:
    execution = claim(owner.format(dead=_dead_pid()), heartbeat_age)
    worker.run(str(execution.pk))
    execution.refresh_from_db()
    if lost:
        assert execution.status == ExecutionStatus.FAILED and "re-delivered" in execution.error_reason
        assert execution.ledger_entry is not None
    else:
        assert execution.status == ExecutionStatus.RUNNING and execution.finished_at is None


def test_worker_liveness_is_known_on_this_host_only() -> None:
    assert runtime.worker_is_alive(runtime.hostname()) is True
    assert runtime.worker_is_alive(f"{HERE}:{_dead_pid()}") is False
    assert runtime.worker_is_alive("another-host:1") is None
    assert runtime.worker_is_alive("") is None


def test_a_zombie_worker_is_dead() -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while runtime.worker_is_alive(f"{HERE}:{zombie.pid}") and time.monotonic() < deadline:
            time.sleep(0.05)  # exited but not reaped yet: a zombie
        assert runtime.worker_is_alive(f"{HERE}:{zombie.pid}") is False
    finally:
        zombie.wait()
