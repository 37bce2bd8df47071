"""The catalogue's figures per listing (``ListingStats``), recomputed from their rows.

Every write that changes what browse sorts or filters on calls :func:`refresh_listing_stats` for the
listings concerned, in its own transaction: reviews and delisting here, installs and uninstalls through
``installations.hooks``, version approvals, deprecations, plugin archiving and key revocations through
``registry.hooks``. The row is locked before it is recomputed, so two concurrent writers serialise and the
second one counts the first one's committed rows. The periodic task recomputes everything (idempotent).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, models, transaction
from django.db.models import (
    Avg,
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from argus_plugins.core import clock
from installations.models import Installation
from registry.models import Plugin, PluginStatus, PluginVersion, VersionStatus

from .models import Listing, ListingStats, Review

#: Listings recomputed per statement by a full refresh.
BATCH_SIZE = 500
STARS = (1, 2, 3, 4, 5)
FIGURES = (
    "visible",
    "name",
    "active_installs",
    "rating_count",
    "rating_average",
    "latest_published_at",
    "latest_version",
    "categories",
    *(f"stars_{star}" for star in STARS),
)


#: The weighted document browse searches (the weights and configurations of its ranking), per listing.
SEARCH_DOCUMENT_SQL = """
UPDATE marketplace_listingstats AS stats SET search_document =
    setweight(to_tsvector('english'::regconfig, COALESCE(plugin.name, '')), 'A')
    || setweight(to_tsvector('simple'::regconfig, COALESCE(plugin.slug, '')), 'A')
    || setweight(to_tsvector('english'::regconfig, COALESCE(listing.tagline, '')), 'B')
    || setweight(to_tsvector('english'::regconfig, COALESCE(listing.tags::text, '')), 'B')
    || setweight(to_tsvector('english'::regconfig, COALESCE(listing.description, '')), 'C')
FROM marketplace_listing AS listing JOIN registry_plugin AS plugin ON plugin.id = listing.plugin_id
WHERE stats.listing_id = listing.id"""


def trusted_published_versions() -> QuerySet[PluginVersion]:
    """Versions the marketplace may advertise: PUBLISHED and signed by a key that is not revoked."""
    return PluginVersion.objects.filter(status=VersionStatus.PUBLISHED, signing_key__revoked_at__isnull=True)


def subquery_value(queryset: QuerySet, aggregate: Any, output_field: models.Field) -> Subquery:
    """A correlated aggregate over ``queryset`` (already filtered on OuterRef) as a scalar subquery."""
    grouped = (
        queryset.order_by()
        .annotate(_group=Value(1))
        .values("_group")
        .annotate(value=aggregate)
        .values("value")
    )
    return Subquery(grouped, output_field=output_field)


def computed_figures(listings: QuerySet[Listing]) -> QuerySet[Listing]:
    """``listings`` annotated with every ListingStats field, computed from the rows."""
    reviews = Review.objects.filter(listing_id=OuterRef("pk"), hidden_at__isnull=True)
    installs = Installation.objects.filter(plugin_id=OuterRef("plugin_id"), uninstalled_at__isnull=True)
    versions = PluginVersion.objects.filter(plugin_id=OuterRef("plugin_id"))
    trusted_at = Case(
        When(status=VersionStatus.PUBLISHED, signing_key__revoked_at__isnull=True, then=F("published_at"))
    )
    has_trusted = Exists(trusted_published_versions().filter(plugin_id=OuterRef("plugin_id")))
    return listings.annotate(
        figure_visible=Case(
            When(
                Q(delisted_at__isnull=True) & ~Q(plugin__status=PluginStatus.ARCHIVED) & Q(has_trusted),
                then=Value(True),
            ),
            default=Value(False),
            output_field=models.BooleanField(),
        ),
        figure_rating_average=subquery_value(reviews, Avg("rating"), models.FloatField()),
        figure_rating_count=Coalesce(subquery_value(reviews, Count("id"), IntegerField()), 0),
        figure_active_installs=Coalesce(subquery_value(installs, Count("id"), IntegerField()), 0),
        figure_latest_published_at=subquery_value(versions, Max(trusted_at), models.DateTimeField()),
        # As the listing page shows it: the highest precedence among the trusted published versions.
        figure_latest_version_id=Subquery(
            trusted_published_versions()
            .filter(plugin_id=OuterRef("plugin_id"))
            .order_by("-precedence_key")
            .values("pk")[:1]
        ),
        **{
            f"figure_stars_{star}": Coalesce(
                subquery_value(reviews.filter(rating=star), Count("id"), IntegerField()), 0
            )
            for star in STARS
        },
    )


def _recompute(listing_ids: list[Any]) -> int:
    """Lock (creating if missing) and rewrite the stats rows of ``listing_ids``; inside a transaction."""
    ListingStats.objects.bulk_create(
        [ListingStats(listing_id=listing_id) for listing_id in listing_ids], ignore_conflicts=True
    )
    # Lock first, compute after: a concurrent writer waits here and then sees this one's committed rows.
    list(
        ListingStats.objects.select_for_update()
        .filter(listing_id__in=listing_ids)
        .order_by("pk")
        .values("pk")
    )
    now = clock.now()
    rows = [
        ListingStats(
            listing_id=listing.pk,
            visible=listing.figure_visible,
            name=listing.plugin.name,
            active_installs=listing.figure_active_installs,
            rating_count=listing.figure_rating_count,
            rating_average=listing.figure_rating_average,
            latest_published_at=listing.figure_latest_published_at,
            latest_version_id=listing.figure_latest_version_id,
            # Stored lower-case by the listing's validation; lowered again for rows written around it.
            categories=[str(label).lower() for label in listing.categories],
            **{f"stars_{star}": getattr(listing, f"figure_stars_{star}") for star in STARS},
            refreshed_at=now,
        )
        for listing in computed_figures(
            Listing.objects.filter(pk__in=listing_ids).select_related("plugin").order_by()
        )
    ]
    ListingStats.objects.bulk_update(rows, [*FIGURES, "refreshed_at"], batch_size=BATCH_SIZE)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(SEARCH_DOCUMENT_SQL + " AND stats.listing_id = ANY(%s)", [listing_ids])
    return len(rows)


def refresh_listing_stats(
    *, listing_ids: Iterable[Any] | None = None, plugin_ids: Iterable[Any] | None = None
) -> int:
    """Recompute the stats of these listings (or of these plugins' listings; neither: of all listings).
    Returns how many rows were rewritten."""
    listings = Listing.objects.order_by("pk")
    if listing_ids is not None or plugin_ids is not None:
        selected = Q(pk__in=list(listing_ids or ())) | Q(plugin_id__in=list(plugin_ids or ()))
        listings = listings.filter(selected)
    ids = list(listings.values_list("pk", flat=True))
    refreshed = 0
    for start in range(0, len(ids), BATCH_SIZE):
        with transaction.atomic():
            refreshed += _recompute(ids[start : start + BATCH_SIZE])
    return refreshed


# ------------------------------------------------------------------------------- hooks of lower layers


def plugins_changed(plugin_ids: Iterable[Any]) -> None:
    """registry.hooks.PLUGINS_CHANGED: versions, the plugin's status or a signing key changed."""
    refresh_listing_stats(plugin_ids=plugin_ids)


def installation_changed(installation_id: Any) -> None:
    """installations.hooks PLUGIN_INSTALLED / PLUGIN_UNINSTALLED: the plugin's active installs changed."""
    plugin_ids = Installation.objects.filter(pk=installation_id).values_list("plugin_id", flat=True)
    refresh_listing_stats(plugin_ids=list(plugin_ids))


def admin_changed(*, action: str, request: Any, target: models.Model, changes: dict) -> None:
    """core.hooks.ADMIN_CHANGED: staff edited a plugin (its name, its status) or a listing in the admin, which
    bypasses the services that keep the figures up to date."""
    if isinstance(target, Plugin):
        refresh_listing_stats(plugin_ids=[target.pk])
    elif isinstance(target, Listing):
        refresh_listing_stats(listing_ids=[target.pk])
