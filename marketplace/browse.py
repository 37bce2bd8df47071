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

import dataclasses
import decimal
import functools
from collections.abc import Sequence
from typing import Any

from django.db import connection, models, router
from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.row_instances import RowBuilder, cache_relation
from argus_plugins.tenancy.permissions import require_authenticated
from registry.models import Plugin, PluginVersion, Publisher, SigningKey

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


def _concrete_fields(model: type[models.Model], leave_out: Sequence[str] = ()) -> list[models.Field]:
    return [field for field in model._meta.concrete_fields if field.name not in leave_out]


@dataclasses.dataclass(frozen=True)
class PageColumns:
    """The columns (model field names) a page loads of each listing's row, its plugin's, its publisher's and
    its latest version's, and of the current plans; None: every column. The keys that join and relate
    them (primary keys, the listing's plugin, the plugin's publisher, the version's plugin and signing key,
    the plan's listing) and a plan's pricing model are always loaded; the stats row's rating columns too.

    What a page's nodes never read stays deferred: a list of listing cards does not carry each listing's
    description, its HTML and its latest version's changelog, signature and review notes through the
    database, psycopg and Django's converters (README, "Marketplace")."""

    listing: frozenset[str] | None = None
    plugin: frozenset[str] | None = None
    publisher: frozenset[str] | None = None
    version: frozenset[str] | None = None
    plan: frozenset[str] | None = None


#: Every column of every part: what a caller that does not know which fields it will read asks for.
EVERY_COLUMN = PageColumns()

_KEYS = {
    "listing": frozenset({"id", "plugin"}),
    "plugin": frozenset({"id", "publisher"}),
    "publisher": frozenset({"id"}),
    "version": frozenset({"id", "plugin", "signing_key"}),
    "plan": frozenset(
        {"id", "listing", "pricing_model"}
    ),  # pricing_model: pricingModels, requiresEntitlement
}


def _builder(model: type[models.Model], names: frozenset[str] | None, part: str) -> RowBuilder:
    """The row builder of ``part``: the model's fields among ``names`` and the part's keys (None: all)."""
    if names is not None:
        names = names | _KEYS[part]
    return RowBuilder(
        model, [field for field in model._meta.concrete_fields if names is None or field.name in names]
    )


class _PageRows:
    """How a page's rows become model instances for one :class:`PageColumns` (worked out once): the
    columns of the listing, its plugin, publisher, stats row (less its filter and sort columns) and latest
    version, read in one row each."""

    def __init__(self, columns: PageColumns) -> None:
        self.parts = (
            ("", _builder(Listing, columns.listing, "listing")),
            ("plugin__", _builder(Plugin, columns.plugin, "plugin")),
            ("plugin__publisher__", _builder(Publisher, columns.publisher, "publisher")),
            ("stats__", RowBuilder(ListingStats, _concrete_fields(ListingStats, FILTER_AND_SORT_COLUMNS))),
            ("stats__latest_version__", _builder(PluginVersion, columns.version, "version")),
        )
        self.columns = [prefix + field.name for prefix, builder in self.parts for field in builder.fields]
        self.slices = []
        start = 0
        for _, builder in self.parts:
            self.slices.append(slice(start, start + len(builder.fields)))
            start += len(builder.fields)
        self.plans = _builder(Plan, columns.plan, "plan")
        self.relations = {
            "plugin": Listing._meta.get_field("plugin"),
            "listing_of_plugin": Plugin._meta.get_field("listing"),
            "publisher": Plugin._meta.get_field("publisher"),
            "stats": Listing._meta.get_field("stats"),
            "listing_of_stats": ListingStats._meta.get_field("listing"),
            "latest_version": ListingStats._meta.get_field("latest_version"),
            "plugin_of_version": PluginVersion._meta.get_field("plugin"),
            "signing_key": PluginVersion._meta.get_field("signing_key"),
            "listing_of_plan": Plan._meta.get_field("listing"),
        }


@functools.lru_cache(maxsize=256)  # one per distinct selection of a page's fields: a client sends a few
def _page_rows(columns: PageColumns) -> _PageRows:
    return _PageRows(columns)


def listing_page(listing_ids: Sequence[Any], columns: PageColumns = EVERY_COLUMN) -> list[Listing]:
    """The listings of a page, in the order of ``listing_ids`` (three queries, whatever the page size):
    the same instances, relations and deferred columns as :func:`with_page_relations` (less the columns
    ``columns`` leaves out, deferred), built from value rows (argus_plugins.core.row_instances) rather than
    by ``select_related``/``prefetch_related`` and ``Model.__init__``, which cost more per listing (README,
    "Marketplace")."""
    if not listing_ids:
        return []
    page_rows = _page_rows(columns)
    relations = page_rows.relations
    db = router.db_for_read(Listing)
    (_, listing_rows), (_, plugin_rows), (_, publisher_rows), (_, stats_rows), (_, version_rows) = (
        page_rows.parts
    )
    listing_slice, plugin_slice, publisher_slice, stats_slice, version_slice = page_rows.slices
    found: dict[Any, Listing] = {}
    versions: list[PluginVersion] = []
    # No ORDER BY: the page's order is listing_ids' (the model's default ordering would sort for nothing).
    # any_of: the ids as one array parameter on PostgreSQL (argus_plugins.core.lookups).
    rows = Listing.objects.using(db).filter(pk__any_of=listing_ids).order_by().values_list(*page_rows.columns)
    for row in rows:
        listing = listing_rows.build(row[listing_slice], db)
        plugin = plugin_rows.build(row[plugin_slice], db)
        cache_relation(listing, relations["plugin"], plugin)
        cache_relation(plugin, relations["listing_of_plugin"], listing)
        publisher_values = row[publisher_slice]
        cache_relation(plugin, relations["publisher"], publisher_rows.build(publisher_values, db))
        stats_values = row[stats_slice]
        stats = None
        if stats_values[0] is not None:  # its primary key: the listing has a stats row
            stats = stats_rows.build(stats_values, db)
            cache_relation(stats, relations["listing_of_stats"], listing)
            version_values = row[version_slice]
            version = None
            if version_values[0] is not None:
                version = version_rows.build(version_values, db)
                cache_relation(version, relations["plugin_of_version"], plugin)  # the same row
                versions.append(version)
            cache_relation(stats, relations["latest_version"], version)
        cache_relation(listing, relations["stats"], stats)
        found[listing.pk] = listing
    key_ids = {version.signing_key_id for version in versions if version.signing_key_id is not None}
    if key_ids:
        keys = SigningKey.objects.using(db).in_bulk(key_ids)
        for version in versions:
            cache_relation(version, relations["signing_key"], keys.get(version.signing_key_id))
    for listing in found.values():
        listing.current_plans = []
    plan_rows = (
        Plan.objects.using(db)
        .filter(listing_id__any_of=found, retired_at__isnull=True)
        .order_by("pricing_model", "name", "id")
        .values_list(*(field.name for field in page_rows.plans.fields))
    )
    for row in plan_rows:
        plan = page_rows.plans.build(row, db)
        listing = found[plan.listing_id]
        cache_relation(plan, relations["listing_of_plan"], listing)
        listing.current_plans.append(plan)
    return [found[listing_id] for listing_id in listing_ids if listing_id in found]


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
