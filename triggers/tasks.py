"""Celery tasks of triggers and webhooks. Each passes ids and calls one plain function; options explicit.

Retries: only database contention (``OperationalError``, e.g. a locked SQLite file) is retried by Celery.
Schedules and event deliveries are idempotent (slot claim, UNIQUE delivery rows), so a re-delivered
message (acks_late) is harmless; webhook retries are data-driven (``next_attempt_at``), not Celery retries.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from . import dispatch, schedules, sweeper, webhook_delivery

# Every task here is idempotent and retried by Celery only on database contention.
_IDEMPOTENT_RETRIED_ON_CONTENTION = {
    "acks_late": True,
    "ignore_result": True,
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
}


@shared_task(
    name="triggers.fire_schedule",
    soft_time_limit=60,
    time_limit=90,
    max_retries=3,
    **_IDEMPOTENT_RETRIED_ON_CONTENTION,
)
def fire_schedule(schedule_id: str) -> None:
    schedules.fire(schedule_id)


@shared_task(
    name="triggers.dispatch_event",
    soft_time_limit=120,
    time_limit=150,
    max_retries=5,
    **_IDEMPOTENT_RETRIED_ON_CONTENTION,
)
def dispatch_event(event_id: str) -> None:
    dispatch.dispatch(event_id)


@shared_task(
    name="triggers.deliver_webhook",
    soft_time_limit=60,
    time_limit=90,
    max_retries=3,
    **_IDEMPOTENT_RETRIED_ON_CONTENTION,
)
def deliver_webhook(delivery_id: str) -> None:
    webhook_delivery.attempt(delivery_id)


@shared_task(name="triggers.sweep", acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def sweep() -> dict[str, int]:
    return sweeper.sweep()
