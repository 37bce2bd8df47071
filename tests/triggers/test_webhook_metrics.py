"""Webhook delivery outcomes are counted for Prometheus: succeeded, retrying, failed (given up)."""

from __future__ import annotations

from prometheus_client import REGISTRY

from triggers import dispatch, webhook_delivery, webhooks
from triggers.events import store_event
from triggers.models import WebhookDelivery


def attempts(outcome: str) -> float:
    # This process's own count (multiprocess mode keeps one per process); tests in a process run one at a time.
    return REGISTRY.get_sample_value("argus_webhook_attempts_total", {"outcome": outcome}) or 0.0


def test_each_attempt_is_counted_by_outcome(world, receiver):
    webhooks.create_endpoint(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, url=receiver.url, event_types=["custom.found"]
    )
    event = store_event(tenant_id=world.tenant_a.pk, type="custom.found", payload={"n": 1}, dedupe_key="k1")
    dispatch.dispatch(event.pk)
    delivery = WebhookDelivery.objects.get()
    before = {outcome: attempts(outcome) for outcome in ("succeeded", "retrying", "failed")}
    answered = REGISTRY.get_sample_value("argus_webhook_response_seconds_count") or 0.0

    receiver.answer(500)
    assert not webhook_delivery.attempt(delivery.pk).succeeded  # a retry is scheduled
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.next_attempt_at)  # due now
    receiver.answer(200)
    assert webhook_delivery.attempt(delivery.pk).succeeded

    assert attempts("retrying") == before["retrying"] + 1
    assert attempts("succeeded") == before["succeeded"] + 1
    assert attempts("failed") == before["failed"]
    assert REGISTRY.get_sample_value("argus_webhook_response_seconds_count") == answered + 2
