from __future__ import annotations

import datetime as dt
from typing import Any

import graphene

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.graphql.connections import connection_args, resolve_connection
from argus_plugins.core.validation import parse_uuid
from argus_plugins.tenancy.models import Role
from argus_plugins.tenancy.permissions import require_tenant_role

from .. import analytics
from ..browse import ListingSort, browse_listings, listing_page, with_page_relations
from ..listings import get_listing, listings_visible_to
from ..models import Entitlement, Invoice, Listing
from .page_columns import page_columns
from .types import (
    EntitlementConnection,
    EntitlementStatusEnum,
    InvoiceConnection,
    InvoiceStatusEnum,
    ListingAnalyticsType,
    ListingConnection,
    ListingType,
    PricingModelEnum,
    TenantUsageType,
)

ListingSortEnum = graphene.Enum.from_enum(ListingSort, name="ListingSort")


def _range_args() -> dict[str, Any]:
    return {
        "from_": graphene.Date(required=True, name="from", description="First day (UTC), inclusive."),
        "to": graphene.Date(required=True, description="Last day (UTC), inclusive; at most 366 days."),
    }


class MarketplaceQueries(graphene.ObjectType):
    marketplace_listings = graphene.Field(
        ListingConnection,
        required=True,
        description="Listings visible in the marketplace (published, trusted, not delisted).",
        **connection_args(
            search=graphene.String(description="Words matched in name, tagline, description and tags."),
            category=graphene.String(),
            pricing_model=PricingModelEnum(description="Listings offering a plan of this kind."),
            min_rating=graphene.Float(description="Minimum average rating (1 to 5)."),
            sort=ListingSortEnum(
                description="Default: relevance when searching on PostgreSQL, else POPULAR."
            ),
        ),
    )
    listing = graphene.Field(ListingType, id=graphene.ID(), slug=graphene.String())
    entitlements = graphene.Field(
        EntitlementConnection,
        required=True,
        **connection_args(tenant_id=graphene.ID(required=True), status=EntitlementStatusEnum()),
    )
    invoices = graphene.Field(
        InvoiceConnection,
        required=True,
        description="The tenant's invoices, newest first (tenant admins).",
        **connection_args(tenant_id=graphene.ID(required=True), status=InvoiceStatusEnum()),
    )
    listing_analytics = graphene.Field(
        ListingAnalyticsType,
        required=True,
        description="Publishers (aggregates, small buckets suppressed) and staff (everything).",
        listing_id=graphene.ID(required=True),
        **_range_args(),
    )
    tenant_usage = graphene.Field(
        TenantUsageType, required=True, tenant_id=graphene.ID(required=True), **_range_args()
    )

    @staticmethod
    def resolve_marketplace_listings(root: Any, info: graphene.ResolveInfo, **args: Any) -> ListingConnection:
        page = {"first": args.pop("first", None), "after": args.pop("after", None)}
        ordered_ids = browse_listings(info.context.user, **args).values_list("listing_id", flat=True)
        connection = resolve_connection(ListingConnection, ordered_ids, **page)
        ids = [edge.node for edge in connection.edges]
        listings = {listing.pk: listing for listing in listing_page(ids, page_columns(info))}
        # A listing deleted between the two queries is left out of the page.
        connection.edges = [edge for edge in connection.edges if edge.node in listings]
        for edge in connection.edges:
            edge.node = listings[edge.node]
        return connection

    @staticmethod
    def resolve_listing(
        root: Any, info: graphene.ResolveInfo, id: str | None = None, slug: str | None = None
    ) -> Listing:
        if (id is None) == (slug is None):
            raise DomainError(CommonErrorCode.INVALID, "Give exactly one of 'id' and 'slug'.", "id")
        found = get_listing(info.context.user, id, slug=slug)
        return with_page_relations(listings_visible_to(info.context.user)).get(pk=found.pk)

    @staticmethod
    def resolve_entitlements(
        root: Any, info: graphene.ResolveInfo, tenant_id: str, status: str | None = None, **page: Any
    ) -> EntitlementConnection:
        membership = require_tenant_role(info.context.user, tenant_id)
        entitlements = Entitlement.objects.filter(tenant=membership.tenant).select_related(
            "plan", "listing__plugin__publisher"
        )
        if status:
            entitlements = entitlements.filter(status=status)
        return resolve_connection(EntitlementConnection, entitlements.order_by("-started_at", "id"), **page)

    @staticmethod
    def resolve_invoices(
        root: Any, info: graphene.ResolveInfo, tenant_id: str, status: str | None = None, **page: Any
    ) -> InvoiceConnection:
        membership = require_tenant_role(info.context.user, tenant_id, Role.ADMIN)
        invoices = Invoice.objects.filter(tenant=membership.tenant).select_related(
            "plan", "entitlement__listing__plugin__publisher"
        )
        if status:
            invoices = invoices.filter(status=status)
        return resolve_connection(InvoiceConnection, invoices.order_by("-issued_at", "-number"), **page)

    @staticmethod
    def resolve_listing_analytics(
        root: Any, info: graphene.ResolveInfo, listing_id: str, from_: dt.date, to: dt.date
    ) -> analytics.Analytics:
        parse_uuid(listing_id, field="listingId")
        return analytics.listing_analytics(
            actor=info.context.user, listing_id=listing_id, start=from_, end=to
        )

    @staticmethod
    def resolve_tenant_usage(
        root: Any, info: graphene.ResolveInfo, tenant_id: str, from_: dt.date, to: dt.date
    ) -> analytics.Analytics:
        return analytics.tenant_usage(actor=info.context.user, tenant_id=tenant_id, start=from_, end=to)
