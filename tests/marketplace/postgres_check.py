"""Run by test_postgres.py in a subprocess against a fresh PostgreSQL database (DATABASE_URL): migrates,
builds a small marketplace, and prints what full-text search, the category filter (jsonb @>), the sorts,
visibility, the page's query counts and percentile_cont return, as JSON."""

import datetime as dt
import json
import random
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.check_scripts import start_django  # noqa: E402

start_django(bench=True)

import marketplace_bench  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from argus_plugins.tenancy.models import Tenant, User  # noqa: E402
from execution.models import Execution  # noqa: E402
from installations.models import Installation  # noqa: E402
from marketplace import analytics  # noqa: E402
from marketplace.browse import EVERY_COLUMN, browse_listings  # noqa: E402
from marketplace.graphql import queries as marketplace_queries  # noqa: E402
from marketplace.graphql.page_columns import page_columns  # noqa: E402
from marketplace.models import Listing, ListingStats  # noqa: E402
from marketplace.stats import refresh_listing_stats  # noqa: E402
from registry.models import Plugin  # noqa: E402

token, _ = marketplace_bench.build(60, 600)
user = User.objects.get(username="bench-viewer")
plugin = Plugin.objects.order_by("slug").first()
version = plugin.versions.get()
rng = random.Random(5)
durations = []
for tenant in Tenant.objects.order_by("slug")[:4]:
    installation = Installation.objects.filter(
        plugin=plugin, tenant=tenant
    ).first() or Installation.objects.create(plugin=plugin, tenant=tenant, installed_by=user)
    for minute in range(5):
        duration = rng.randint(1, 2000)
        durations.append(duration)
        at = dt.datetime(2026, 5, 1, 10, minute, tzinfo=dt.UTC)
        Execution.objects.create(
            tenant=tenant,
            installation=installation,
            plugin_version=version,
            input={},
            input_sha256="0" * 64,
            status="SUCCEEDED",
            queued_at=at,
            enqueued_at=at,
            duration_ms=duration,
        )
report = analytics.plugin_analytics(plugin, dt.date(2026, 5, 1), dt.date(2026, 5, 1), private=True)
searched = list(browse_listings(user, search=plugin.slug).select_related("listing__plugin")[:1])
tagline_hits = browse_listings(user, search="investigators").count()
client = Client(headers={"Authorization": f"Bearer {token}"})


def browse(**variables):
    """(slugs of the page, totalCount, SQL queries of the page but the token lookup) over GraphQL."""
    body = json.dumps({"query": marketplace_bench.QUERY, "variables": {"first": 100, **variables}})
    with CaptureQueriesContext(connection) as queries:
        payload = json.loads(client.post("/graphql/", body, content_type="application/json").content)
    assert "errors" not in payload, payload
    page = payload["data"]["marketplaceListings"]
    count = len([q for q in queries.captured_queries if "tenancy_apitoken" not in q["sql"]])
    return [edge["node"]["slug"] for edge in page["edges"]], page["totalCount"], count


def slugs_where(predicate):
    return sorted(
        listing.plugin.slug for listing in Listing.objects.select_related("plugin") if predicate(listing)
    )


in_memory, memory_total, _ = browse(category="MeMory ")
by_rating = [
    stats.listing.plugin.slug
    for stats in sorted(
        ListingStats.objects.filter(visible=True).select_related("listing__plugin"),
        key=lambda stats: (
            -(stats.rating_average or 0),
            -stats.rating_count,
            stats.name,
            str(stats.listing_id),
        ),
    )
]
rated, _, _ = browse(sort="RATING")
newest, _, _ = browse(sort="NEWEST")
by_newest = [
    stats.listing.plugin.slug
    for stats in ListingStats.objects.filter(visible=True)
    .select_related("listing__plugin")
    .order_by("-latest_published_at", "name", "listing_id")
]
page_queries = {
    f"category {size}": browse(first=size, category="memory", sort="RATING")[2] for size in (5, 50)
}
page_queries.update({f"search {size}": browse(first=size, search="timeline")[2] for size in (5, 50)})


def bench_page():
    body = json.dumps({"query": marketplace_bench.QUERY, "variables": {"first": 50}})
    return json.loads(client.post("/graphql/", body, content_type="application/json").content)


# The page read with only the columns its fields need answers as with every column (PostgreSQL's loaders).
narrowed_page = bench_page()
marketplace_queries.page_columns = lambda info: EVERY_COLUMN
whole_page = bench_page()
marketplace_queries.page_columns = page_columns
# field__any_of (argus_plugins.core.lookups): one array parameter, the rows __in finds.
some_ids = [*Listing.objects.values_list("pk", flat=True)[:7], None, uuid.uuid4()]
with CaptureQueriesContext(connection) as any_of_queries:
    any_of_rows = sorted(Listing.objects.filter(pk__any_of=some_ids).values_list("pk", flat=True))
in_rows = sorted(Listing.objects.filter(pk__in=some_ids).values_list("pk", flat=True))
delisted = Listing.objects.select_related("plugin").get(plugin=plugin)
Listing.objects.filter(pk=delisted.pk).update(delisted_at=delisted.created_at)
refresh_listing_stats(listing_ids=[delisted.pk])
after_delisting, total_after_delisting, _ = browse()
print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "durations": durations,
            "p50": report.totals.executions.p50_duration_ms,
            "p95": report.totals.executions.p95_duration_ms,
            "by_day_p95": [bucket.executions.p95_duration_ms for bucket in report.by_day],
            "search_first": searched[0].listing.plugin.slug,
            "category_page": in_memory,
            "category_total": memory_total,
            "category_expected": slugs_where(lambda listing: "memory" in listing.categories),
            "rating_order_matches": rated == by_rating,
            "newest_order_matches": newest == by_newest,
            "page_queries": page_queries,
            "any_of_matches": any_of_rows == in_rows and len(in_rows) == 7,
            "any_of_array": "= ANY(" in any_of_queries.captured_queries[0]["sql"],
            "narrowed_page_matches": narrowed_page == whole_page and "errors" not in whole_page,
            "delisted_slug": plugin.slug,
            "after_delisting": after_delisting,
            "total_after_delisting": total_after_delisting,
            "search_ranked": searched[0].search_rank > 0,
            "tagline_hits": tagline_hits,
            "nothing": browse_listings(user, search="zzzqqq").count(),
        }
    )
)
