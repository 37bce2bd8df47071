"""Run metrics: counted when the terminal status commits (never for a rolled-back one); queue depth per tenant."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from execution import metrics
from execution.models import ExecutionStatus, Trigger
from execution.recording import finish
from execution.services import run_plugin

TOKEN = "metrics-token"


def cancelled_count() -> float:
    # This process's own value (multiprocess mode keeps one per process); tests in a process run one at a time.
    labels = {"status": ExecutionStatus.CANCELLED, "trigger": Trigger.MANUAL}
    return REGISTRY.get_sample_value("argus_runs_finished_total", labels) or 0.0


def test_a_finished_run_is_counted_once_its_transaction_commits(
    world, installation, django_capture_on_commit_callbacks
):
    execution = run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
    before = cancelled_count()
    with django_capture_on_commit_callbacks(execute=True):
        assert finish(
            execution, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="stop"
        )
        assert cancelled_count() == before  # not before the commit
    assert cancelled_count() == before + 1


def test_a_rolled_back_finish_is_not_counted(world, installation, django_capture_on_commit_callbacks):
    execution = run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
    before = cancelled_count()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        finish(execution, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="stop")
        raise RuntimeError("the caller's transaction fails")
    assert callbacks == [] and cancelled_count() == before


def queue_depth(settings) -> dict[tuple[str, str], float]:
    settings.ARGUS_METRICS_TOKEN = TOKEN
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    return {
        (family.name, sample.labels["tenant"]): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        if family.name in ("argus_runs_queued", "argus_runs_running")
        for sample in family.samples
    }


def test_queue_depth_per_tenant_is_read_from_the_database_at_scrape_time(world, installation, settings):
    slug = world.tenant_a.slug
    assert ("argus_runs_queued", slug) not in queue_depth(settings)
    runs = [run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={}) for _ in range(3)]
    assert queue_depth(settings)[("argus_runs_queued", slug)] == 3

    runs[0].__class__.objects.filter(pk=runs[0].pk).update(status=ExecutionStatus.RUNNING)
    finish(runs[1], ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="stop")
    depth = queue_depth(settings)
    assert depth[("argus_runs_queued", slug)] == 1 and depth[("argus_runs_running", slug)] == 1
    assert ("argus_runs_queued", world.tenant_b.slug) not in depth


def test_a_run_finishes_when_its_metrics_cannot_be_written(
    world, installation, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def disk_full(*labels: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(metrics.RUNS_FINISHED, "labels", disk_full)
    execution = run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
    with django_capture_on_commit_callbacks(execute=True):
        assert finish(execution, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="x")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED and execution.ledger_entry_id is not None
    assert "No space left on device" in caplog.text
