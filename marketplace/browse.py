"""Browsing and searching the marketplace.

A page is read in two steps. :func:`browse_listings` filters and orders ``ListingStats`` alone (one indexed
row per listing, see marketplace.stats: visibility, installs, ratings, the latest trusted version, the
categories, and on PostgreSQL the weighted search document), so the database sorts and limits narrow rows
from indexes before joining anything. :func:`listing_page` then loads just the page's listings with their
plugin, publisher, stats row and latest version in one query, the versions' signing keys in a second and the
current plans in a third. Nothing is queried per listing, so the number of SQL queries of a page does not
depend on its size.

Search is PostgreSQL full-text search on PostgreSQL (``websearch_to_tsquery`` against the GIN-indexed
document; ranked: name and slug A, tagline and tags B, description C), and ``icontains`` over the plugin's
name and slug and the listing's tagline, description and tags on SQLite. The category filter is
``categories @> '["label"]'`` against a GIN index on PostgreSQL, and matches the quoted label in the JSON
text on SQLite (which has no JSON containment).
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.tenancy.permissions import require_authenticated

from .models import Listing, ListingStats, Plan, PricingModel

MAX_SEARCH = 200
MAX_CATEGORY = 40
#: ListingStats columns that only browse_listings' filters and sorts read (in SQL), never a listing node.
FILTER_AND_SORT_COLUMNS = (
    "visible",
    "name",
    "active_installs",
    "latest_published_at",
    "categories",
    "refreshed_at",
    "search_document",
)


class ListingSort(models.TextChoices):
    POPULAR = "POPULAR", "Most active installations first"
    RATING = "RATING", "Best average rating first (then most reviews)"
    NEWEST = "NEWEST", "Most recently published version first"
    NAME = "NAME", "Plugin name, A to Z"


def with_page_relations(queryset: QuerySet[Listing]) -> QuerySet[Listing]:
    """Everything a listing node shows, for any number of listings: its plugin, publisher, stats row and
    latest trusted version joined in; one query for the versions' signing keys (a page has few distinct
    keys: fetched once each rather than joined into every row, which costs more per listing than the
    query) and one for the current plans."""
    return (
        queryset.select_related("plugin__publisher", "stats__latest_version")
        # The stats row's filter and sort columns (the search document is a long tsvector) are only ever
        # read by the database: a node shows the ratings and the latest version.
        .defer(*(f"stats__{column}" for column in FILTER_AND_SORT_COLUMNS))
        .prefetch_related(
            "stats__latest_version__signing_key",
            Prefetch(
                "plans",
                queryset=Plan.objects.filter(retired_at__isnull=True).order_by("pricing_model", "name", "id"),
                to_attr="current_plans",
            ),
        )
    )


def listing_page(listing_ids: Sequence[Any]) -> list[Listing]:
    """The listings of a page, in the order of ``listing_ids`` (three queries, whatever the page size)."""
    if not listing_ids:
        return []
    found = {
        listing.pk: listing for listing in with_page_relations(Listing.objects.filter(pk__in=listing_ids))
    }
    page = [found[listing_id] for listing_id in listing_ids if listing_id in found]
    for listing in page:
        version = getattr(getattr(listing, "stats", None), "latest_version", None)
        if version is not None:
            version.plugin = listing.plugin  # the same row: a node asking for it needs no query
    return page


def _clean_min_rating(value: Any) -> decimal.Decimal | None:
    if value is None:
        return None
    try:
        rating = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        rating = decimal.Decimal(-1)
    if not rating.is_finite() or not 1 <= rating <= 5:
        raise DomainError(CommonErrorCode.INVALID, "minRating must be between 1 and 5.", "minRating")
    return rating


def _search(stats: QuerySet[ListingStats], text: str) -> tuple[QuerySet[ListingStats], bool]:
    """Returns the filtered rows and whether they are annotated with a ``search_rank``."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank

        # The weighted document is kept in ListingStats.search_document (GIN-indexed), see marketplace.stats.
        query = SearchQuery(text, search_type="websearch", config="english")
        return stats.filter(search_document=query).annotate(
            search_rank=SearchRank(F("search_document"), query)
        ), True
    condition = Q()
    for word in text.split()[:10]:  # every word must match somewhere
        condition &= (
            Q(listing__plugin__name__icontains=word)
            | Q(listing__plugin__slug__icontains=word)
            | Q(listing__tagline__icontains=word)
            | Q(listing__description__icontains=word)
            | Q(listing__tags__icontains=word)
        )
    return stats.filter(condition), False


def _in_category(stats: QuerySet[ListingStats], category: str) -> QuerySet[ListingStats]:
    label = category.strip().lower()[:MAX_CATEGORY]
    if connection.vendor == "postgresql":
        return stats.filter(categories__contains=[label])  # jsonb @>, GIN-indexed
    # Labels are stored lower-case, so the quoted JSON string matches exactly one whole label.
    return stats.filter(categories__icontains=f'"{label}"')


def browse_listings(
    user: Any,
    *,
    search: str | None = None,
    category: str | None = None,
    pricing_model: str | None = None,
    min_rating: Any = None,
    sort: str | None = None,
) -> QuerySet[ListingStats]:
    """The stats rows of the marketplace's listings matching the filters, ordered by ``sort`` (default:
    relevance when searching on PostgreSQL, otherwise POPULAR). Slice it, then load the slice's listings
    with :func:`listing_page`."""
    require_authenticated(user)
    # ListingStats.visible is marketplace_visible(), kept with the rows it derives from (marketplace.stats).
    stats = ListingStats.objects.filter(visible=True)
    ranked = False
    if search is not None and search.strip():
        if len(search) > MAX_SEARCH:
            raise DomainError(CommonErrorCode.TOO_LONG, f"At most {MAX_SEARCH} characters.", "search")
        stats, ranked = _search(stats, search.strip())
    if category:
        stats = _in_category(stats, category)
    if pricing_model:
        if pricing_model not in PricingModel.values:
            raise DomainError(CommonErrorCode.INVALID, "Unknown pricing model.", "pricingModel")
        stats = stats.filter(
            Exists(
                Plan.objects.filter(
                    listing_id=OuterRef("listing_id"), retired_at__isnull=True, pricing_model=pricing_model
                )
            )
        )
    rating = _clean_min_rating(min_rating)
    if rating is not None:
        stats = stats.filter(rating_average__gte=float(rating))
    if sort is not None and sort not in ListingSort.values:
        raise DomainError(CommonErrorCode.INVALID, "Unknown sort order.", "sort")
    if sort is None and ranked:
        order: tuple[Any, ...] = (F("search_rank").desc(), F("active_installs").desc())
    elif sort == ListingSort.RATING:
        order = (F("rating_average").desc(nulls_last=True), F("rating_count").desc())
    elif sort == ListingSort.NEWEST:
        order = (F("latest_published_at").desc(nulls_last=True),)
    elif sort == ListingSort.NAME:
        order = ()
    else:
        order = (F("active_installs").desc(),)
    # name is the plugin's name (kept with it): every order is in a ListingStats index.
    return stats.order_by(*order, "name", "listing_id")
