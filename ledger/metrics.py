"""Prometheus metrics of the ledger (served on ``/metrics`` by argus_plugins/core/metrics.py)."""

from __future__ import annotations

from prometheus_client import Histogram

APPEND_SECONDS = Histogram(
    "argus_ledger_append_seconds",
    "Time to append to the ledger (one entry or a batch), waiting for the head's lock included.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, float("inf")),
)
