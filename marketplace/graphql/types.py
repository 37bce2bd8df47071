from __future__ import annotations

import decimal
import functools
from typing import Any, NamedTuple

import graphene
from graphene_django import DjangoObjectType

from argus_plugins.core import clock
from argus_plugins.core.graphql.connections import CountableConnection, connection_args, resolve_connection
from argus_plugins.core.graphql.execution import source_only
from argus_plugins.tenancy.permissions import tenant_ids_of
from execution.graphql.types import ExecutionStatusEnum
from registry.graphql.types import PluginType, PluginVersionType, PublisherType
from registry.models import PluginVersion, PublisherMembership

from .. import analytics
from ..listings import trusted_published_versions
from ..models import (
    SUPPORTED_CURRENCIES,
    BillingPeriod,
    Entitlement,
    EntitlementStatus,
    Invoice,
    InvoiceStatus,
    Listing,
    ListingModerationEvent,
    ListingStats,
    ModerationAction,
    Plan,
    PricingModel,
    Review,
    ReviewReply,
    ReviewRevision,
)
from ..plans import current_plans
from ..reviews import RatingSummary, rating_summary, visible_reviews

PricingModelEnum = graphene.Enum.from_enum(PricingModel, name="PricingModel")
BillingPeriodEnum = graphene.Enum.from_enum(BillingPeriod, name="BillingPeriod")
EntitlementStatusEnum = graphene.Enum.from_enum(EntitlementStatus, name="EntitlementStatus")
InvoiceStatusEnum = graphene.Enum.from_enum(InvoiceStatus, name="InvoiceStatus")
ModerationActionEnum = graphene.Enum.from_enum(ModerationAction, name="ListingModerationAction")


def _is_publisher_member(info: graphene.ResolveInfo, publisher_id: Any) -> bool:
    """Cached per request: is the caller a member of this publisher?"""
    cache = getattr(info.context, "_marketplace_publishers", None)
    if cache is None:
        user = info.context.user
        cache = set(PublisherMembership.objects.filter(user=user).values_list("publisher_id", flat=True))
        info.context._marketplace_publishers = cache
    return publisher_id in cache


def _caller_tenants(info: graphene.ResolveInfo) -> set[Any]:
    cache = getattr(info.context, "_marketplace_tenants", None)
    if cache is None:
        cache = set(tenant_ids_of(info.context.user))
        info.context._marketplace_tenants = cache
    return cache


class ShownMoney(NamedTuple):
    """A djmoney ``Money`` as the Money type shows it (read by graphene's default resolver: a page's plans
    cost no resolver call per field)."""

    amount: str
    currency: str


#: The quantum of each number of minor-unit digits (0 to 3).
_QUANTA = {digits: decimal.Decimal(1).scaleb(-digits) for digits in range(4)}


def shown_money(money: Any) -> ShownMoney:
    """The exact amount with the currency's minor-unit digits (e.g. "19.99", "1500"), and the ISO code."""
    return _shown_amount(money.amount, money.currency.code)


def _shown_amount(amount: decimal.Decimal, code: str) -> ShownMoney:
    return _shown_amount_of_sign(amount, code, amount.is_signed())


@functools.lru_cache(maxsize=4096)  # a catalogue shows the same few prices again and again
def _shown_amount_of_sign(amount: decimal.Decimal, code: str, signed: bool) -> ShownMoney:
    # Equal amounts (19.9, 19.90) share an entry, as quantizing makes them the same string; 0 and -0 are
    # equal too but are not written alike, hence the sign in the key.
    digits = SUPPORTED_CURRENCIES.get(code, 2)
    quantum = _QUANTA.get(digits) or decimal.Decimal(1).scaleb(-digits)
    return ShownMoney(str(amount.quantize(quantum)), code)


def shown_price(plan: Plan) -> ShownMoney:
    """The plan's price as :func:`shown_money` shows it. A plan built from a page's rows
    (argus_plugins.core.row_instances) holds its amount as loaded, and django-money makes a ``Money`` of it on
    the first read of ``plan.price`` (about 4 µs, twice per listing of a page): the shown amount is made
    from the amount and the currency column directly then."""
    amount = plan.__dict__.get("price")
    if type(amount) is decimal.Decimal and amount.is_finite() and plan.price_currency:
        return _shown_amount(amount, plan.price_currency)
    return shown_money(plan.price)


class MoneyType(graphene.ObjectType):  # resolved from a ShownMoney (see shown_money)
    amount = graphene.String(required=True, description='Exact decimal amount, e.g. "19.99".')
    currency = graphene.String(required=True, description="ISO 4217 code.")

    class Meta:
        name = "Money"


class PlanType(DjangoObjectType):
    pricing_model = graphene.Field(PricingModelEnum, required=True)
    billing_period = graphene.Field(BillingPeriodEnum, description="Subscriptions only.")
    price = graphene.Field(MoneyType, required=True)
    family = graphene.ID(required=True, description="Shared by every version of this plan.")
    current = graphene.Boolean(required=True, description="Offered now (not replaced by a newer version).")

    class Meta:
        model = Plan
        name = "Plan"
        fields = ("id", "name", "version", "trial_days", "created_at", "retired_at")

    @staticmethod
    @source_only
    def resolve_price(plan: Plan, info: graphene.ResolveInfo) -> ShownMoney:
        return shown_price(plan)

    @staticmethod
    @source_only
    def resolve_billing_period(plan: Plan, info: graphene.ResolveInfo) -> str | None:
        return plan.billing_period or None

    @staticmethod
    @source_only
    def resolve_current(plan: Plan, info: graphene.ResolveInfo) -> bool:
        return plan.is_current


class StarCount(NamedTuple):
    stars: int
    count: int


class StarCountType(graphene.ObjectType):
    stars = graphene.Int(required=True)
    count = graphene.Int(required=True)


class ShownRatingSummary(NamedTuple):
    """A listing's rating summary as the RatingSummary type shows it: every field read by graphene's default
    resolver, the distribution as plain tuples (a page shows five per listing)."""

    average: float | None
    count: int
    distribution: list[StarCount]


def shown_rating_summary(summary: RatingSummary) -> ShownRatingSummary:
    distribution = [StarCount(stars, count) for stars, count in sorted(summary.distribution.items())]
    return ShownRatingSummary(summary.average, summary.count, distribution)


class RatingSummaryType(graphene.ObjectType):  # resolved from a ShownRatingSummary
    average = graphene.Float(description="Mean rating of the visible reviews; null without reviews.")
    count = graphene.Int(required=True)
    distribution = graphene.List(graphene.NonNull(StarCountType), required=True, description="1 to 5 stars.")


class ReviewReplyType(DjangoObjectType):
    class Meta:
        model = ReviewReply
        name = "ReviewReply"
        fields = ("body", "created_at")


class ReviewRevisionType(DjangoObjectType):
    version = graphene.String(required=True)

    class Meta:
        model = ReviewRevision
        name = "ReviewRevision"
        fields = ("rating", "title", "body", "written_at", "replaced_at")

    @staticmethod
    def resolve_version(revision: ReviewRevision, info: graphene.ResolveInfo) -> str:
        return revision.version.version


class ReviewType(DjangoObjectType):
    """A tenant's review. Reviewers stay anonymous: neither the tenant nor the author is exposed."""

    version = graphene.String(required=True, description="The plugin version reviewed.")
    verified = graphene.Boolean(
        required=True, description="Written by a tenant that ran the plugin successfully."
    )
    mine = graphene.Boolean(required=True, description="Written by one of the caller's tenants.")
    reply = graphene.Field(ReviewReplyType, description="The publisher's reply.")
    hidden = graphene.Boolean(required=True)
    hidden_reason = graphene.String(description="Staff only.")
    revisions = graphene.List(
        graphene.NonNull(ReviewRevisionType),
        required=True,
        description="Earlier content, oldest first (the review's tenant and staff only).",
    )

    class Meta:
        model = Review
        name = "Review"
        fields = ("id", "rating", "title", "body", "created_at", "updated_at")

    @staticmethod
    def resolve_version(review: Review, info: graphene.ResolveInfo) -> str:
        return review.version.version

    @staticmethod
    def resolve_verified(review: Review, info: graphene.ResolveInfo) -> bool:
        return review.verified_at is not None

    @staticmethod
    def resolve_mine(review: Review, info: graphene.ResolveInfo) -> bool:
        return review.tenant_id in _caller_tenants(info)

    @staticmethod
    def resolve_reply(review: Review, info: graphene.ResolveInfo) -> ReviewReply | None:
        try:
            return review.reply
        except ReviewReply.DoesNotExist:
            return None

    @staticmethod
    def resolve_hidden(review: Review, info: graphene.ResolveInfo) -> bool:
        return review.is_hidden

    @staticmethod
    def resolve_hidden_reason(review: Review, info: graphene.ResolveInfo) -> str | None:
        return review.hidden_reason if info.context.user.is_staff and review.is_hidden else None

    @staticmethod
    def resolve_revisions(review: Review, info: graphene.ResolveInfo) -> list[ReviewRevision]:
        if not (info.context.user.is_staff or review.tenant_id in _caller_tenants(info)):
            return []
        return list(review.revisions.select_related("version").order_by("replaced_at", "id"))


class ReviewConnection(CountableConnection):
    class Meta:
        node = ReviewType


class ListingModerationEventType(DjangoObjectType):
    action = graphene.Field(ModerationActionEnum, required=True)
    actor = graphene.String(required=True)

    class Meta:
        model = ListingModerationEvent
        name = "ListingModerationEvent"
        fields = ("reason", "at")

    @staticmethod
    def resolve_actor(event: ListingModerationEvent, info: graphene.ResolveInfo) -> str:
        return event.actor.username


def _page_stats(listing: Listing) -> ListingStats | None:
    """The listing's stats row, joined in by browse.with_page_relations (None for a listing without one)."""
    try:
        return listing.stats
    except ListingStats.DoesNotExist:
        return None


def _latest_version(listing: Listing) -> PluginVersion | None:
    stats = _page_stats(listing)
    if stats is not None:
        return stats.latest_version
    return (
        trusted_published_versions()
        .filter(plugin_id=listing.plugin_id)
        .select_related("signing_key")
        .order_by("-precedence_key")
        .first()
    )


class ListingType(DjangoObjectType):
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    plugin = graphene.Field(PluginType, required=True)
    publisher = graphene.Field(PublisherType, required=True)
    categories = graphene.List(graphene.NonNull(graphene.String), required=True)
    tags = graphene.List(graphene.NonNull(graphene.String), required=True)
    description = graphene.String(required=True, description="Markdown source.")
    description_html = graphene.String(
        required=True, description="The description rendered to sanitised HTML (no raw HTML, no scripts)."
    )
    plans = graphene.List(graphene.NonNull(PlanType), required=True, description="Plans offered now.")
    pricing_models = graphene.List(graphene.NonNull(PricingModelEnum), required=True)
    requires_entitlement = graphene.Boolean(
        required=True, description="No FREE plan: installing and running need a purchase or subscription."
    )
    rating_summary = graphene.Field(RatingSummaryType, required=True)
    latest_version = graphene.Field(PluginVersionType, description="Newest published, trusted version.")
    required_capabilities = graphene.List(
        graphene.NonNull(graphene.String), required=True, description="Requested by the latest version."
    )
    reviews = graphene.Field(ReviewConnection, required=True, **connection_args())
    delisted = graphene.Boolean(required=True)
    delisted_reason = graphene.String(description="Staff and the publisher only.")
    moderation_history = graphene.List(
        graphene.NonNull(ListingModerationEventType), required=True, description="Staff only."
    )

    class Meta:
        model = Listing
        name = "Listing"
        fields = (
            "id",
            "tagline",
            "documentation_url",
            "support_url",
            "icon_url",
            "delisted_at",
            "created_at",
            "updated_at",
        )

    @staticmethod
    @source_only
    def resolve_slug(listing: Listing, info: graphene.ResolveInfo) -> str:
        return listing.plugin.slug

    @staticmethod
    @source_only
    def resolve_name(listing: Listing, info: graphene.ResolveInfo) -> str:
        return listing.plugin.name

    @staticmethod
    @source_only
    def resolve_publisher(listing: Listing, info: graphene.ResolveInfo) -> Any:
        return listing.plugin.publisher

    @staticmethod
    @source_only
    def resolve_plans(listing: Listing, info: graphene.ResolveInfo) -> list[Plan]:
        prefetched = getattr(listing, "current_plans", None)
        if prefetched is not None:
            return prefetched

        return list(current_plans(listing))

    @staticmethod
    @source_only
    def resolve_pricing_models(listing: Listing, info: graphene.ResolveInfo) -> list[str]:
        plans = ListingType.resolve_plans(listing, info)
        return sorted({plan.pricing_model for plan in plans})

    @staticmethod
    @source_only
    def resolve_requires_entitlement(listing: Listing, info: graphene.ResolveInfo) -> bool:
        plans = ListingType.resolve_plans(listing, info)
        return bool(plans) and all(plan.pricing_model != PricingModel.FREE for plan in plans)

    @staticmethod
    @source_only
    def resolve_rating_summary(listing: Listing, info: graphene.ResolveInfo) -> ShownRatingSummary:
        stats = _page_stats(listing)
        if stats is None:
            return shown_rating_summary(rating_summary(listing))
        # Kept in the review writes' transactions (marketplace.stats): no query per listing of a page.
        distribution = [
            StarCount(1, stats.stars_1),
            StarCount(2, stats.stars_2),
            StarCount(3, stats.stars_3),
            StarCount(4, stats.stars_4),
            StarCount(5, stats.stars_5),
        ]
        return ShownRatingSummary(stats.rating_average, stats.rating_count, distribution)

    @staticmethod
    @source_only
    def resolve_latest_version(listing: Listing, info: graphene.ResolveInfo) -> PluginVersion | None:
        return _latest_version(listing)

    @staticmethod
    @source_only
    def resolve_required_capabilities(listing: Listing, info: graphene.ResolveInfo) -> list[str]:
        version = _latest_version(listing)
        return sorted(version.capabilities) if version is not None else []

    @staticmethod
    def resolve_reviews(listing: Listing, info: graphene.ResolveInfo, **page: Any) -> ReviewConnection:
        reviews = (
            visible_reviews(info.context.user)
            .filter(listing=listing)
            .select_related("version", "reply")
            .order_by("-created_at", "id")
        )
        return resolve_connection(ReviewConnection, reviews, **page)

    @staticmethod
    @source_only
    def resolve_delisted(listing: Listing, info: graphene.ResolveInfo) -> bool:
        return listing.is_delisted

    @staticmethod
    def resolve_delisted_reason(listing: Listing, info: graphene.ResolveInfo) -> str | None:
        user = info.context.user
        if not listing.is_delisted:
            return None
        if user.is_staff or _is_publisher_member(info, listing.plugin.publisher_id):
            return listing.delisted_reason
        return None

    @staticmethod
    def resolve_moderation_history(
        listing: Listing, info: graphene.ResolveInfo
    ) -> list[ListingModerationEvent]:
        if not info.context.user.is_staff:
            return []
        return list(listing.moderation_events.select_related("actor").order_by("at", "id"))


class ListingConnection(CountableConnection):
    class Meta:
        node = ListingType


class InvoiceType(DjangoObjectType):
    amount = graphene.Field(MoneyType, required=True)
    status = graphene.Field(InvoiceStatusEnum, required=True)
    plan = graphene.Field(PlanType, required=True)
    listing = graphene.Field(ListingType, required=True)
    entitlement_id = graphene.ID(required=True)

    class Meta:
        model = Invoice
        name = "Invoice"
        fields = ("id", "number", "period_start", "period_end", "issued_at", "due_at", "paid_at", "voided_at")

    @staticmethod
    def resolve_amount(invoice: Invoice, info: graphene.ResolveInfo) -> ShownMoney:
        return shown_money(invoice.amount)

    @staticmethod
    def resolve_listing(invoice: Invoice, info: graphene.ResolveInfo) -> Listing:
        return invoice.entitlement.listing

    @staticmethod
    def resolve_entitlement_id(invoice: Invoice, info: graphene.ResolveInfo) -> Any:
        return invoice.entitlement_id


class InvoiceConnection(CountableConnection):
    class Meta:
        node = InvoiceType


class EntitlementType(DjangoObjectType):
    status = graphene.Field(EntitlementStatusEnum, required=True)
    tenant_id = graphene.ID(required=True)
    listing = graphene.Field(ListingType, required=True)
    plan = graphene.Field(PlanType, required=True, description="The plan version whose terms apply.")
    usable = graphene.Boolean(
        required=True, description="Installs and runs are allowed under it right now (UTC)."
    )

    class Meta:
        model = Entitlement
        name = "Entitlement"
        fields = (
            "id",
            "started_at",
            "current_period_start",
            "current_period_end",
            "trial_ends_at",
            "cancelled_at",
            "ended_at",
        )

    @staticmethod
    def resolve_tenant_id(entitlement: Entitlement, info: graphene.ResolveInfo) -> Any:
        return entitlement.tenant_id

    @staticmethod
    def resolve_usable(entitlement: Entitlement, info: graphene.ResolveInfo) -> bool:
        return entitlement.is_usable_at(clock.now())


class EntitlementConnection(CountableConnection):
    class Meta:
        node = EntitlementType


# -------------------------------------------------------------------------------------------- analytics


class StatusCountType(graphene.ObjectType):
    status = graphene.Field(ExecutionStatusEnum, required=True)
    count = graphene.Int(required=True)


class ExecutionFiguresType(graphene.ObjectType):
    suppressed = graphene.Boolean(
        required=True, description="Fewer distinct tenants than the threshold: every figure is null."
    )
    total = graphene.Int()
    by_status = graphene.List(graphene.NonNull(StatusCountType))
    success_rate = graphene.Float(description="SUCCEEDED / executions in a terminal status.")
    p50_duration_ms = graphene.Float()
    p95_duration_ms = graphene.Float()

    @staticmethod
    def resolve_by_status(figures: analytics.ExecutionFigures, info: graphene.ResolveInfo) -> Any:
        if figures.by_status is None:
            return None
        return [StatusCountType(status=status, count=count) for status, count in figures.by_status.items()]


class InstallFiguresType(graphene.ObjectType):
    suppressed = graphene.Boolean(required=True)
    installs = graphene.Int()
    uninstalls = graphene.Int()


class AnalyticsBucketType(graphene.ObjectType):
    day = graphene.Date(description="Per-day buckets (UTC).")
    version_id = graphene.ID(description="Per-version buckets.")
    version = graphene.String()
    plugin_id = graphene.ID(description="Per-plugin buckets (tenant usage).")
    plugin_slug = graphene.String()
    installs = graphene.Field(InstallFiguresType, required=True)
    executions = graphene.Field(ExecutionFiguresType, required=True)


class _AnalyticsBase(graphene.ObjectType):
    from_ = graphene.Date(required=True, name="from")
    to = graphene.Date(required=True)
    active_installs = graphene.Int(description="Active installations at the end of the range.")
    active_installs_suppressed = graphene.Boolean(required=True)
    totals = graphene.Field(AnalyticsBucketType, required=True)
    by_day = graphene.List(
        graphene.NonNull(AnalyticsBucketType), required=True, description="Days with activity."
    )

    @staticmethod
    def resolve_from_(report: analytics.Analytics, info: graphene.ResolveInfo) -> Any:
        return report.start

    @staticmethod
    def resolve_to(report: analytics.Analytics, info: graphene.ResolveInfo) -> Any:
        return report.end


class ListingAnalyticsType(_AnalyticsBase):
    listing_id = graphene.ID(required=True)
    suppression = graphene.Boolean(
        required=True, description="True for publishers: buckets below the tenant threshold are suppressed."
    )
    min_tenants_per_bucket = graphene.Int(required=True)
    by_version = graphene.List(graphene.NonNull(AnalyticsBucketType), required=True)

    @staticmethod
    def resolve_listing_id(report: analytics.Analytics, info: graphene.ResolveInfo) -> Any:
        return report.listing.pk

    @staticmethod
    def resolve_min_tenants_per_bucket(report: analytics.Analytics, info: graphene.ResolveInfo) -> int:
        return report.min_tenants


class TenantUsageType(_AnalyticsBase):
    by_plugin = graphene.List(graphene.NonNull(AnalyticsBucketType), required=True)
