"""Faults injected while runs are queued and running (see conftest.py for what every scenario checks)."""

from __future__ import annotations

import time

from argus_plugins.tenancy.models import TenantPolicy
from execution.models import Execution, ExecutionStatus
from tests.execution.integration.test_faults import broker_down
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_for, wait_terminal

from .conftest import (
    QUEUED_STALE_SECONDS,
    SWEEP_INTERVAL_SECONDS,
    assert_ran_once_and_ledger_verifies,
    statuses,
)

pytestmark = SANDBOX_RUN_MARKS

SLOW = "import time\ntime.sleep({seconds})\nprint('done', flush=True)\n"
QUICK = "print('done')\n"
#: README, "Failure bounds": a lost message is published again within the stale age plus one sweep interval of
#: the broker being back; here with the suite's shorter settings, and room for the worker to reconnect and run.
LOST_MESSAGE_BOUND = QUEUED_STALE_SECONDS + SWEEP_INTERVAL_SECONDS + 30


def _running(executions: list[Execution]) -> bool:
    return all(
        row["status"] == ExecutionStatus.RUNNING and row["container_id"]
        for row in Execution.objects.filter(pk__in=[e.pk for e in executions]).values("status", "container_id")
    )


def test_a_dropped_broker_connection_kills_no_healthy_run(platform, deploy):
    installation = deploy(SLOW.format(seconds=6))
    # A third process is idle, so the worker is waiting on the broker when its connection drops (an idle
    # connection is re-opened silently on its next use, and nothing is re-delivered).
    with platform.worker(concurrency=3) as worker:
        runs = [deploy.run(installation) for _ in range(2)]
        wait_for(lambda: _running(runs), timeout=60, what="both runs to be running")
        assert platform.redis.kill_normal_clients() >= 1  # Redis stays up; every connection to it drops
        finished = [wait_terminal(run, timeout=60) for run in runs]
        # Celery restored the unacknowledged messages of both runs: their second delivery was ignored.
        wait_for(lambda: worker.log().count("re-delivered message ignored") == 2, timeout=20, what="redelivery")
    assert [(run.status, run.stdout) for run in finished] == [(ExecutionStatus.SUCCEEDED, "done\n")] * 2
    assert_ran_once_and_ledger_verifies(runs)


def test_a_killed_workers_runs_end_within_a_minute_behind_a_backlog_of_80(platform, deploy, world):
    TenantPolicy.objects.update_or_create(tenant=world.tenant_a, defaults={"max_concurrent_executions": 4})
    victim_code = deploy(SLOW.format(seconds=40), resources={"timeout_seconds": 60})
    quick = deploy(QUICK)
    with platform.beat_and_worker(concurrency=2) as (_, doomed):
        victims = [deploy.run(victim_code) for _ in range(2)]
        wait_for(lambda: _running(victims), timeout=60, what="the victims to be running")
        backlog = [deploy.run(quick) for _ in range(80)]  # queued behind them: the doomed worker is busy
        # The tenant's cap (4) bounds the runs in flight; four processes drain the backlog sooner than two.
        with platform.worker(concurrency=4):
            doomed.kill()  # SIGKILL, main process and children, mid-run
            died = time.monotonic()
            for victim in victims:
                wait_terminal(victim, timeout=60 - (time.monotonic() - died))
            victims_ended = time.monotonic() - died
            for run in backlog:
                wait_terminal(run, timeout=240)
    assert victims_ended < 60
    assert statuses(victims) == {ExecutionStatus.FAILED: 2}
    assert all("stopped responding" in victim.error_reason for victim in victims)
    assert statuses(backlog) == {ExecutionStatus.SUCCEEDED: 80}
    assert_ran_once_and_ledger_verifies(victims + backlog)


def test_redis_down_for_15_seconds_loses_no_run(platform, deploy):
    slow, quick = deploy(SLOW.format(seconds=8)), deploy(QUICK)
    with platform.beat_and_worker(concurrency=2):
        running = [deploy.run(slow) for _ in range(2)]
        wait_for(lambda: _running(running), timeout=60, what="two runs to be running")
        queued = [deploy.run(quick) for _ in range(3)]  # waiting in the broker, which keeps nothing
        platform.redis.stop()
        stopped = time.monotonic()
        with broker_down():  # publishing fails while the broker is down (fast, not after kombu's retries)
            during = [deploy.run(quick)]
        time.sleep(max(0.0, 15 - (time.monotonic() - stopped)))
        platform.redis.start()
        back = time.monotonic()
        for run in running + queued + during:
            wait_terminal(run, timeout=LOST_MESSAGE_BOUND - (time.monotonic() - back))
    assert statuses(running + queued + during) == {ExecutionStatus.SUCCEEDED: 6}
    assert_ran_once_and_ledger_verifies(running + queued + during)


def test_beat_killed_and_restarted_resumes_the_sweeps(platform, deploy):
    slow, quick = deploy(SLOW.format(seconds=4)), deploy(QUICK)
    with platform.beat_and_worker(concurrency=2) as (beat, _):
        running = deploy.run(slow)
        wait_for(lambda: _running([running]), timeout=60, what="the run to be running")
        beat.kill()
        # A run that ends releases the next held one; wait for that first, so that only a sweep is left to
        # bring back the run whose message never reached the broker.
        wait_terminal(running, timeout=30)
        # The worker releases held runs in its after-commit steps, just after the status commit seen above
        # (behind the run-end announcement): let them finish before the lost run exists.
        time.sleep(2)
        with broker_down():
            lost = deploy.run(quick)
        time.sleep(QUEUED_STALE_SECONDS + SWEEP_INTERVAL_SECONDS)
        lost.refresh_from_db()
        assert lost.status == ExecutionStatus.QUEUED  # no beat, no sweep
        with platform.beat():
            wait_terminal(lost, timeout=SWEEP_INTERVAL_SECONDS + 30)
    assert statuses([running, lost]) == {ExecutionStatus.SUCCEEDED: 2}
    assert_ran_once_and_ledger_verifies([running, lost])
