"""The entitlement state machine: one table, one function applying it with a conditional update.

    TRIALING ──trial ends (first invoice)──▶ ACTIVE ──invoice overdue──▶ PAST_DUE ──paid──▶ ACTIVE
    TRIALING, ACTIVE ──cancel──▶ CANCELLED ──period ends──▶ EXPIRED
    PAST_DUE ──unpaid past the grace period, or cancel──▶ EXPIRED

Repeating a transition to the status the entitlement already has is a no-op (idempotent), so a billing
task delivered twice changes nothing the second time; every other move not in the table is refused.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError

from .error_codes import MarketplaceErrorCode
from .models import Entitlement, EntitlementEvent, EntitlementStatus

S = EntitlementStatus
ENTITLEMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    S.TRIALING: frozenset({S.ACTIVE, S.CANCELLED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.CANCELLED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.EXPIRED}),
    S.CANCELLED: frozenset({S.EXPIRED}),
    S.EXPIRED: frozenset(),
}


def can_transition(current: str, to_status: str) -> bool:
    return to_status in ENTITLEMENT_TRANSITIONS[current]


@transaction.atomic
def transition_entitlement(
    entitlement: Entitlement,
    to_status: EntitlementStatus,
    *,
    actor: Any = None,
    note: str = "",
    at: dt.datetime | None = None,
    **fields: Any,
) -> Entitlement:
    """Move ``entitlement`` to ``to_status`` if the table allows it, with the columns that change along
    (``fields``), and record the event. Raises INVALID_TRANSITION naming the current status otherwise."""
    at = at or clock.now()
    current = Entitlement.objects.filter(pk=entitlement.pk).values_list("status", flat=True).first()
    if current == to_status:
        entitlement.refresh_from_db()
        return entitlement
    if current is None or not can_transition(current, to_status):
        raise DomainError(
            MarketplaceErrorCode.INVALID_TRANSITION,
            f"Cannot move this entitlement from {current or '?'} to {to_status}.",
            "id",
        )
    updated = Entitlement.objects.filter(pk=entitlement.pk, status=current).update(
        status=to_status, updated_at=at, **fields
    )
    if updated != 1:  # another transaction moved it first
        raise DomainError(
            MarketplaceErrorCode.INVALID_TRANSITION, "The entitlement changed concurrently; try again.", "id"
        )
    EntitlementEvent.objects.create(
        entitlement=entitlement, from_status=current, to_status=to_status, actor=actor, note=note[:500], at=at
    )
    entitlement.refresh_from_db()
    return entitlement
