"""Prometheus metrics of webhook deliveries (served on ``/metrics`` by argus_plugins/core/metrics.py)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from argus_plugins.core.metrics import quietly

from .models import WebhookAttempt

WEBHOOK_ATTEMPTS = Counter(
    "argus_webhook_attempts",
    "Webhook delivery attempts by outcome: succeeded, retrying (failed, another attempt is scheduled) or "
    "failed (failed, no attempt left: the delivery is FAILED).",
    ["outcome"],
)
WEBHOOK_RESPONSE = Histogram(
    "argus_webhook_response_seconds",
    "Time receivers took to answer a delivery attempt (attempts that got an HTTP answer).",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
)


@quietly
def record_attempt(attempt: WebhookAttempt) -> None:
    if attempt.succeeded:
        outcome = "succeeded"
    else:
        outcome = "retrying" if attempt.next_attempt_at is not None else "failed"
    WEBHOOK_ATTEMPTS.labels(outcome).inc()
    if attempt.latency_ms is not None:
        WEBHOOK_RESPONSE.observe(attempt.latency_ms / 1000)
