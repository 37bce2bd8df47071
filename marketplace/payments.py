"""The payment-provider interface. Collecting money is not the platform's business: a provider turns a
billed period into an invoice (and, for a real provider, a charge), and reports payments back through
``marketplace.billing.record_payment``.

The provider is chosen by ``settings.ARGUS_MARKETPLACE_PAYMENT_PROVIDER`` (a dotted path to a class);
the default, ``RecordOnlyProvider``, records each invoice as DUE and collects nothing.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.module_loading import import_string
from moneyed import Money

from .models import Entitlement, Invoice, InvoiceSequence, InvoiceStatus, Plan

DEFAULT_PROVIDER = "marketplace.payments.RecordOnlyProvider"


@dataclass(frozen=True)
class InvoiceRequest:
    """One period (or one-time purchase) to bill."""

    entitlement: Entitlement
    plan: Plan
    amount: Money
    period_start: dt.datetime
    period_end: dt.datetime | None
    issued_at: dt.datetime


class PaymentProvider(abc.ABC):
    """Called inside the transaction that opens the billed period. It must write the Invoice row in that
    transaction (``record_invoice`` does) and start any outside effect (a card charge, an e-mail) with
    ``transaction.on_commit``, so a rolled-back renewal never charges anybody."""

    @abc.abstractmethod
    def issue_invoice(self, request: InvoiceRequest) -> Invoice: ...


class RecordOnlyProvider(PaymentProvider):
    """Records the invoice as DUE; payment happens outside the platform and is recorded with
    ``marketplace.billing.record_payment``."""

    def issue_invoice(self, request: InvoiceRequest) -> Invoice:
        return record_invoice(request, provider=f"{type(self).__module__}.{type(self).__qualname__}")


@cache
def _provider_class(path: str) -> type[PaymentProvider]:
    cls = import_string(path)
    if not (isinstance(cls, type) and issubclass(cls, PaymentProvider)):
        raise TypeError(f"{path} is not a marketplace.payments.PaymentProvider")
    return cls


def get_provider() -> PaymentProvider:
    return _provider_class(getattr(settings, "ARGUS_MARKETPLACE_PAYMENT_PROVIDER", DEFAULT_PROVIDER))()


def next_invoice_number(issued_at: dt.datetime) -> str:
    """``INV-<year>-<000001…>``: sequential per UTC year, gap-free among committed invoices. The year's row
    is incremented with F() while locked, so concurrent billing never hands out a number twice."""
    year = issued_at.astimezone(dt.UTC).year
    if not InvoiceSequence.objects.filter(year=year).exists():
        try:
            with transaction.atomic():
                InvoiceSequence.objects.create(year=year)
        except IntegrityError:
            pass  # created concurrently
    sequence = InvoiceSequence.objects.select_for_update().get(year=year)
    InvoiceSequence.objects.filter(pk=sequence.pk).update(last_number=F("last_number") + 1)
    number = InvoiceSequence.objects.values_list("last_number", flat=True).get(pk=sequence.pk)
    return f"INV-{year}-{number:06d}"


def record_invoice(request: InvoiceRequest, *, provider: str, reference: str = "") -> Invoice:
    """Write the invoice row, DUE, payable within ``ARGUS_MARKETPLACE_INVOICE_DUE_DAYS``."""
    due_days = getattr(settings, "ARGUS_MARKETPLACE_INVOICE_DUE_DAYS", 7)
    return Invoice.objects.create(
        number=next_invoice_number(request.issued_at),
        tenant_id=request.entitlement.tenant_id,
        entitlement=request.entitlement,
        plan=request.plan,
        amount=request.amount,
        period_start=request.period_start,
        period_end=request.period_end,
        status=InvoiceStatus.DUE,
        issued_at=request.issued_at,
        due_at=request.issued_at + dt.timedelta(days=due_days),
        provider=provider,
        provider_reference=reference,
    )
