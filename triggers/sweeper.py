"""The periodic sweep (``triggers.sweep``, every 10 s via beat): publish webhook attempts that are due
(retries, and first attempts whose message was lost) and event dispatches whose message was lost."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q

from argus_plugins.core import clock
from argus_plugins.core.publishing import republish

from .models import Event, WebhookDelivery, WebhookDeliveryStatus

#: A published message not acted on after this long is published again (the claim makes it harmless).
REPUBLISH_AFTER = dt.timedelta(seconds=60)
BATCH = 500


def sweep() -> dict[str, int]:
    now = clock.now()
    stale = now - REPUBLISH_AFTER
    due = WebhookDelivery.objects.filter(
        status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
    attempts = republish(
        WebhookDelivery,
        list(due.values_list("pk", flat=True)[:BATCH]),
        stamp_field="enqueued_at",
        task_name="triggers.deliver_webhook",
        now=now,
    )
    lost = Event.objects.filter(dispatched_at__isnull=True).filter(
        Q(dispatch_enqueued_at__isnull=True) | Q(dispatch_enqueued_at__lt=stale)
    )
    dispatches = republish(
        Event,
        list(lost.values_list("pk", flat=True)[:BATCH]),
        stamp_field="dispatch_enqueued_at",
        task_name="triggers.dispatch_event",
        now=now,
    )
    return {"webhook_attempts": attempts, "event_dispatches": dispatches}
