"""Faults around a run: a killed worker, a re-delivered message, an unreachable broker or engine."""

from __future__ import annotations

import datetime as dt
import threading
import time

import docker
import pytest

from argus_plugins.celery import app as celery_app
from argus_plugins.core import clock
from execution import worker
from execution.models import Execution, ExecutionStatus
from execution.sandbox.keeper import PoolKeeper, PoolLimits
from execution.sandbox.shared_pool import entry_container_id, shape_key
from execution.tasks import sweep_executions
from tests.support.celery_worker import running_worker
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, sandbox_worker_env, wait_for, wait_terminal

pytestmark = SANDBOX_RUN_MARKS


def test_worker_killed_mid_run_still_ends_terminal(deploy, platform_worker, tmp_path, settings, shared_media):
    installation = deploy("import time\nprint('working', flush=True)\ntime.sleep(120)")
    env = {**sandbox_worker_env(tmp_path, shared_media), "ARGUS_SANDBOX_POOL_SIZE": "0"}
    with running_worker(tmp_path, extra_env=env) as doomed:
        celery_app.conf.task_default_queue = doomed.queue
        try:
            execution = deploy.run(installation)
        finally:
            celery_app.conf.task_default_queue = platform_worker.queue
        wait_for(lambda: Execution.objects.get(pk=execution.pk).container_id != "", what="container started")
        doomed.kill()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING  # its worker is gone: nobody will finish it...
    container_id = execution.container_id
    settings.ARGUS_HEARTBEAT_TIMEOUT_SECONDS = 1
    time.sleep(1.5)
    swept = sweep_executions()  # ...but the sweeper does
    assert (swept["lost"], swept["requeued"]) == (1, 0)
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert "stopped responding" in execution.error_reason
    assert execution.ledger_entry is not None
    assert not docker.from_env().api.containers(all=True, filters={"id": container_id})


def test_redelivered_message_never_runs_twice(deploy):
    installation = deploy("print('once')")
    execution = wait_terminal(deploy.run(installation))
    assert execution.status == ExecutionStatus.SUCCEEDED
    before = (execution.finished_at, execution.ledger_entry_id)
    worker.run(str(execution.pk))  # a duplicate delivery of a finished run
    execution.refresh_from_db()
    assert (execution.status, execution.finished_at, execution.ledger_entry_id) == ("SUCCEEDED", *before)


def test_redelivery_of_a_run_whose_worker_died_fails_it(deploy, world):
    installation = deploy("print('x')")
    execution = wait_terminal(deploy.run(installation))
    # Simulate the state a crash leaves: claimed (RUNNING) and never finished, message re-delivered.
    orphan = Execution.objects.create(
        tenant=execution.tenant,
        installation=execution.installation,
        plugin_version=execution.plugin_version,
        input={},
        input_sha256=execution.input_sha256,
        status=ExecutionStatus.RUNNING,
        started_at=clock.now(),
    )
    worker.run(str(orphan.pk))
    orphan.refresh_from_db()
    assert orphan.status == ExecutionStatus.FAILED and "re-delivered" in orphan.error_reason


def test_a_run_whose_publish_failed_waits_in_the_queue_and_is_released_later(deploy):
    installation = deploy("print('late but done')")
    with broker_down():
        execution = deploy.run(installation)  # the publish after commit fails: logged, back on hold
    time.sleep(0.5)
    execution.refresh_from_db()
    assert (execution.status, execution.released_at) == (ExecutionStatus.QUEUED, None)
    swept = sweep_executions()
    assert (swept["requeued"], swept["released"]) == (0, 1)
    assert wait_terminal(execution).status == ExecutionStatus.SUCCEEDED


def test_a_released_run_whose_message_was_lost_is_republished(deploy):
    from django.db import transaction

    from execution import dispatch

    installation = deploy("print('late but done')")
    with broker_down():
        execution = deploy.run(installation)
    with transaction.atomic():
        assert dispatch._release() == [str(execution.pk)]  # released, then the process died: no message
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.QUEUED and execution.released_at is not None
    assert sweep_executions()["requeued"] == 0  # not stale yet
    Execution.objects.filter(pk=execution.pk).update(enqueued_at=clock.now() - dt.timedelta(hours=1))
    assert sweep_executions()["requeued"] == 1
    assert wait_terminal(execution).status == ExecutionStatus.SUCCEEDED


class broker_down:
    """Fault injection: publishing a run fails as it does when Redis is unreachable."""

    def __enter__(self) -> None:
        from argus_plugins.core import publishing

        self.original = publishing.publish

        def fail(task_name, *args):
            if task_name == "execution.run":
                raise ConnectionRefusedError("broker unreachable")
            self.original(task_name, *args)

        publishing.publish = fail

    def __exit__(self, *exc: object) -> None:
        from argus_plugins.core import publishing

        publishing.publish = self.original


def test_docker_unreachable_fails_with_a_clear_reason_after_retries(deploy, settings):
    from execution import runtime
    from execution.tasks import run_execution

    installation = deploy("print('never')")
    settings.DOCKER_BASE_URL = "unix:///nonexistent/docker.sock"
    settings.ARGUS_DOCKER_MAX_RETRIES = 0
    runtime.close()
    try:
        with broker_down():  # keep the message away from the real worker, whose Docker is fine
            execution = deploy.run(installation)
        run_execution.apply(args=[str(execution.pk)])  # in this process, where Docker is unreachable
    finally:
        runtime.close()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert "Docker engine was unreachable" in execution.error_reason
    assert execution.ledger_entry is not None


def test_a_run_at_its_tenants_cap_stays_queued_and_its_warm_container_waits_for_it(deploy, world, settings):
    from argus_plugins.tenancy.models import TenantPolicy
    from execution import runtime
    from execution.worker import TenantAtCapacity

    installation = deploy("print('my turn')")
    TenantPolicy.objects.update_or_create(tenant=world.tenant_a, defaults={"max_concurrent_executions": 1})
    with broker_down():  # keep both runs away from the real worker: this process plays the worker
        blocker = deploy.run(installation)
        queued = deploy.run(installation)
    Execution.objects.filter(pk=blocker.pk).update(status=ExecutionStatus.RUNNING, started_at=clock.now())
    settings.ARGUS_SANDBOX_POOL_SIZE = 1
    runtime.close()
    # This process plays the worker, so it keeps its own host pool too.
    keeper = PoolKeeper(runtime.docker_client(), runtime.work_dir(), PoolLimits(min_depth=1))
    keeping = threading.Thread(target=keeper.run, daemon=True)
    keeping.start()
    try:
        pool = runtime.container_pool()
        job_settings = worker._sandbox_job(worker.prepare(worker._load(str(queued.pk)))).container_settings()
        pool.prewarm(job_settings)
        assert pool.wait_ready(job_settings, timeout=60)
        warm_id = entry_container_id(pool.layout.ready_entries(shape_key(job_settings))[0])  # the oldest goes first
        with pytest.raises(TenantAtCapacity):
            worker.run(str(queued.pk))
        queued.refresh_from_db()
        assert (queued.status, queued.container_id, queued.started_at) == ("QUEUED", "", None)
        # Handed back, held by this process for the retry (not removed, not back in the shared pool).
        assert [c.id for c in pool.held(job_settings)] == [warm_id] and pool.reaper.removed == 0
        Execution.objects.filter(pk=blocker.pk).update(status=ExecutionStatus.CANCELLED)
        worker.run(str(queued.pk))
    finally:
        runtime.close()
        keeper.stop()
        keeping.join(timeout=60)
    queued.refresh_from_db()
    assert queued.status == ExecutionStatus.SUCCEEDED and queued.stdout == "my turn\n"
    assert queued.container_id == warm_id  # recorded when the run was claimed


def test_a_sandbox_that_cannot_start_fails_the_run_with_the_reason(deploy, settings):
    from execution import runtime

    installation = deploy("print('never')")
    with broker_down():
        execution = deploy.run(installation)
    settings.ARGUS_RUNTIME_IMAGES = {
        name: {**config, "image": "argus-runtime-missing:0"}
        for name, config in settings.ARGUS_RUNTIME_IMAGES.items()
    }
    settings.ARGUS_SANDBOX_POOL_SIZE = 0
    runtime.close()
    try:
        worker.run(str(execution.pk))
    finally:
        runtime.close()
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.FAILED
    assert (
        "could not be started" in execution.error_reason and "build_runtime_images" in execution.error_reason
    )
    assert execution.started_at is None and execution.ledger_entry is not None
