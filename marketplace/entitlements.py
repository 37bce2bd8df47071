"""Entitlements: what lets a tenant install and run a paid plugin, and the tenant-facing use cases.

The run/install RULE is decided in ``installations.authorization.authorize`` (the one authorisation
function), which asks ``entitlement_refusal`` below — registered as an authorization policy in
``settings.ARGUS_HOOKS`` — and this module owns the data it needs:

* A plugin REQUIRES an entitlement exactly when its listing offers at least one current plan and none of
  its current plans is FREE (no listing, or a listing without plans, stays free as before).
* Such a plugin installs and runs for a tenant only while that tenant's entitlement for the listing is
  usable at the instant judged: status TRIALING, ACTIVE or CANCELLED (a cancelled one runs until its paid
  period ends) and ``at < current_period_end`` (exclusive, like grants; a one-time purchase has no end).
  PAST_DUE and EXPIRED entitlements, and none at all, are refused with ENTITLEMENT_REQUIRED.
* Installations are never deleted when an entitlement lapses: they show as ``suspended`` (derived from the
  same rule) and work again as soon as the tenant is entitled again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError, not_found
from argus_plugins.core.flags import MARKETPLACE_PAID, require_feature
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.models import Role, User
from argus_plugins.tenancy.permissions import require_tenant_object_role, require_tenant_role, tenant_ids_of
from installations.authorization import Refusal
from installations.error_codes import RefusalCode
from installations.models import Installation

from . import billing
from .error_codes import MarketplaceErrorCode
from .lifecycle import transition_entitlement
from .listings import get_listing, marketplace_visible
from .models import LIVE_STATUSES, Entitlement, EntitlementEvent, EntitlementStatus, Plan, PricingModel
from .plans import requires_entitlement

S = EntitlementStatus


# ------------------------------------------------------------------------------------------ the rule


def current_entitlement(tenant_id: Any, plugin_id: Any) -> Entitlement | None:
    """The tenant's most recent entitlement for the plugin's listing (the live one if there is one: a new
    entitlement can only start once the previous one has expired)."""
    return (
        Entitlement.objects.filter(tenant_id=tenant_id, listing__plugin_id=plugin_id)
        .select_related("listing__plugin")
        .order_by("-started_at", "-id")
        .first()
    )


def entitlement_refusal(installation: Installation, at: dt.datetime) -> Refusal | None:
    """None when the installation's tenant may use the plugin at ``at`` as far as paying is concerned;
    otherwise the ENTITLEMENT_REQUIRED refusal, saying why."""
    if not requires_entitlement(installation.plugin_id):
        return None
    entitlement = current_entitlement(installation.tenant_id, installation.plugin_id)
    if entitlement is not None and entitlement.is_usable_at(at):
        return None
    if entitlement is None:
        message = (
            "This plugin is sold under paid plans only: the tenant needs an active purchase or subscription "
            "(purchaseListing / subscribeToListing)."
        )
    elif entitlement.status == S.PAST_DUE:
        message = "The tenant's subscription to this plugin is past due: pay the overdue invoice to resume."
    else:
        ended = entitlement.ended_at or entitlement.current_period_end
        when = ended.isoformat() if ended else "an earlier time"
        message = (
            f"The tenant's entitlement to this plugin ended at {when} ({entitlement.status}): "
            "purchase or subscribe again to resume."
        )
    return Refusal(RefusalCode.ENTITLEMENT_REQUIRED, message)


# ------------------------------------------------------------------------------------- tenant actions


def entitlements_visible_to(user: Any) -> QuerySet[Entitlement]:
    return Entitlement.objects.filter(tenant_id__in=tenant_ids_of(user))


def _buyable(actor: User, listing_id: Any, plan_id: Any, kind: PricingModel) -> tuple[Any, Plan]:
    listing = get_listing(actor, listing_id, field="listingId")
    if not marketplace_visible().filter(pk=listing.pk).exists():
        raise DomainError(
            MarketplaceErrorCode.LISTING_NOT_AVAILABLE,
            "This listing is not available in the marketplace.",
            "listingId",
        )
    plan = Plan.objects.filter(pk=parse_uuid(plan_id, field="planId"), listing=listing).first()
    if plan is None:
        raise not_found("Plan", "planId")
    if plan.retired_at is not None:
        raise DomainError(
            MarketplaceErrorCode.PLAN_NOT_AVAILABLE,
            "This plan version is no longer offered: use the current one.",
            "planId",
        )
    if plan.pricing_model != kind:
        verb = {PricingModel.PAID: "purchaseListing", PricingModel.SUBSCRIPTION: "subscribeToListing"}
        hint = (
            "FREE plans need no purchase: install the plugin."
            if plan.pricing_model == PricingModel.FREE
            else (f"Use {verb[PricingModel(plan.pricing_model)]} for this plan.")
        )
        raise DomainError(
            MarketplaceErrorCode.WRONG_PLAN_KIND, f"This is a {plan.pricing_model} plan. {hint}", "planId"
        )
    return listing, plan


def _acquire(actor: User, tenant_id: Any, listing_id: Any, plan_id: Any, kind: PricingModel) -> Entitlement:
    membership = require_tenant_role(actor, tenant_id, Role.ADMIN)
    require_feature(MARKETPLACE_PAID, membership.tenant)
    listing, plan = _buyable(actor, listing_id, plan_id, kind)
    tenant = membership.tenant
    if Entitlement.objects.filter(tenant=tenant, listing=listing, status__in=LIVE_STATUSES).exists():
        raise DomainError(
            MarketplaceErrorCode.ALREADY_ENTITLED,
            "The tenant already holds an entitlement for this listing.",
            "listingId",
        )
    now = clock.now()
    # One trial per tenant and listing: a tenant that held any entitlement before starts paying at once.
    trial = plan.trial_days > 0 and not Entitlement.objects.filter(tenant=tenant, listing=listing).exists()
    fields: dict[str, Any] = {"tenant": tenant, "listing": listing, "plan": plan, "created_by": actor}
    if trial:
        end = now + dt.timedelta(days=plan.trial_days)
        fields.update(status=S.TRIALING, current_period_start=now, current_period_end=end, trial_ends_at=end)
    else:
        anchor, end = billing.first_paid_period(plan, now)
        fields.update(
            status=S.ACTIVE, current_period_start=now, current_period_end=end, billing_anchor=anchor
        )
    try:
        with transaction.atomic():
            entitlement = Entitlement.objects.create(started_at=now, updated_at=now, **fields)
    except IntegrityError:  # a concurrent purchase won
        raise DomainError(
            MarketplaceErrorCode.ALREADY_ENTITLED,
            "The tenant already holds an entitlement for this listing.",
            "listingId",
        ) from None
    EntitlementEvent.objects.create(
        entitlement=entitlement,
        from_status="",
        to_status=entitlement.status,
        actor=actor,
        at=now,
        note=f"{kind} under plan {plan.name} v{plan.version} ({plan.price}).",
    )
    if not trial:
        billing.issue_invoice(entitlement, plan, now, entitlement.current_period_end, now)
    return entitlement


@transaction.atomic
def purchase_listing(*, actor: User, tenant_id: Any, listing_id: Any, plan_id: Any) -> Entitlement:
    """Tenant admins: buy a PAID (one-time) plan. ACTIVE at once with a DUE invoice, or TRIALING first."""
    return _acquire(actor, tenant_id, listing_id, plan_id, PricingModel.PAID)


@transaction.atomic
def subscribe_to_listing(*, actor: User, tenant_id: Any, listing_id: Any, plan_id: Any) -> Entitlement:
    """Tenant admins: subscribe to a SUBSCRIPTION plan (first period invoiced now, or after the trial)."""
    return _acquire(actor, tenant_id, listing_id, plan_id, PricingModel.SUBSCRIPTION)


def get_entitlement(
    user: Any, entitlement_id: Any, role: Role = Role.VIEWER, field: str = "id"
) -> Entitlement:
    entitlement = (
        Entitlement.objects.select_related("plan", "listing__plugin", "tenant")
        .filter(pk=parse_uuid(entitlement_id, field=field))
        .first()
    )
    if entitlement is None:
        raise not_found("Entitlement", field)
    require_tenant_object_role(user, entitlement.tenant_id, role, "Entitlement", field)
    return entitlement


@transaction.atomic
def cancel_subscription(*, actor: User, entitlement_id: Any) -> Entitlement:
    """Stop renewing. A trial or a paid period stays usable until it ends, then EXPIRES; a PAST_DUE
    subscription expires at once (its unpaid invoices are voided). A one-time purchase cannot be cancelled
    (only its trial can)."""
    entitlement = get_entitlement(actor, entitlement_id, Role.ADMIN, field="entitlementId")
    require_feature(MARKETPLACE_PAID, entitlement.tenant)
    entitlement = Entitlement.objects.select_for_update().select_related("plan").get(pk=entitlement.pk)
    now = clock.now()
    if entitlement.plan.pricing_model == PricingModel.PAID and entitlement.status == S.ACTIVE:
        raise DomainError(
            MarketplaceErrorCode.WRONG_PLAN_KIND,
            "A one-time purchase has nothing to cancel.",
            "entitlementId",
        )
    if entitlement.status in (S.CANCELLED, S.EXPIRED):
        raise DomainError(
            MarketplaceErrorCode.INVALID_TRANSITION,
            f"This entitlement is already {entitlement.status}.",
            "entitlementId",
        )
    if entitlement.status == S.PAST_DUE:
        billing.end_unpaid(
            entitlement,
            now,
            note="Cancelled while past due.",
            actor=actor,
            cancelled_at=now,
            cancelled_by=actor,
        )
    else:
        transition_entitlement(
            entitlement,
            S.CANCELLED,
            actor=actor,
            note="Cancelled by the tenant.",
            at=now,
            cancelled_at=now,
            cancelled_by=actor,
        )
    entitlement.refresh_from_db()
    return entitlement
