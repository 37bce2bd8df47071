"""Ledger appends are timed for Prometheus (argus_ledger_append_seconds)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

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
