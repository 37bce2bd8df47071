"""Listings: what the marketplace shows of a plugin, who edits it, when it is visible, staff moderation."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from argus_plugins.core import clock
from argus_plugins.core.errors import DomainError, not_found
from argus_plugins.core.sentinels import UNSET
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.models import User
from argus_plugins.tenancy.permissions import require_authenticated, require_staff
from registry.models import Plugin, PluginStatus, PublisherMembership
from registry.permissions import require_publisher_role
from registry.services import visible_plugins

from .error_codes import MarketplaceErrorCode
from .markdown import render_markdown
from .models import Listing, ListingModerationEvent, ModerationAction
from .stats import refresh_listing_stats, trusted_published_versions
from .validation import MAX_CATEGORIES, MAX_TAGS, clean_labels, clean_url, get_or_404

MAX_DESCRIPTION = 50_000
MAX_REASON = 500


def marketplace_visible(queryset: QuerySet[Listing] | None = None) -> QuerySet[Listing]:
    """Listings shown in the marketplace: not delisted, plugin not archived, and with at least one
    published version whose signing key is not revoked (revoking the key hides the listing at once)."""
    queryset = Listing.objects.all() if queryset is None else queryset
    # A non-correlated IN: the database builds the set of trusted plugins once per query (a correlated
    # EXISTS lets SQLite drive it from the version-status index, once per listing).
    trusted = trusted_published_versions().values("plugin_id")
    return queryset.filter(plugin_id__in=trusted, delisted_at__isnull=True).exclude(
        plugin__status=PluginStatus.ARCHIVED
    )


def listings_visible_to(user: Any) -> QuerySet[Listing]:
    """The marketplace for everyone signed in; publishers also see their own hidden or delisted listings;
    staff see every listing."""
    if getattr(user, "is_staff", False):
        return Listing.objects.all()
    if not getattr(user, "is_authenticated", False):
        return Listing.objects.none()
    own = PublisherMembership.objects.filter(user=user).values("publisher_id")
    public = marketplace_visible().values("pk")
    return Listing.objects.filter(Q(pk__in=public) | Q(plugin__publisher_id__in=own))


def get_listing(user: Any, listing_id: Any = None, *, slug: Any = None, field: str = "id") -> Listing:
    require_authenticated(user)
    queryset = listings_visible_to(user).select_related("plugin__publisher")
    if slug is not None:
        found = queryset.filter(plugin__slug=clean_text(slug, field="slug", max_length=80)).first()
    else:
        found = queryset.filter(pk=parse_uuid(listing_id, field=field)).first()
    if found is None:
        raise not_found("Listing", field if slug is None else "slug")
    return found


def publisher_listing(actor: User, listing_id: Any, field: str = "listingId") -> Listing:
    """A listing the actor may edit (member of its plugin's publisher, or staff)."""
    listing = get_listing(actor, listing_id, field=field)
    require_publisher_role(actor, listing.plugin.publisher)
    return listing


@transaction.atomic
def update_listing(
    *,
    actor: User,
    plugin_id: Any,
    tagline: Any = UNSET,
    description: Any = UNSET,
    categories: Any = UNSET,
    tags: Any = UNSET,
    documentation_url: Any = UNSET,
    support_url: Any = UNSET,
    icon_url: Any = UNSET,
) -> Listing:
    """Create the plugin's listing on first use, then change only the fields given."""
    require_authenticated(actor)
    plugin = (
        visible_plugins(actor)
        .select_related("publisher")
        .filter(pk=parse_uuid(plugin_id, field="pluginId"))
        .first()
    )
    if plugin is None:
        raise not_found("Plugin", "pluginId")
    require_publisher_role(actor, plugin.publisher)
    changes: dict[str, Any] = {}
    if tagline is not UNSET:
        changes["tagline"] = clean_text(tagline, field="tagline", max_length=200, required=False)
    if description is not UNSET:
        source = clean_text(
            description, field="description", max_length=MAX_DESCRIPTION, required=False, strip=False
        )
        changes["description"], changes["description_html"] = source, render_markdown(source)
    if categories is not UNSET:
        changes["categories"] = clean_labels(categories, field="categories", maximum=MAX_CATEGORIES)
    if tags is not UNSET:
        changes["tags"] = clean_labels(tags, field="tags", maximum=MAX_TAGS)
    if documentation_url is not UNSET:
        changes["documentation_url"] = clean_url(documentation_url, field="documentationUrl")
    if support_url is not UNSET:
        changes["support_url"] = clean_url(support_url, field="supportUrl")
    if icon_url is not UNSET:
        changes["icon_url"] = clean_url(icon_url, field="iconUrl", https_only=True)
    now = clock.now()
    listing = Listing.objects.select_for_update().filter(plugin=plugin).first()
    if listing is None:
        try:
            with transaction.atomic():
                listing = Listing.objects.create(
                    plugin=plugin, created_at=now, updated_at=now, updated_by=actor, **changes
                )
            refresh_listing_stats(listing_ids=[listing.pk])
            return listing
        except IntegrityError:  # created concurrently: update that one instead
            listing = Listing.objects.select_for_update().get(plugin=plugin)
    Listing.objects.filter(pk=listing.pk).update(updated_at=now, updated_by=actor, **changes)
    refresh_listing_stats(listing_ids=[listing.pk])  # the search document follows the text
    listing.refresh_from_db()
    return listing


def _moderate(actor: User, listing_id: Any, reason: Any, *, delist: bool, reason_required: bool) -> Listing:
    require_staff(actor)
    reason = clean_text(reason, field="reason", max_length=MAX_REASON, required=reason_required)
    listing = get_or_404(Listing.objects.select_related("plugin"), listing_id, "Listing", "listingId")
    now = clock.now()
    if delist:
        updated = Listing.objects.filter(pk=listing.pk, delisted_at__isnull=True).update(
            delisted_at=now, delisted_reason=reason
        )
        if updated != 1:
            raise DomainError(
                MarketplaceErrorCode.ALREADY_DELISTED, "This listing is already delisted.", "listingId"
            )
    else:
        updated = Listing.objects.filter(pk=listing.pk, delisted_at__isnull=False).update(
            delisted_at=None, delisted_reason=""
        )
        if updated != 1:
            raise DomainError(MarketplaceErrorCode.NOT_DELISTED, "This listing is not delisted.", "listingId")
    ListingModerationEvent.objects.create(
        listing=listing,
        action=ModerationAction.DELISTED if delist else ModerationAction.RELISTED,
        reason=reason,
        actor=actor,
        at=now,
    )
    refresh_listing_stats(listing_ids=[listing.pk])
    listing.refresh_from_db()
    return listing


@transaction.atomic
def delist_listing(*, actor: User, listing_id: Any, reason: Any) -> Listing:
    """Staff: hide a listing from the marketplace (reversible; recorded with the reason)."""
    return _moderate(actor, listing_id, reason, delist=True, reason_required=True)


@transaction.atomic
def relist_listing(*, actor: User, listing_id: Any, reason: Any = "") -> Listing:
    return _moderate(actor, listing_id, reason, delist=False, reason_required=False)


def plugin_listing(plugin: Plugin | Any) -> Listing | None:
    plugin_id = getattr(plugin, "pk", plugin)
    return Listing.objects.filter(plugin_id=plugin_id).first()
