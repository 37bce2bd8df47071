"""Starting Celery tasks from services: by name, after the surrounding transaction commits.

By name (``send_task``), so that a service never imports a task module (tasks import services, not the
other way round); after commit, so that a worker never looks for a row that is not there yet. A failure
to publish is logged, never raised: every task started this way has a sweep that finds work left behind.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import current_app
from django.db import transaction

logger = logging.getLogger(__name__)


def publish_after_commit(task_name: str, *args: Any) -> None:
    def publish() -> None:
        try:
            current_app.send_task(task_name, args=args)
        except Exception:  # the broker is down: the task's sweep will find the work again
            logger.exception("Could not publish %s%r; its sweep will retry", task_name, args)

    transaction.on_commit(publish)
