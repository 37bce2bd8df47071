"""Dispatching a stored event: one execution per matching subscription (exactly once), and one webhook
delivery per interested endpoint. Safe to run any number of times for the same event."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from argus_plugins.core import clock, flags
from argus_plugins.core.errors import DomainError, DomainErrors
from execution.models import Execution, ExecutionStatus, Trigger
from execution.services import start_execution

from . import jmes, webhooks
from .models import DeliveryOutcome, Event, EventDelivery, EventSubscription
from .subscriptions import declares_event

logger = logging.getLogger(__name__)


def matching_subscriptions(event: Event):
    """Enabled subscriptions of the event's own tenant (events never cross tenants) to its type."""
    return (
        EventSubscription.objects.listening(event.tenant_id, event.type)
        .select_related(
            "installation__tenant",
            "installation__plugin",
            "installation__pinned_version__signing_key",
            "created_by",
        )
        .order_by("created_at", "id")
    )


def dispatch(event_id: Any) -> list[EventDelivery]:
    """The body of ``triggers.dispatch_event``."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return []
    deliveries: list[EventDelivery] = []
    if flags.is_enabled(flags.TRIGGERS_EVENTS, event.tenant_id):
        for subscription in matching_subscriptions(event):
            delivery = deliver(subscription, event)
            if delivery is not None:
                deliveries.append(delivery)
    if flags.is_enabled(flags.WEBHOOKS, event.tenant_id):
        webhooks.fan_out(event)
    Event.objects.filter(pk=event.pk).update(dispatched_at=clock.now())
    return deliveries


def deliver(subscription: EventSubscription, event: Event) -> EventDelivery | None:
    """Start the subscription's run for the event, or record why not; None when the event does not match
    or was already delivered (the UNIQUE (subscription, event) row is the proof)."""
    if subscription.tenant_id != event.tenant_id:
        raise ValueError("an event never reaches another tenant's subscription")  # programming error
    if EventDelivery.objects.filter(subscription=subscription, event=event).exists():
        return None
    matched, problem = jmes.match_or_failure(subscription.filter_expression, event.payload)
    if not matched:
        return None
    with transaction.atomic():
        try:
            with transaction.atomic():
                delivery = EventDelivery.objects.create(
                    tenant_id=event.tenant_id,
                    subscription=subscription,
                    event=event,
                    outcome=DeliveryOutcome.FAILED,
                    reason="(in progress)",
                    created_at=clock.now(),
                )
        except IntegrityError:
            return None  # a concurrent or earlier dispatch of this event already delivered it
        if problem is not None:
            outcome, reason, execution = DeliveryOutcome.FAILED, problem, None
        else:
            outcome, reason, execution = _run(subscription, event)
        delivery.outcome, delivery.reason, delivery.execution = outcome, reason, execution
        delivery.save(update_fields=["outcome", "reason", "execution"])
    return delivery


def _run(subscription: EventSubscription, event: Event) -> tuple[str, str, Execution | None]:
    limit = settings.ARGUS_EVENT_MAX_CHAIN_DEPTH
    if event.chain_depth >= limit:
        return (
            DeliveryOutcome.DEPTH_LIMIT,
            f"Stopped: this event is {event.chain_depth} event-triggered runs deep in a chain, the limit "
            f"(ARGUS_EVENT_MAX_CHAIN_DEPTH) is {limit}; plugins may be triggering each other in a loop.",
            None,
        )
    if not declares_event(subscription.installation, event.type):
        return (
            DeliveryOutcome.FAILED,
            f"The installed version no longer declares '{event.type}' in its manifest's 'events'.",
            None,
        )
    try:
        run_input = jmes.render_template(subscription.input_template, event.payload)
        evidence = jmes.evidence_ids(subscription.evidence_expression, event.payload)
    except jmes.TemplateError as error:
        return DeliveryOutcome.FAILED, str(error), None
    try:
        execution = start_execution(
            installation=subscription.installation,
            input=run_input,
            evidence_ids=evidence,
            trigger=Trigger.EVENT,
            triggered_by=subscription.created_by,
            record_refusal=True,
        )
    except (DomainError, DomainErrors) as failure:
        errors = failure.errors if isinstance(failure, DomainErrors) else [failure]
        return DeliveryOutcome.FAILED, "Not started: " + "; ".join(e.message for e in errors), None
    if execution.status == ExecutionStatus.REJECTED:
        return DeliveryOutcome.REJECTED, execution.error_reason, execution
    return DeliveryOutcome.STARTED, "", execution
