"""A browse page's listings are built from value rows (browse.listing_page): the same instances, relations
and answers as the ``select_related``/``prefetch_related`` loading it replaced, for every field a page's
nodes can show."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLObjectType,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)

from argus_plugins.schema import schema
from marketplace import browse, listings, plans, reviews
from marketplace.graphql import queries
from marketplace.models import Listing, ListingStats
from marketplace.stats import refresh_listing_stats
from registry import services as registry_services

from .conftest import add_plan, install_directly, make_tenant
from .test_browse import _clone_listings, _review


def model_listing_page(listing_ids: list[Any], columns: Any = None) -> list[Listing]:
    """The loading browse.listing_page replaced: model instances through select_related/prefetch_related
    (every column, whatever ``columns`` asks)."""
    found = {
        listing.pk: listing
        for listing in browse.with_page_relations(Listing.objects.filter(pk__in=listing_ids))
    }
    page = [found[listing_id] for listing_id in listing_ids if listing_id in found]
    for listing in page:
        version = getattr(getattr(listing, "stats", None), "latest_version", None)
        if version is not None:
            version.plugin = listing.plugin
    return page


@pytest.fixture
def catalogue(world, market):
    """Listings with current and retired plans, reviews (one replied to, one hidden), installations, a
    deprecated newer version, bulk listings, a delisted one, one without a stats row and one whose stats
    row has no latest version."""
    kit = market.kit
    add_plan(market, "FREE", name="Community")
    monthly = add_plan(market, "SUBSCRIPTION", "49.00", billing_period="MONTHLY", trial_days=14)
    plans.set_plan_price(actor=kit.owner, plan_id=monthly.pk, price="59.00", currency="EUR")  # retires one
    newer = kit.publish(market.plugin, "1.1.0", reviewer=world.staff)
    registry_services.deprecate_version(actor=kit.owner, version_id=newer.pk, reason="Use 1.0.0")
    tenants = [make_tenant(f"Rows {index}") for index in range(3)]
    for index, (tenant, admin) in enumerate(tenants):
        install_directly(tenant, market.plugin, admin)
        review = _review(market.listing, tenant, admin, 3 + index % 3, market.version)
    reviews.reply_to_review(actor=kit.owner, review_id=review.pk, body="Thanks!")
    reviews.hide_review(actor=world.staff, review_id=review.pk, reason="Off topic")
    bulk = _clone_listings(market, 6)
    listings.delist_listing(actor=world.staff, listing_id=bulk[0].pk, reason="Broken")
    ListingStats.objects.filter(pk=bulk[1].pk).delete()
    ListingStats.objects.filter(pk=bulk[2].pk).update(latest_version=None)
    refresh_listing_stats(listing_ids=[market.listing.pk])
    return [market.listing, *bulk]


def _state_of(instance: Any, depth: int = 0) -> Any:
    """An instance's loaded columns, its _state and its cached relations, recursively."""
    if instance is None or depth > 3:
        return instance if instance is None else instance.pk
    values = {key: value for key, value in vars(instance).items() if key != "_state"}
    # prefetch_related leaves an empty prefetch cache on the instances it walked through: nothing cached.
    if values.get("_prefetched_objects_cache") == {}:
        del values["_prefetched_objects_cache"]
    values["current_plans"] = [_state_of(plan, depth + 1) for plan in values.get("current_plans", [])]
    cached = {name: _state_of(related, depth + 1) for name, related in instance._state.fields_cache.items()}
    return (type(instance), values, instance._state.adding, instance._state.db, cached)


def test_page_instances_are_those_of_select_related(catalogue):
    ids = [listing.pk for listing in catalogue][::-1]
    rows, models = browse.listing_page(ids), model_listing_page(ids)
    by_pk = {listing.pk: listing for listing in rows}
    assert [listing.pk for listing in rows] == ids
    assert [_state_of(listing) for listing in rows] == [_state_of(listing) for listing in models]
    # Deferred columns stay deferred, relations answer from the cache.
    with pytest.raises(ListingStats.DoesNotExist):
        by_pk[catalogue[2].pk].stats  # noqa: B018 - the listing without a stats row
    assert by_pk[catalogue[3].pk].stats.latest_version is None
    first = by_pk[catalogue[0].pk]
    assert first.stats.get_deferred_fields() == set(browse.FILTER_AND_SORT_COLUMNS)
    assert first.stats.latest_version.plugin is first.plugin
    assert str(first.current_plans[1].price) == "€59.00"
    assert all(plan.listing is first for plan in first.current_plans)


def _selection(object_type: GraphQLObjectType, depth: int) -> str:
    """Every field of the type, objects down to ``depth`` levels; connections take their first 5 items."""
    parts = []
    for name, field in object_type.fields.items():
        if any(is_non_null_type(arg.type) and arg.default_value is Undefined for arg in field.args.values()):
            continue  # a required argument: not a page field
        named = get_named_type(field.type)
        arguments = "(first: 5)" if "first" in field.args else ""
        if is_leaf_type(named):
            parts.append(name + arguments)
        elif is_object_type(named) and depth > 0:
            parts.append(f"{name}{arguments} {{ {_selection(named, depth - 1)} }}")
    return " ".join(parts)


def _every_field_query() -> str:
    listing_type = schema.graphql_schema.get_type("Listing")
    return (
        "query($first: Int, $sort: ListingSort) { marketplaceListings(first: $first, sort: $sort) {"
        f" totalCount edges {{ node {{ {_selection(listing_type, 3)} }} }} }} }}"
    )


@pytest.mark.parametrize("caller", ["admin_a", "staff", "publisher"])
def test_every_node_field_answers_as_with_model_instances(
    catalogue, world, market, gql_for, settings, monkeypatch, caller
):
    settings.GRAPHQL_MAX_FIELDS = 100_000
    settings.GRAPHQL_MAX_DEPTH = 100
    user = market.kit.owner if caller == "publisher" else getattr(world, caller)
    client = gql_for(user)
    query = _every_field_query()
    answers = {}
    for loader in ("rows", "models"):
        if loader == "models":
            monkeypatch.setattr(queries, "listing_page", model_listing_page)
        answers[loader] = [client.execute(query, {"first": 20, "sort": sort}) for sort in ("POPULAR", "NAME")]
    for rows, models in zip(answers["rows"], answers["models"], strict=True):
        assert not rows.errors, rows.errors
        assert rows.data == models.data
    nodes = [edge["node"] for edge in answers["rows"][0].data["marketplaceListings"]["edges"]]
    assert len(nodes) == 5  # the delisted listing and the one without a stats row are not browsable
    echo = next(node for node in nodes if node["slug"] == "echo")
    assert echo["ratingSummary"]["count"] == 2 and len(echo["plans"]) == 2
    assert echo["latestVersion"]["version"] == "1.0.0"
    assert echo["plugin"]["latestVersion"]["version"] in {"1.0.0", "1.1.0"}


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("19.9", "EUR", "19.90"),
        ("19.90", "EUR", "19.90"),
        ("1500", "JPY", "1500"),
        ("1.5", "BHD", "1.500"),
        ("0", "USD", "0.00"),
        ("-0", "USD", "-0.00"),  # equal to 0, written as quantize writes it
    ],
)
def test_a_plans_price_shows_alike_before_and_after_django_money_reads_it(amount, currency, shown):
    """A page's plan holds its amount as loaded until ``plan.price`` is read (then a djmoney ``Money``):
    its shown price is the same either way, with the currency's minor-unit digits."""
    from decimal import Decimal

    from djmoney.money import Money

    from marketplace.graphql.types import ShownMoney, shown_money, shown_price
    from marketplace.models import Plan

    plan = Plan(price=Decimal(amount), price_currency=currency)
    assert type(plan.__dict__["price"]) is Decimal  # as a page's rows leave it
    before = shown_price(plan)
    assert before == shown_money(plan.price) == ShownMoney(shown, currency)
    assert type(plan.__dict__["price"]) is Money
    assert shown_price(plan) == before
