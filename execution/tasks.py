"""Celery tasks of the execution engine. Task bodies call plain functions in ``execution.worker``."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from celery.signals import worker_init, worker_process_shutdown, worker_shutdown
from django.conf import settings

from argus_plugins.core import clock
from argus_plugins.core.publishing import republish

from . import dispatch, keeper_process, runtime, worker
from .models import Execution, ExecutionStatus
from .run_dirs import sweep_run_dirs
from .sandbox import DockerUnavailable, sweep_orphans
from .sandbox.container import sweep_unreferenced_slots
from .sandbox.shared_pool import sweep_pool

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="execution.run",
    ignore_result=True,  # the outcome lives on the Execution row; nothing reads a Celery result
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=settings.ARGUS_RESOURCE_MAXIMA["timeout_seconds"] + 120,
    time_limit=settings.ARGUS_RESOURCE_MAXIMA["timeout_seconds"] + worker.RUN_TASK_TIME_LIMIT_MARGIN,
)
def run_execution(self, execution_id: str) -> None:
    try:
        worker.run(execution_id)
    except DockerUnavailable as error:
        docker_retries = self.request.retries
        if docker_retries >= settings.ARGUS_DOCKER_MAX_RETRIES:
            execution = Execution.objects.filter(pk=execution_id).first()
            if execution is not None:
                worker.fail_undispatchable(
                    execution, f"The Docker engine was unreachable after {docker_retries} retries: {error}"
                )
            return
        raise self.retry(countdown=min(2**docker_retries, 60), exc=error) from error
    except worker.TenantAtCapacity as error:
        Execution.objects.filter(pk=execution_id).update(enqueued_at=clock.now())
        raise self.retry(countdown=settings.ARGUS_CAPACITY_RETRY_SECONDS, exc=error) from error


@shared_task(name="execution.sweep", acks_late=True, soft_time_limit=60, time_limit=90)
def sweep_executions() -> dict[str, int]:
    """Nothing stays RUNNING or QUEUED forever: finish runs whose worker died, re-publish lost messages,
    release held runs into free slots (in case a dispatch after a finished run was missed)."""
    now = clock.now()
    lost = 0
    for execution in Execution.objects.filter(status=ExecutionStatus.RUNNING):
        if worker.is_lost(execution):
            lost += worker.fail_lost_run(execution, "The worker running this execution stopped responding.")
    stale_queue = now - dt.timedelta(seconds=settings.ARGUS_QUEUED_STALE_SECONDS)
    stale = Execution.objects.filter(
        status=ExecutionStatus.QUEUED, released_at__isnull=False, enqueued_at__lt=stale_queue
    )
    stale_ids = list(stale.values_list("pk", flat=True))
    requeued = republish(Execution, stale_ids, stamp_field="enqueued_at", task_name="execution.run", now=now)
    released = len(dispatch.release_queued_runs())
    return {
        "lost": lost,
        "requeued": requeued,
        "released": released,
        "orphans": _sweep_orphaned_containers(),
        "run_dirs": len(sweep_run_dirs(runtime.work_dir())),
    }


def _sweep_orphaned_containers() -> int:
    """Remove sandbox containers (and their scratch dirs) whose worker process died on this host."""
    try:
        client = runtime.docker_client()
        orphans = sweep_orphans(client, work_dirs=[runtime.work_dir()])
        # The host pool's containers, when its keeper is gone (else the keeper reconciles by itself).
        orphans += sweep_pool(client, runtime.work_dir())
        # Slots whose container was never made: the process making them was killed in between.
        sweep_unreferenced_slots(client, runtime.work_dir())
        return len(orphans)
    except DockerUnavailable:
        logger.warning("Docker is unreachable: orphaned sandbox containers will be swept later")
        return 0


@worker_process_shutdown.connect
def _close_sandbox_runtime(**_kwargs: object) -> None:
    runtime.close()


@worker_init.connect
def _start_pool_keeper(**_kwargs: object) -> None:
    """In the worker's main process, before it forks its pool: the run directories a killed predecessor left
    in this node's work directory go, and the host's warm pool keeper starts beside it."""
    sweep_run_dirs(runtime.work_dir())
    keeper_process.start()


@worker_shutdown.connect
def _stop_pool_keeper(**_kwargs: object) -> None:
    keeper_process.stop()
