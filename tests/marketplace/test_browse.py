"""Browsing and searching the marketplace (SQLite here), and the page's constant query count."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from installations import services as installations_services
from marketplace import listings
from marketplace.models import Listing, ListingStats, Plan, Review
from marketplace.stats import refresh_listing_stats
from registry import services as registry_services
from registry.models import Plugin, PluginVersion, VersionStatus

from .conftest import add_plan, install_directly, make_tenant

BROWSE = """
query($search: String, $category: String, $pricing: PricingModel, $min: Float, $sort: ListingSort, $first: Int,
      $after: String) {
  marketplaceListings(search: $search, category: $category, pricingModel: $pricing, minRating: $min, sort: $sort,
                      first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id slug name tagline descriptionHtml categories tags pricingModels requiresEntitlement
      publisher { slug }
      plans { name pricingModel price { amount currency } }
      ratingSummary { average count distribution { stars count } }
      latestVersion { version }
      requiredCapabilities
    } }
  }
}"""


def _clone_listings(market, count, *, tag_for=lambda i: "bulk"):
    """Listings of extra plugins that share the fixture's signed version row data (made directly)."""
    source = market.version
    created = []
    for index in range(count):
        plugin = Plugin.objects.create(
            publisher=market.plugin.publisher,
            slug=f"bulk-{index:03d}",
            name=f"Bulk tool {index:03d}",
            created_by=market.kit.owner,
        )
        PluginVersion.objects.create(
            plugin=plugin,
            version="1.0.0",
            precedence_key=source.precedence_key,
            manifest=source.manifest,
            manifest_sha256=source.manifest_sha256,
            runtime=source.runtime,
            bundle=source.bundle.name,
            bundle_size=source.bundle_size,
            code_sha256=source.code_sha256,
            signature=source.signature,
            signing_key=source.signing_key,
            signature_verified_at=source.signature_verified_at,
            status=VersionStatus.PUBLISHED,
            created_by=market.kit.owner,
            published_at=source.published_at + dt.timedelta(minutes=index),
        )
        listing = Listing.objects.create(plugin=plugin, tagline=f"Tool number {index}", tags=[tag_for(index)])
        Plan.objects.create(
            listing=listing, name="Free", pricing_model="FREE", price=0, created_by=market.kit.owner
        )
        Plan.objects.create(
            listing=listing,
            name="Pro",
            pricing_model="SUBSCRIPTION",
            billing_period="MONTHLY",
            price=10,
            price_currency="EUR",
            created_by=market.kit.owner,
        )
        created.append(listing)
    refresh_listing_stats(listing_ids=[listing.pk for listing in created])  # rows made directly
    return created


def _review(listing, tenant, admin, rating, version):
    """A verified review made directly (no successful run needed), with the listing's figures refreshed."""
    review = Review.objects.create(
        listing=listing,
        tenant=tenant,
        author=admin,
        version=version,
        rating=rating,
        title="t",
        verified_at=listing.created_at,
    )
    refresh_listing_stats(listing_ids=[listing.pk])
    return review


def test_search_on_sqlite_matches_name_tagline_description_and_tags(world, market, gql_for):
    client = gql_for(world.admin_a)
    for text in ("echo", "ECHOES", "everything", "demo", "echo demo"):
        result = client.execute(BROWSE, {"search": text}).data["marketplaceListings"]
        assert [edge["node"]["slug"] for edge in result["edges"]] == ["echo"], text
    assert (
        client.execute(BROWSE, {"search": "nothing-like-this"}).data["marketplaceListings"]["totalCount"] == 0
    )
    assert client.execute(BROWSE, {"search": "echo missing"}).data["marketplaceListings"]["totalCount"] == 0
    node = client.execute(BROWSE, {"category": "utilities"}).data["marketplaceListings"]["edges"][0]["node"]
    assert node["descriptionHtml"] == "<h1>Echo</h1>\n<p>Repeats <strong>everything</strong>.</p>\n"
    assert node["latestVersion"] == {"version": "1.0.0"} and node["requiredCapabilities"] == []
    assert client.execute(BROWSE, {"category": "other"}).data["marketplaceListings"]["totalCount"] == 0


def test_category_filter_matches_whole_labels_and_follows_listing_edits(world, market, gql_for):
    bulk = _clone_listings(market, 3)
    for listing, categories in zip(bulk, (["memory"], ["memory-forensics"], ["disk", "memory"]), strict=True):
        listings.update_listing(actor=market.kit.owner, plugin_id=listing.plugin_id, categories=categories)
    client = gql_for(world.admin_a)

    def in_category(label):
        result = client.execute(BROWSE, {"category": label, "sort": "NAME"}).data["marketplaceListings"]
        return [edge["node"]["slug"] for edge in result["edges"]], result["totalCount"]

    assert in_category("memory") == (["bulk-000", "bulk-002"], 2)  # not "memory-forensics"
    assert in_category(" MEMORY ") == (["bulk-000", "bulk-002"], 2)
    assert in_category("memory-forensics") == (["bulk-001"], 1)
    assert in_category("mem") == ([], 0)
    listings.update_listing(actor=market.kit.owner, plugin_id=bulk[0].plugin_id, categories=["disk"])
    assert in_category("memory") == (["bulk-002"], 1)
    assert ListingStats.objects.get(listing=bulk[0]).categories == ["disk"]


def test_page_figures_come_from_the_stats_row_and_match_the_reviews(world, market, gql_for):
    tenants = [make_tenant(f"Critic {i}") for i in range(3)]
    reviews = [
        _review(market.listing, tenant, admin, rating, market.version)
        for (tenant, admin), rating in zip(tenants, (5, 4, 4), strict=True)
    ]
    client = gql_for(world.admin_a)

    def summary():
        node = client.execute(BROWSE, {}).data["marketplaceListings"]["edges"][0]["node"]
        return node["ratingSummary"], node["latestVersion"]

    figures, latest = summary()
    assert figures == {
        "average": pytest.approx(13 / 3),
        "count": 3,
        "distribution": [{"stars": s, "count": {4: 2, 5: 1}.get(s, 0)} for s in range(1, 6)],
    }
    assert latest == {"version": market.version.version}
    Review.objects.filter(pk=reviews[0].pk).update(hidden_at=reviews[0].created_at)
    refresh_listing_stats(listing_ids=[market.listing.pk])
    assert summary()[0]["distribution"][4] == {"stars": 5, "count": 0}
    # The detail query still answers for a listing whose stats row is missing (computed from the rows).
    ListingStats.objects.filter(listing=market.listing).delete()
    detail = client.execute(
        "query($id: ID!) { listing(id: $id) { ratingSummary { count } latestVersion { version } } }",
        {"id": str(market.listing.pk)},
    ).data["listing"]
    assert detail == {"ratingSummary": {"count": 2}, "latestVersion": {"version": market.version.version}}


def test_filters_and_sorts(world, market, gql_for):
    add_plan(market, "PAID", "99")
    bulk = _clone_listings(market, 3)
    tenants = [make_tenant(f"Rater {i}") for i in range(3)]
    for tenant, admin in tenants:
        _review(bulk[0], tenant, admin, 5, market.version)
        install_directly(tenant, bulk[1].plugin, admin)
    _review(market.listing, *tenants[0], 2, market.version)
    client = gql_for(world.admin_a)

    def slugs(**variables):
        result = client.execute(BROWSE, variables).data["marketplaceListings"]
        return [edge["node"]["slug"] for edge in result["edges"]]

    assert slugs(sort="RATING")[:2] == ["bulk-000", "echo"]
    assert slugs(sort="POPULAR")[0] == "bulk-001"
    assert slugs(sort="NAME") == ["bulk-000", "bulk-001", "bulk-002", "echo"]
    assert slugs(sort="NEWEST")[0] == "bulk-002"
    assert slugs(min=4.5) == ["bulk-000"]
    assert slugs(pricing="PAID") == ["echo"]
    assert set(slugs(pricing="SUBSCRIPTION")) == {"bulk-000", "bulk-001", "bulk-002"}
    node = client.execute(BROWSE, {"search": "bulk-000"}).data["marketplaceListings"]["edges"][0]["node"]
    assert node["ratingSummary"] == {
        "average": 5.0,
        "count": 3,
        "distribution": [{"stars": s, "count": 3 if s == 5 else 0} for s in range(1, 6)],
    }
    assert node["pricingModels"] == ["FREE", "SUBSCRIPTION"] and node["requiresEntitlement"] is False
    for bad, code in (
        ({"min": 7}, "INVALID"),
        ({"search": "x" * 201}, "TOO_LONG"),
        ({"first": 500}, "LIMIT_EXCEEDED"),
    ):
        assert client.execute(BROWSE, bad).errors[0]["extensions"]["code"] == code


def test_delisted_and_untrusted_listings_are_not_browsable(world, market, gql_for):
    bulk = _clone_listings(market, 3)
    client = gql_for(world.admin_a)

    def slugs():
        return [
            edge["node"]["slug"] for edge in client.execute(BROWSE, {}).data["marketplaceListings"]["edges"]
        ]

    assert set(slugs()) == {"echo", "bulk-000", "bulk-001", "bulk-002"}
    listings.delist_listing(actor=world.staff, listing_id=bulk[0].pk, reason="Spam")
    registry_services.deprecate_version(
        actor=market.kit.owner, version_id=bulk[1].plugin.versions.get().pk, reason="Superseded"
    )
    registry_services.deprecate_plugin(actor=market.kit.owner, plugin_id=bulk[2].plugin.pk, reason="Old")
    assert "bulk-002" in slugs()  # deprecated plugins stay listed; archived ones do not
    registry_services.archive_plugin(actor=market.kit.owner, plugin_id=bulk[2].plugin.pk)
    assert slugs() == ["echo"]
    listings.relist_listing(actor=world.staff, listing_id=bulk[0].pk)
    assert slugs() == ["bulk-000", "echo"]


def test_revoking_the_signing_key_hides_its_listings_at_once(world, market, gql_for):
    bulk = _clone_listings(market, 1)
    client = gql_for(world.admin_a)
    assert client.execute(BROWSE, {}).data["marketplaceListings"]["totalCount"] == 2
    registry_services.revoke_signing_key(
        actor=market.kit.owner, key_id=market.version.signing_key_id, reason="Compromised"
    )
    assert client.execute(BROWSE, {}).data["marketplaceListings"]["totalCount"] == 0
    assert ListingStats.objects.get(listing=bulk[0]).visible is False


def test_installs_and_uninstalls_move_the_popular_order(world, market, gql_for):
    bulk = _clone_listings(market, 2)
    client = gql_for(world.admin_a)

    def popular():
        result = client.execute(BROWSE, {"sort": "POPULAR"}).data["marketplaceListings"]
        return [edge["node"]["slug"] for edge in result["edges"]]

    assert popular() == ["bulk-000", "bulk-001", "echo"]  # no installs: by name
    installation = installations_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=bulk[1].plugin.pk
    )
    assert popular()[0] == "bulk-001"
    installations_services.uninstall_plugin(actor=world.admin_a, installation_id=installation.pk)
    assert popular() == ["bulk-000", "bulk-001", "echo"]


def test_stats_refresh_repairs_rows_written_around_the_services(market):
    stats = ListingStats.objects.get(listing=market.listing)
    assert (stats.visible, stats.active_installs, stats.rating_count) == (True, 0, 0)
    ListingStats.objects.filter(pk=stats.pk).update(visible=False, active_installs=7, rating_average=1.0)
    assert refresh_listing_stats() == 1
    stats.refresh_from_db()
    assert (stats.visible, stats.active_installs, stats.rating_average) == (True, 0, None)
    assert stats.latest_published_at == market.version.published_at


def _page_queries(queries):
    # The bearer-token lookup (and its throttled last-used update) is the same for any request.
    return len([q for q in queries.captured_queries if "tenancy_apitoken" not in q["sql"]])


def test_query_count_does_not_grow_with_the_page_size(world, market, gql_for):
    bulk = _clone_listings(market, 24, tag_for=lambda i: f"tag{i % 3}")
    tenants = [make_tenant(f"Pager {i}") for i in range(3)]
    for index, listing in enumerate(bulk):
        for tenant, admin in tenants[: index % 4]:
            _review(listing, tenant, admin, 1 + index % 5, market.version)
    client = gql_for(world.admin_a)
    counts = {}
    deeper = BROWSE.replace(
        "latestVersion { version }",
        "latestVersion { version signatureVerified plugin { slug } signingKey { fingerprint } }",
    )
    variants = {
        "POPULAR": {"sort": "POPULAR"},
        "RATING": {"sort": "RATING"},
        "category": {"category": "utilities", "sort": "NEWEST"},
        "search": {"search": "bulk"},
        "pricing": {"pricing": "SUBSCRIPTION"},
    }
    for size in (5, 20):
        for name, variables in variants.items():
            with CaptureQueriesContext(connection) as queries:
                result = client.execute(deeper, {"first": size, **variables})
            assert not result.errors, result.errors
            page = result.data["marketplaceListings"]
            if name != "category":  # only the fixture's own listing has a category
                assert len(page["edges"]) == size
            assert all(edge["node"]["latestVersion"]["signatureVerified"] for edge in page["edges"])
            counts[(size, name)] = _page_queries(queries)
    for name in variants:
        assert counts[(5, name)] == counts[(20, name)], name
    # Same for a detail query with reviews.
    detail = "query($id: ID!) { listing(id: $id) { plans { name } ratingSummary { count } reviews(first: %d) { edges { node { rating version reply { body } } } } } }"
    sizes = {}
    for size in (1, 3):
        with CaptureQueriesContext(connection) as queries:
            assert client.execute(detail % size, {"id": str(bulk[3].pk)}).data["listing"]
        sizes[size] = _page_queries(queries)
    assert sizes[1] == sizes[3]


EVERY_LISTING_FIELD = """
query($first: Int) {
  marketplaceListings(first: $first) {
    edges { node {
      id createdAt updatedAt tagline documentationUrl supportUrl iconUrl delistedAt slug name
      plugin { slug } publisher { slug } categories tags description descriptionHtml
      plans { id name version pricingModel billingPeriod price { amount currency } family current trialDays
              createdAt retiredAt }
      pricingModels requiresEntitlement ratingSummary { average count distribution { stars count } }
      latestVersion { version } requiredCapabilities delisted delistedReason moderationHistory { action }
    } }
  }
}"""


def test_every_listing_field_of_a_page_costs_no_query_per_listing(world, market, gql_for):
    """A page loads only the stats row's rating figures and latest version (its filter and sort columns
    are deferred): no node field may fetch a deferred column, one query per listing."""
    _clone_listings(market, 12)
    client = gql_for(world.admin_a)
    counts = {}
    for size in (3, 12):
        with CaptureQueriesContext(connection) as queries:
            result = client.execute(EVERY_LISTING_FIELD, {"first": size})
        assert not result.errors, result.errors
        nodes = [edge["node"] for edge in result.data["marketplaceListings"]["edges"]]
        assert len(nodes) == size and all(node["plans"] and node["latestVersion"] for node in nodes)
        counts[size] = _page_queries(queries)
    assert counts[3] == counts[12]


def test_listing_by_slug_and_id_and_hidden_to_others(world, market, gql_for):
    query = "query($id: ID, $slug: String) { listing(id: $id, slug: $slug) { slug delisted } }"
    client = gql_for(world.admin_a)
    assert client.execute(query, {"slug": "echo"}).data["listing"] == {"slug": "echo", "delisted": False}
    assert client.execute(query, {"id": str(market.listing.pk)}).data["listing"]["slug"] == "echo"
    for variables, code in (
        ({}, "INVALID"),
        ({"id": "bad"}, "INVALID"),
        ({"id": str(uuid.uuid4())}, "NOT_FOUND"),
        ({"slug": "nope"}, "NOT_FOUND"),
    ):
        assert client.execute(query, variables).errors[0]["extensions"]["code"] == code
    assert gql_for(None).execute(query, {"slug": "echo"}).errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("size", [0])
def test_empty_page(world, market, gql_for, size):
    result = gql_for(world.admin_a).execute(BROWSE, {"first": size}).data["marketplaceListings"]
    assert result["totalCount"] == 1 and result["edges"] == []


def test_an_admin_rename_reaches_the_catalogue_figures_at_once(market, world):
    from django.test import Client
    from django.urls import reverse

    from argus_plugins.tenancy.models import User

    plugin = market.listing.plugin
    assert ListingStats.objects.get(listing=market.listing).name == "Echo"
    operator = User.objects.create_superuser("root-editor", password="pw-For-tests-1")
    client = Client()
    client.force_login(operator)
    response = client.post(
        reverse("admin:registry_plugin_change", args=[plugin.pk]),
        {
            "name": "Echo Renamed",
            "summary": plugin.summary,
            "description": plugin.description,
            "categories": "[]",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Plugin.objects.get(pk=plugin.pk).name == "Echo Renamed"
    assert (
        ListingStats.objects.get(listing=market.listing).name == "Echo Renamed"
    )  # not at the hourly refresh
