"""Sending webhook deliveries per the Standard Webhooks specification, with retries on a schedule.

Each attempt is claimed with a conditional update (a duplicated task message sends nothing twice), sent
outside any transaction through ``triggers.ssrf`` (checked address, no redirects, capped response) with
fresh ``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` headers, and logged as a
``WebhookAttempt``. A 2xx answer succeeds; anything else (3xx included) is a failed attempt, retried after
ARGUS_WEBHOOK_RETRY_SCHEDULE_SECONDS[n] (+-10 % jitter). After the last retry fails the delivery is FAILED
and its endpoint is disabled with the reason. Retries are not Celery countdowns (which Redis would
re-deliver after its visibility timeout): the due time is stored, and the sweeper publishes due attempts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from argus_plugins.core import clock
from ledger.hashing import format_timestamp

from . import metrics, ssrf
from .models import Event, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from .webhooks import signing_secrets

logger = logging.getLogger(__name__)

#: A claimed attempt that never recorded its result (worker killed) becomes due again after this.
LEASE = dt.timedelta(seconds=180)
EXCERPT_CHARS = 1000
USER_AGENT = "Argus-Webhooks/1.0"
_jitter = random.SystemRandom()


@dataclass(frozen=True)
class SendResult:
    succeeded: bool
    status_code: int | None = None
    latency_ms: int | None = None
    excerpt: str = ""
    error: str = ""
    address: str = ""


def message_id(event_id: Any) -> str:
    """The same for every attempt and endpoint of an event, so receivers can de-duplicate."""
    return f"msg_{uuid.UUID(str(event_id)).hex}"


def body_for(event: Event) -> bytes:
    return json.dumps(
        {"type": event.type, "timestamp": format_timestamp(event.created_at), "data": event.payload},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def signed_headers(endpoint: WebhookEndpoint, event: Event, body: bytes, now: dt.datetime) -> dict[str, str]:
    msg_id = message_id(event.pk)
    text = body.decode()
    signatures = " ".join(
        Webhook(secret).sign(msg_id, now, text) for secret in signing_secrets(endpoint, now)
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def retry_delay(attempt_number: int) -> dt.timedelta:
    """The wait after failed attempt ``attempt_number`` (1-based), jittered by +-10 %."""
    base = settings.ARGUS_WEBHOOK_RETRY_SCHEDULE_SECONDS[attempt_number - 1]
    return dt.timedelta(seconds=base * _jitter.uniform(0.9, 1.1))


def _send(endpoint: WebhookEndpoint, event: Event, now: dt.datetime) -> SendResult:
    try:
        target = ssrf.resolve(endpoint.url)
    except ssrf.Refused as refusal:
        return SendResult(False, error=f"Not sent: {refusal}")
    body = body_for(event)
    try:
        response = ssrf.post(target, body=body, headers=signed_headers(endpoint, event, body, now))
    except requests.RequestException as error:
        return SendResult(
            False, error=f"{type(error).__name__}: {error}"[:1000], address=str(target.addresses[0])
        )
    except SoftTimeLimitExceeded:
        return SendResult(
            False, error="The receiver took too long to answer.", address=str(target.addresses[0])
        )
    excerpt = response.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")[:EXCERPT_CHARS]
    status = response.status_code
    if 200 <= status < 300:
        return SendResult(True, status, response.latency_ms, excerpt, "", response.address)
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed (Location: {response.location or 'none'})."
    else:
        error = f"HTTP {status}."
    return SendResult(False, status, response.latency_ms, excerpt, error, response.address)


def attempt(delivery_id: Any) -> WebhookAttempt | None:
    """The body of ``triggers.deliver_webhook``: send the delivery if an attempt is due, log it, and
    schedule the next one or finish. None when nothing was due (done, not yet due, or claimed elsewhere)."""
    now = clock.now()
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").filter(pk=delivery_id).first()
    if (
        delivery is None
        or delivery.status != WebhookDeliveryStatus.PENDING
        or delivery.next_attempt_at is None
        or delivery.next_attempt_at > now
    ):
        return None
    endpoint = delivery.endpoint
    if endpoint.deleted_at is not None or not endpoint.enabled:
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDeliveryStatus.PENDING, attempts=delivery.attempts
        ).update(
            status=WebhookDeliveryStatus.FAILED,
            next_attempt_at=None,
            completed_at=now,
            last_error="Not sent: the endpoint is disabled or deleted.",
        )
        return None
    number = delivery.attempts + 1
    manual = delivery.redelivery_requested_by_id is not None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDeliveryStatus.PENDING, attempts=delivery.attempts
    ).update(attempts=number, next_attempt_at=now + LEASE, last_attempt_at=now, redelivery_requested_by=None)
    if not claimed:
        return None
    result = _send(endpoint, delivery.event, now)
    log = _record(delivery, number, manual, result, now)
    metrics.record_attempt(log)
    return log


@transaction.atomic
def _record(
    delivery: WebhookDelivery, number: int, manual: bool, result: SendResult, attempted_at: dt.datetime
) -> WebhookAttempt:
    now = clock.now()
    retry = not result.succeeded and delivery.auto_retry and number < delivery.max_attempts
    next_at = now + retry_delay(number) if retry else None
    if result.succeeded:
        status = WebhookDeliveryStatus.SUCCEEDED
    else:
        status = WebhookDeliveryStatus.PENDING if retry else WebhookDeliveryStatus.FAILED
    log = WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        manual=manual,
        attempted_at=attempted_at,
        url=delivery.endpoint.url,
        address=result.address,
        succeeded=result.succeeded,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        response_excerpt=result.excerpt,
        error=result.error,
        next_attempt_at=next_at,
    )
    WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDeliveryStatus.PENDING, attempts=number
    ).update(
        status=status,
        next_attempt_at=next_at,
        enqueued_at=None,
        last_status_code=result.status_code,
        last_error=result.error,
        completed_at=None if status == WebhookDeliveryStatus.PENDING else now,
    )
    if status == WebhookDeliveryStatus.FAILED and delivery.auto_retry:
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, enabled=True).update(
            enabled=False,
            disabled_at=now,
            disabled_reason=(
                f"Disabled automatically: delivery {delivery.pk} of event {delivery.event_id} failed "
                f"{number} times over about a day (last: {result.error[:300]})"
            ),
            updated_at=now,
        )
    return log
