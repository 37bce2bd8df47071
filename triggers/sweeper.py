"""The periodic sweep (``triggers.sweep``, every 10 s via beat): publish webhook attempts that are due
(retries, and first attempts whose message was lost) and event dispatches whose message was lost."""

from __future__ import annotations

import datetime as dt
import logging

from django.db.models import Q

from argus_plugins.core import clock

from .models import Event, WebhookDelivery, WebhookDeliveryStatus

logger = logging.getLogger(__name__)

#: A published message not acted on after this long is published again (the claim makes it harmless).
REPUBLISH_AFTER = dt.timedelta(seconds=60)
BATCH = 500


def sweep() -> dict[str, int]:
    from .tasks import deliver_webhook, dispatch_event

    now = clock.now()
    stale = now - REPUBLISH_AFTER
    due = WebhookDelivery.objects.filter(
        status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
    attempts = 0
    for delivery_id in list(due.values_list("pk", flat=True)[:BATCH]):
        WebhookDelivery.objects.filter(pk=delivery_id).update(enqueued_at=now)
        try:
            deliver_webhook.delay(str(delivery_id))
            attempts += 1
        except Exception:
            logger.exception("Could not publish webhook delivery %s", delivery_id)
    lost = Event.objects.filter(dispatched_at__isnull=True).filter(
        Q(dispatch_enqueued_at__isnull=True) | Q(dispatch_enqueued_at__lt=stale)
    )
    dispatches = 0
    for event_id in list(lost.values_list("pk", flat=True)[:BATCH]):
        Event.objects.filter(pk=event_id).update(dispatch_enqueued_at=now)
        try:
            dispatch_event.delay(str(event_id))
            dispatches += 1
        except Exception:
            logger.exception("Could not publish the dispatch of event %s", event_id)
    return {"webhook_attempts": attempts, "event_dispatches": dispatches}
