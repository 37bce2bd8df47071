"""Browsing and searching the marketplace.

Search is ``icontains`` over the plugin's name and slug and the listing's tagline, description and tags
on SQLite, and PostgreSQL full-text search (``websearch_to_tsquery``, ranked: name A, tagline and tags B,
description C) when the database is PostgreSQL. Visibility, ratings, popularity and the latest
publication are read from ``ListingStats`` (one indexed row per listing, see marketplace.stats), and a
page's plans, latest versions and rating distributions are fetched with one query each, so the number of
SQL queries of a page does not depend on its size.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.db.models import (
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.tenancy.permissions import require_authenticated

from .listings import trusted_published_versions
from .models import Listing, Plan, PricingModel
from .reviews import rating_summaries

MAX_SEARCH = 200


class ListingSort(models.TextChoices):
    POPULAR = "POPULAR", "Most active installations first"
    RATING = "RATING", "Best average rating first (then most reviews)"
    NEWEST = "NEWEST", "Most recently published version first"
    NAME = "NAME", "Plugin name, A to Z"


def with_figures(queryset: QuerySet[Listing]) -> QuerySet[Listing]:
    """Annotate rating average and count (visible reviews), active installations and the latest trusted
    publication date, read from the listing's ListingStats row."""
    return queryset.annotate(
        rating_average=F("stats__rating_average"),
        rating_count=F("stats__rating_count"),
        active_installs=F("stats__active_installs"),
        latest_published_at=F("stats__latest_published_at"),
    )


def with_page_prefetches(queryset: QuerySet[Listing]) -> QuerySet[Listing]:
    """One query for the current plans and one for the trusted published versions of a whole page."""
    return queryset.select_related("plugin__publisher").prefetch_related(
        Prefetch(
            "plans",
            queryset=Plan.objects.filter(retired_at__isnull=True).order_by("pricing_model", "name", "id"),
            to_attr="current_plans",
        ),
        Prefetch(
            "plugin__versions",
            queryset=trusted_published_versions().select_related("signing_key").order_by("-precedence_key"),
            to_attr="trusted_versions",
        ),
    )


def attach_rating_summaries(listings: Sequence[Listing]) -> None:
    """One grouped query for the rating distribution of every listing of a page."""
    summaries = rating_summaries([listing.pk for listing in listings])
    for listing in listings:
        listing._rating_summary = summaries[listing.pk]


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


def _search(queryset: QuerySet[Listing], text: str) -> tuple[QuerySet[Listing], bool]:
    """Returns the filtered queryset and whether it is annotated with a ``search_rank``."""
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank

        # The weighted document is kept in ListingStats.search_document (GIN-indexed), see marketplace.stats.
        query = SearchQuery(text, search_type="websearch", config="english")
        return queryset.filter(stats__search_document=query).annotate(
            search_rank=SearchRank(F("stats__search_document"), query)
        ), True
    condition = Q()
    for word in text.split()[:10]:  # every word must match somewhere
        condition &= (
            Q(plugin__name__icontains=word)
            | Q(plugin__slug__icontains=word)
            | Q(tagline__icontains=word)
            | Q(description__icontains=word)
            | Q(tags__icontains=word)
        )
    return queryset.filter(condition), False


def browse_listings(
    user: Any,
    *,
    search: str | None = None,
    category: str | None = None,
    pricing_model: str | None = None,
    min_rating: Any = None,
    sort: str | None = None,
) -> QuerySet[Listing]:
    """The marketplace's listings matching the filters, ordered by ``sort`` (default: relevance when
    searching on PostgreSQL, otherwise POPULAR)."""
    require_authenticated(user)
    # ListingStats.visible is marketplace_visible(), kept with the rows it derives from (marketplace.stats).
    listings = with_figures(Listing.objects.filter(stats__visible=True))
    ranked = False
    if search is not None and search.strip():
        if len(search) > MAX_SEARCH:
            raise DomainError(CommonErrorCode.TOO_LONG, f"At most {MAX_SEARCH} characters.", "search")
        listings, ranked = _search(listings, search.strip())
    if category:
        # JSON ``contains`` is unavailable on SQLite; labels are stored lower-case, so matching the quoted
        # JSON string is exact on both SQLite and PostgreSQL.
        listings = listings.filter(categories__icontains=f'"{category.strip().lower()[:40]}"')
    if pricing_model:
        if pricing_model not in PricingModel.values:
            raise DomainError(CommonErrorCode.INVALID, "Unknown pricing model.", "pricingModel")
        listings = listings.filter(
            Exists(
                Plan.objects.filter(
                    listing_id=OuterRef("pk"), retired_at__isnull=True, pricing_model=pricing_model
                )
            )
        )
    rating = _clean_min_rating(min_rating)
    if rating is not None:
        listings = listings.filter(rating_average__gte=float(rating))
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
    # stats__name is the plugin's name (kept with it): the whole order is in a ListingStats index.
    return with_page_prefetches(listings).order_by(*order, "stats__name", "id")
