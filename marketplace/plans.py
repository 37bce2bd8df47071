"""Pricing plans. A plan row is immutable: changing its price creates the next version of the same plan
family and retires the current one, in one transaction; entitlements keep pointing at the version they
were sold under, so tenants already entitled keep their terms."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.core.validation import clean_text
from argus_plugins.tenancy.models import User

from .error_codes import MarketplaceErrorCode
from .listings import publisher_listing
from .models import BillingPeriod, Listing, Plan, PricingModel
from .validation import clean_currency, clean_price, get_or_404

MAX_PLANS_PER_LISTING = 10
MAX_TRIAL_DAYS = 365


def current_plans(listing: Listing | Any = None) -> QuerySet[Plan]:
    plans = Plan.objects.filter(retired_at__isnull=True)
    if listing is not None:
        plans = plans.filter(listing_id=getattr(listing, "pk", listing))
    return plans.order_by("pricing_model", "name", "id")


def requires_entitlement(plugin_id: Any) -> bool:
    """A plugin requires an entitlement exactly when its listing offers at least one current plan and
    none of its current plans is FREE (no listing, or no plans, means free to use as before)."""
    # Asked twice per run (at enqueue and in the worker): one prepared query for the current plans' models.
    pricing = [plan.pricing_model for plan in _CURRENT_PLAN_MODELS.fetch(plugin_id)]
    return bool(pricing) and PricingModel.FREE not in pricing


_CURRENT_PLAN_MODELS = PreparedQuery(
    lambda plugin_id: (
        Plan.objects.filter(listing__plugin_id=plugin_id, retired_at__isnull=True)
        .only("id", "pricing_model")
        .order_by()
    ),
    Listing._meta.get_field("plugin"),
)


def _clean_trial(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TRIAL_DAYS:
        raise DomainError(
            CommonErrorCode.INVALID, f"Trial days must be between 0 and {MAX_TRIAL_DAYS}.", "trialDays"
        )
    return value


def _clean_terms(pricing_model: Any, billing_period: Any, price: Any, currency: Any, trial_days: Any) -> dict:
    if pricing_model not in PricingModel.values:
        raise DomainError(CommonErrorCode.INVALID, "Unknown pricing model.", "pricingModel")
    currency = clean_currency(currency or "USD")
    if pricing_model == PricingModel.FREE:
        if price not in (None, "", "0", 0) or billing_period or trial_days:
            raise DomainError(
                MarketplaceErrorCode.WRONG_PLAN_KIND,
                "A FREE plan has no price, billing period or trial.",
                "pricingModel",
            )
        return {"price": clean_price("0", currency, allow_zero=True), "billing_period": "", "trial_days": 0}
    if pricing_model == PricingModel.SUBSCRIPTION:
        if billing_period not in BillingPeriod.values:
            raise DomainError(
                CommonErrorCode.REQUIRED, "Give the billing period: MONTHLY or YEARLY.", "billingPeriod"
            )
    elif billing_period:
        raise DomainError(
            MarketplaceErrorCode.WRONG_PLAN_KIND, "Only subscriptions have a billing period.", "billingPeriod"
        )
    if price in (None, ""):
        raise DomainError(CommonErrorCode.REQUIRED, "Give the price.", "price")
    return {
        "price": clean_price(price, currency),
        "billing_period": billing_period or "",
        "trial_days": _clean_trial(trial_days),
    }


@transaction.atomic
def create_plan(
    *,
    actor: User,
    listing_id: Any,
    name: Any,
    pricing_model: Any,
    price: Any = None,
    currency: Any = None,
    billing_period: Any = None,
    trial_days: Any = None,
) -> Plan:
    listing = publisher_listing(actor, listing_id)
    name = clean_text(name, field="name", max_length=80)
    terms = _clean_terms(pricing_model, billing_period, price, currency, trial_days)
    Listing.objects.select_for_update().filter(pk=listing.pk).first()  # serialise plan changes per listing
    if current_plans(listing).count() >= MAX_PLANS_PER_LISTING:
        raise DomainError(
            CommonErrorCode.LIMIT_EXCEEDED,
            f"A listing offers at most {MAX_PLANS_PER_LISTING} plans.",
            "listingId",
        )
    return Plan.objects.create(
        listing=listing,
        name=name,
        pricing_model=pricing_model,
        created_by=actor,
        created_at=clock.now(),
        **terms,
    )


@transaction.atomic
def set_plan_price(
    *, actor: User, plan_id: Any, price: Any, currency: Any = None, trial_days: Any = None
) -> Plan:
    """Offer the plan at a new price from now on: a new version; the current one is retired."""
    plan = get_or_404(Plan.objects.select_related("listing"), plan_id, "Plan", "planId")
    publisher_listing(actor, plan.listing_id, field="planId")
    if plan.pricing_model == PricingModel.FREE:
        raise DomainError(MarketplaceErrorCode.WRONG_PLAN_KIND, "A FREE plan has no price.", "planId")
    terms = _clean_terms(
        plan.pricing_model,
        plan.billing_period,
        price,
        currency or plan.price.currency.code,
        plan.trial_days if trial_days is None else trial_days,
    )
    now = clock.now()
    # Conditional retirement: of two concurrent price changes only one finds the version still current.
    if Plan.objects.filter(pk=plan.pk, retired_at__isnull=True).update(retired_at=now) != 1:
        raise DomainError(
            MarketplaceErrorCode.PLAN_NOT_AVAILABLE,
            "This plan version has been replaced: change the current version.",
            "planId",
        )
    try:
        with transaction.atomic():
            return Plan.objects.create(
                listing_id=plan.listing_id,
                family=plan.family,
                version=plan.version + 1,
                name=plan.name,
                pricing_model=plan.pricing_model,
                created_by=actor,
                created_at=now,
                **terms,
            )
    except IntegrityError:
        raise DomainError(
            CommonErrorCode.CONFLICT, "The plan changed concurrently; try again.", "planId"
        ) from None
