"""Celery tasks of the ledger. Task bodies call plain functions."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task
from django.conf import settings

from argus_plugins.core import clock

from . import checkpoints, services

logger = logging.getLogger(__name__)


@shared_task(name="ledger.issue_checkpoint", acks_late=True, soft_time_limit=50, time_limit=55)
def issue_checkpoint() -> int | None:
    """Beat, every ``ARGUS_LEDGER_CHECKPOINT_INTERVAL_SECONDS``: sign a checkpoint if the tree grew.

    Returns the checkpointed size (None when nothing was issued). A redelivered or doubled run within the
    interval issues nothing: the interval is a ceiling on how often witnesses must cosign.
    """
    latest = checkpoints.latest_checkpoint()
    interval = dt.timedelta(seconds=settings.ARGUS_LEDGER_CHECKPOINT_INTERVAL_SECONDS)
    # 5 s of slack: beat's own jitter must not make every other tick a no-op.
    if latest is not None and clock.now() - latest.created_at < interval - dt.timedelta(seconds=5):
        return None
    try:
        issued = checkpoints.issue_checkpoint()
    except checkpoints.LogKeyMissingError as exc:
        logger.warning("%s", exc)
        return None
    if issued is None or (latest is not None and issued.pk == latest.pk):
        return None
    return issued.tree_size


@shared_task(name="ledger.link_pending_entries", acks_late=True, soft_time_limit=50, time_limit=55)
def link_pending_entries() -> int:
    """Beat, every ``ARGUS_LEDGER_LINK_INTERVAL_SECONDS``: the safety net of linking after commit.

    Each finished run's entry is linked right after its commit by the process that wrote it; one whose
    process died in between stays pending until this task links it. Returns how many it linked (normally
    0). Idempotent: a doubled or redelivered run finds nothing left.
    """
    linked = services.link_pending_entries()
    if linked:
        logger.warning("Linked %d ledger entries left pending by a process that died after commit.", linked)
    return linked
