"""Ledger appends are timed for Prometheus (argus_ledger_append_seconds)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from ledger import metrics
from ledger.models import LedgerEntry
from ledger.services import append_entries, append_entry

pytestmark = pytest.mark.django_db


def appends_timed() -> float:
    return REGISTRY.get_sample_value("argus_ledger_append_seconds_count") or 0.0


def test_every_append_call_is_timed():
    before = appends_timed()
    append_entry("test.metric", {"n": 1})
    append_entries(
        [("test.metric", {"n": 2}, None), ("test.metric", {"n": 3}, None)]
    )  # one batch, one timing
    assert appends_timed() == before + 2
    assert REGISTRY.get_sample_value("argus_ledger_append_seconds_sum") > 0


def test_an_append_succeeds_when_its_metric_cannot_be_written(monkeypatch, caplog):
    def disk_full(seconds: float) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(metrics.APPEND_SECONDS, "observe", disk_full)
    entry = append_entry("test.metric", {"n": 4})
    assert LedgerEntry.objects.filter(pk=entry.pk).exists()
    assert "Recording metrics" in caplog.text and "No space left on device" in caplog.text
