"""Billing: subscription periods, invoices through the payment provider, and the periodic cycle.

THE POLICY (run by the ``marketplace.billing_cycle`` beat task, every few minutes; each step is done per
entitlement in its own transaction, on a locked row whose state is checked again, so a redelivered or
overlapping task changes nothing twice):

1. **Overdue → PAST_DUE.** An ACTIVE entitlement with an invoice still DUE at its ``due_at``
   (issue + ``ARGUS_MARKETPLACE_INVOICE_DUE_DAYS``, default 7) becomes PAST_DUE: runs are refused and its
   installations show as suspended. Paying (``record_payment``) makes it ACTIVE again.
2. **Unpaid → EXPIRED.** A PAST_DUE entitlement whose oldest overdue invoice is still unpaid
   ``ARGUS_MARKETPLACE_PAST_DUE_DAYS`` (default 14) after its due date expires; its unpaid invoices are
   voided.
3. **Trials end.** A TRIALING entitlement whose trial ends (within the renewal lead, below) becomes ACTIVE
   with its first invoice: a subscription's first period starts when the trial ends; a one-time purchase
   is then ACTIVE with no end.
4. **Renewals.** An ACTIVE subscription whose period ends within ``ARGUS_MARKETPLACE_RENEWAL_LEAD``
   (default 1 hour, so paying tenants never see a gap between periods) gets a new invoice and the next
   period, which starts where the last one ended (calendar months/years from the billing anchor, the day
   clamped to the month's length). If the period ended long ago (e.g. it was past due and paid late), the
   new period starts now instead: a tenant is never billed for time it could not use.
5. **Cancelled → EXPIRED.** A CANCELLED entitlement expires when its period ends (it stays usable until
   then). Cancelling a PAST_DUE entitlement expires it at once.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Min, Q

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError, not_found
from argus_plugins.core.validation import clean_text, parse_uuid

from .lifecycle import transition_entitlement
from .models import (
    BillingPeriod,
    Entitlement,
    EntitlementEvent,
    EntitlementStatus,
    Invoice,
    InvoiceStatus,
    Plan,
    PricingModel,
)
from .payments import InvoiceRequest, get_provider

logger = logging.getLogger(__name__)
S = EntitlementStatus


def _setting_days(name: str, default: int) -> dt.timedelta:
    return dt.timedelta(days=getattr(settings, name, default))


def renewal_lead() -> dt.timedelta:
    return getattr(settings, "ARGUS_MARKETPLACE_RENEWAL_LEAD", dt.timedelta(hours=1))


# ------------------------------------------------------------------------------------------- periods


def add_months(instant: dt.datetime, months: int) -> dt.datetime:
    """Calendar months later, the day clamped to the target month's length (31 Jan + 1 = 28/29 Feb)."""
    index = instant.month - 1 + months
    year, month = instant.year + index // 12, index % 12 + 1
    return instant.replace(year=year, month=month, day=min(instant.day, calendar.monthrange(year, month)[1]))


def period_months(billing_period: str) -> int:
    return 12 if billing_period == BillingPeriod.YEARLY else 1


def next_period_end(anchor: dt.datetime, billing_period: str, after: dt.datetime) -> dt.datetime:
    """The first period boundary (anchor + k periods, k ≥ 1) strictly after ``after``."""
    step = period_months(billing_period)
    months = (after.year - anchor.year) * 12 + (after.month - anchor.month)
    k = max(1, months // step)
    while add_months(anchor, k * step) <= after:
        k += 1
    while k > 1 and add_months(anchor, (k - 1) * step) > after:
        k -= 1
    return add_months(anchor, k * step)


# ------------------------------------------------------------------------------------------ invoices


def issue_invoice(
    entitlement: Entitlement,
    plan: Plan,
    period_start: dt.datetime,
    period_end: dt.datetime | None,
    now: dt.datetime,
) -> Invoice:
    """Bill one period through the configured provider (inside the caller's transaction)."""
    request = InvoiceRequest(
        entitlement=entitlement,
        plan=plan,
        amount=plan.price,
        period_start=period_start,
        period_end=period_end,
        issued_at=now,
    )
    return get_provider().issue_invoice(request)


def first_paid_period(plan: Plan, start: dt.datetime) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(billing anchor, period end) of the first paid period starting at ``start``."""
    if plan.pricing_model == PricingModel.SUBSCRIPTION:
        return start, next_period_end(start, plan.billing_period, start)
    return None, None  # a one-time purchase has no end


@transaction.atomic
def record_payment(*, invoice_id: Any, reference: Any = "", paid_at: dt.datetime | None = None) -> Invoice:
    """A provider (webhook) or an operator reports an invoice paid. A PAST_DUE entitlement with nothing
    else overdue becomes ACTIVE again."""
    now = clock.now()
    paid_at = paid_at or now
    reference = clean_text(reference, field="reference", max_length=200, required=False)
    invoice = Invoice.objects.filter(pk=parse_uuid(invoice_id, field="invoiceId")).first()
    if invoice is None:
        raise not_found("Invoice", "invoiceId")
    updated = Invoice.objects.filter(pk=invoice.pk, status=InvoiceStatus.DUE).update(
        status=InvoiceStatus.PAID, paid_at=paid_at, provider_reference=reference or invoice.provider_reference
    )
    if updated != 1:
        raise DomainError(
            CommonErrorCode.INVALID_STATE, f"The invoice is {invoice.status}, not DUE.", "invoiceId"
        )
    entitlement = Entitlement.objects.select_for_update().get(pk=invoice.entitlement_id)
    still_overdue = entitlement.invoices.filter(status=InvoiceStatus.DUE, due_at__lte=now).exists()
    if entitlement.status == S.PAST_DUE and not still_overdue:
        transition_entitlement(entitlement, S.ACTIVE, note=f"Invoice {invoice.number} paid.", at=now)
    invoice.refresh_from_db()
    return invoice


# ------------------------------------------------------------------------------------------ the cycle


def _mark_past_due(entitlement: Entitlement, now: dt.datetime) -> bool:
    overdue = (
        entitlement.invoices.filter(status=InvoiceStatus.DUE, due_at__lte=now).order_by("due_at").first()
    )
    if entitlement.status != S.ACTIVE or overdue is None:
        return False
    transition_entitlement(entitlement, S.PAST_DUE, note=f"Invoice {overdue.number} is overdue.", at=now)
    return True


def _expire_unpaid(entitlement: Entitlement, now: dt.datetime) -> bool:
    oldest = entitlement.invoices.filter(status=InvoiceStatus.DUE).aggregate(due=Min("due_at"))["due"]
    grace = _setting_days("ARGUS_MARKETPLACE_PAST_DUE_DAYS", 14)
    if entitlement.status != S.PAST_DUE or oldest is None or oldest + grace > now:
        return False
    end_unpaid(entitlement, now, note="Expired: invoice unpaid past the grace period.")
    return True


def end_unpaid(
    entitlement: Entitlement, now: dt.datetime, *, note: str, actor: Any = None, **fields: Any
) -> None:
    """PAST_DUE → EXPIRED, voiding its unpaid invoices (written off)."""
    transition_entitlement(entitlement, S.EXPIRED, actor=actor, note=note, at=now, ended_at=now, **fields)
    entitlement.invoices.filter(status=InvoiceStatus.DUE).update(status=InvoiceStatus.VOID, voided_at=now)


def _end_trial(entitlement: Entitlement, now: dt.datetime) -> bool:
    end = entitlement.current_period_end
    if entitlement.status != S.TRIALING or end is None or end > now + renewal_lead():
        return False
    plan = entitlement.plan
    anchor, period_end = first_paid_period(plan, end)
    issue_invoice(entitlement, plan, end, period_end, now)
    transition_entitlement(
        entitlement,
        S.ACTIVE,
        note="Trial ended: first invoice issued.",
        at=now,
        current_period_start=end,
        current_period_end=period_end,
        billing_anchor=anchor,
    )
    return True


def _renew(entitlement: Entitlement, now: dt.datetime) -> bool:
    plan = entitlement.plan
    old_end = entitlement.current_period_end
    if (
        entitlement.status != S.ACTIVE
        or plan.pricing_model != PricingModel.SUBSCRIPTION
        or old_end is None
        or old_end > now + renewal_lead()
    ):
        return False
    anchor = entitlement.billing_anchor or entitlement.current_period_start
    start, end = old_end, next_period_end(anchor, plan.billing_period, old_end)
    if end <= now:  # lapsed long ago (paid late): restart the cycle from now
        anchor, start = now, now
        end = next_period_end(anchor, plan.billing_period, now)
    issue_invoice(entitlement, plan, start, end, now)
    updated = Entitlement.objects.filter(
        pk=entitlement.pk, status=S.ACTIVE, current_period_end=old_end
    ).update(current_period_start=start, current_period_end=end, billing_anchor=anchor, updated_at=now)
    if updated != 1:
        raise IntegrityError("entitlement renewed concurrently")
    EntitlementEvent.objects.create(
        entitlement=entitlement,
        from_status=S.ACTIVE,
        to_status=S.ACTIVE,
        note=f"Renewed until {end.isoformat()}.",
        at=now,
    )
    return True


def _expire_cancelled(entitlement: Entitlement, now: dt.datetime) -> bool:
    end = entitlement.current_period_end
    if entitlement.status != S.CANCELLED or (end is not None and end > now):
        return False
    transition_entitlement(
        entitlement, S.EXPIRED, note="Cancelled; the paid period ended.", at=now, ended_at=end or now
    )
    return True


#: (step name, candidate filter, handler) in the order they run.
def _steps(now: dt.datetime) -> list[tuple[str, Q, Any]]:
    lead = now + renewal_lead()
    return [
        (
            "past_due",
            Q(status=S.ACTIVE, invoices__status=InvoiceStatus.DUE, invoices__due_at__lte=now),
            _mark_past_due,
        ),
        ("expired_unpaid", Q(status=S.PAST_DUE), _expire_unpaid),
        ("trials_ended", Q(status=S.TRIALING, current_period_end__lte=lead), _end_trial),
        (
            "renewed",
            Q(status=S.ACTIVE, plan__pricing_model=PricingModel.SUBSCRIPTION, current_period_end__lte=lead),
            _renew,
        ),
        ("cancelled_expired", Q(status=S.CANCELLED, current_period_end__lte=now), _expire_cancelled),
    ]


def run_billing_cycle(now: dt.datetime | None = None, *, batch: int = 500) -> dict[str, int]:
    """Apply the policy above once; returns how many entitlements each step changed."""
    now = now or clock.now()
    counts: dict[str, int] = {}
    for name, candidates, handler in _steps(now):
        counts[name] = 0
        ids = list(Entitlement.objects.filter(candidates).values_list("pk", flat=True).distinct()[:batch])
        for entitlement_id in ids:
            try:
                with transaction.atomic():
                    entitlement = (
                        Entitlement.objects.select_for_update()
                        .select_related("plan")
                        .filter(pk=entitlement_id)
                        .first()
                    )
                    if entitlement is not None and handler(entitlement, now):
                        counts[name] += 1
            except (DomainError, IntegrityError) as error:  # changed meanwhile: the next cycle sees it
                logger.warning("Billing step %s skipped entitlement %s: %s", name, entitlement_id, error)
    return counts
