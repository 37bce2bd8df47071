"""Prometheus metrics of the ledger (served on ``/metrics`` by argus_plugins/core/metrics.py)."""

from __future__ import annotations

from prometheus_client import Histogram

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, float("inf"))

APPEND_SECONDS = Histogram(
    "argus_ledger_append_seconds",
    "Time to write to the ledger in the caller's transaction: a pending entry (one INSERT, no lock: a run's "
    "finish) or a linked entry or batch (grants, approvals; waiting for the head's lock included).",
    buckets=_BUCKETS,
)
LINK_SECONDS = Histogram(
    "argus_ledger_link_seconds",
    "Time to link the pending ledger entries into the chain after a commit (or from the beat task): "
    "waiting for the linkers' lock, hashing, and the linking transaction's commit.",
    buckets=_BUCKETS,
)
