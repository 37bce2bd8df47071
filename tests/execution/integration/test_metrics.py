"""``/metrics`` after a real run: the worker's processes wrote their metrics, the web tier adds them up."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from execution.models import ExecutionStatus
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_terminal

pytestmark = SANDBOX_RUN_MARKS

TOKEN = "prometheus-scrape-token-for-tests"
HELLO = 'print("hello")\n'


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (over every process and other label)."""
    wanted = set(labels.items())
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and wanted <= set(sample_labels)
    )


def test_a_run_is_counted_in_the_metrics_the_worker_wrote(deploy, settings, worker_metrics_dir):
    settings.ARGUS_METRICS_TOKEN = TOKEN
    settings.ARGUS_METRICS_DIR = worker_metrics_dir  # this worker's processes only
    installation = deploy(HELLO)
    before = scrape()

    execution = wait_terminal(deploy.run(installation))
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error_reason
    # The worker counts the run in the after-commit steps of the commit that made it terminal (after
    # linking its ledger entry), so the counters may follow the status by a moment.
    deadline = time.monotonic() + 30
    while True:
        after = scrape()
        counted = total(after, "argus_runs_finished_total", status="SUCCEEDED", trigger="MANUAL")
        if counted > total(before, "argus_runs_finished_total", status="SUCCEEDED", trigger="MANUAL"):
            break
        assert time.monotonic() < deadline, "the finished run was never counted"
        time.sleep(0.1)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("argus_runs_finished_total", status="SUCCEEDED", trigger="MANUAL") == 1
    assert grew("argus_run_duration_seconds_count", status="SUCCEEDED") == 1
    assert grew("argus_run_duration_seconds_sum", status="SUCCEEDED") == pytest.approx(
        execution.duration_ms / 1000
    )
    assert grew("argus_run_queue_wait_seconds_count", trigger="MANUAL") == 1
    assert grew("argus_run_queue_wait_seconds_sum", trigger="MANUAL") == pytest.approx(
        (execution.started_at - execution.queued_at).total_seconds()
    )
    # The worker keeps a warm pool (ARGUS_SANDBOX_POOL_SIZE=1): the run's container was a hit or a miss.
    assert (
        grew("argus_sandbox_pool_requests_total", result="hit")
        + grew("argus_sandbox_pool_requests_total", result="miss")
        == 1
    )
    assert grew("argus_sandbox_acquire_seconds_count") == 1
    assert grew("argus_sandbox_container_start_seconds_count") == 1
    assert grew("argus_ledger_append_seconds_count") >= 1  # the run's entry, appended by the worker
    # The queue is empty again: no tenant has a run waiting or running.
    assert total(after, "argus_runs_queued") == 0 and total(after, "argus_runs_running") == 0
