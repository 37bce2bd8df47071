"""Prometheus metrics of runs and sandboxes; argus_plugins/core/metrics.py serves them on ``/metrics``.

Counters and histograms are written by whichever process does the work (Celery workers mostly), in
prometheus-client's multiprocess mode; the queue depth is read from the database at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from argus_plugins.core.metrics import quietly

from .models import Execution, ExecutionStatus

if TYPE_CHECKING:
    from .sandbox.container import StartedContainer

#: Seconds, from a quick plugin to the longest allowed run (900 s).
RUN_SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, float("inf"))
SANDBOX_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))

RUNS_FINISHED = Counter(
    "argus_runs_finished",
    "Runs that reached a terminal status, by status and trigger.",
    ["status", "trigger"],
)
RUN_DURATION = Histogram(
    "argus_run_duration_seconds",
    "Time from a run's start in its sandbox to its terminal status, by status.",
    ["status"],
    buckets=RUN_SECONDS_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "argus_run_queue_wait_seconds",
    "Time a run waited between being queued and starting, by trigger.",
    ["trigger"],
    buckets=RUN_SECONDS_BUCKETS,
)
SANDBOX_POOL_REQUESTS = Counter(
    "argus_sandbox_pool_requests",
    "Sandbox containers asked of a worker's warm pool: a hit is a warm container, a miss one started cold.",
    ["result"],
)
SANDBOX_ACQUIRE = Histogram(
    "argus_sandbox_acquire_seconds",
    "Time a run waited for its sandbox container (warm from the pool, or started cold).",
    ["source"],
    buckets=SANDBOX_SECONDS_BUCKETS,
)
CONTAINER_START = Histogram(
    "argus_sandbox_container_start_seconds",
    "Time the Docker engine took to create, attach and start a sandbox container, by who started it.",
    ["source"],
    buckets=SANDBOX_SECONDS_BUCKETS,
)
START_PHASES = ("create", "attach", "start")


@quietly
def record_finished(execution: Execution) -> None:
    """Count a run that just reached its terminal status, once the transaction recording it commits."""
    status, trigger = str(execution.status), str(execution.trigger)
    duration = execution.duration_ms / 1000 if execution.duration_ms is not None else None
    waited = (
        (execution.started_at - execution.queued_at).total_seconds()
        if execution.started_at and execution.queued_at
        else None
    )

    @quietly
    def observe() -> None:
        RUNS_FINISHED.labels(status, trigger).inc()
        if duration is not None:
            RUN_DURATION.labels(status).observe(duration)
        if waited is not None:
            QUEUE_WAIT.labels(trigger).observe(max(0.0, waited))

    transaction.on_commit(observe)


@quietly
def record_sandbox_acquired(container: StartedContainer, *, pooled: bool) -> None:
    """A worker got the sandbox container for a run: warm from its pool, or started cold."""
    source = "pool" if container.pooled else "cold"
    if pooled:
        SANDBOX_POOL_REQUESTS.labels("hit" if container.pooled else "miss").inc()
    SANDBOX_ACQUIRE.labels(source).observe(container.acquired_seconds)
    if all(phase in container.timings for phase in START_PHASES):
        CONTAINER_START.labels(source).observe(sum(container.timings[phase] for phase in START_PHASES))


class QueueDepthCollector(Collector):
    """Runs waiting and running per tenant, counted in the database when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queued = GaugeMetricFamily(
            "argus_runs_queued", "Runs waiting for a worker, per tenant (slug).", labels=["tenant"]
        )
        running = GaugeMetricFamily(
            "argus_runs_running", "Runs in a sandbox now, per tenant.", labels=["tenant"]
        )
        family = {ExecutionStatus.QUEUED: queued, ExecutionStatus.RUNNING: running}
        rows = (
            Execution.objects.filter(status__in=list(family))
            .order_by()
            .values_list("tenant__slug", "status")
            .annotate(count=Count("id"))
        )
        for slug, status, count in rows:
            family[status].add_metric([slug], count)
        yield queued
        yield running
