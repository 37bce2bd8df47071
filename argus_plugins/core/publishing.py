"""Starting Celery tasks from services: by name, after the surrounding transaction commits, and again from
a sweep when a message was lost.

By name (``send_task``), so that a service never imports a task module (tasks import services, not the
other way round); after commit, so that a worker never looks for a row that is not there yet. A failure
to publish after commit is logged, never raised: every task started this way has a sweep that finds work
left behind and publishes it again with :func:`republish`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from celery import current_app
from django.db import models, transaction

logger = logging.getLogger(__name__)


def publish(task_name: str, *args: Any) -> None:
    """Send the task message now. Raises when the broker is unreachable: the caller decides what to keep.

    Without a result: every task started this way keeps its outcome in the database (each is declared
    ``ignore_result``, which a publisher by name cannot see). Otherwise the Redis result backend subscribes
    to the task's result channel before sending the message, and unsubscribes when the handle is dropped:
    two more round trips to Redis, the first one ahead of the message, on every run's way to its worker."""
    current_app.send_task(task_name, args=args, ignore_result=True)


def publish_after_commit(task_name: str, *args: Any) -> None:
    def publish_logged() -> None:
        try:
            publish(task_name, *args)
        except Exception:  # the broker is down: the task's sweep will find the work again
            logger.exception("Could not publish %s%r; its sweep will retry", task_name, args)

    transaction.on_commit(publish_logged)


def republish(
    model: type[models.Model], ids: Iterable[Any], *, stamp_field: str, task_name: str, now: dt.datetime
) -> int:
    """A sweep's second chance: for each row, stamp ``stamp_field`` with ``now`` (so the next sweep waits
    again) and publish ``task_name(id)``. The tasks are idempotent (each claims its row), so a message that
    was only late runs once. Returns how many were published; a broker failure is logged and left to the
    next sweep."""
    published = 0
    for pk in ids:
        model.objects.filter(pk=pk).update(**{stamp_field: now})
        try:
            publish(task_name, str(pk))
            published += 1
        except Exception:
            logger.exception("Could not publish %s(%s); the next sweep retries", task_name, pk)
    return published
