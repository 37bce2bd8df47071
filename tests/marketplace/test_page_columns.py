"""A browse page loads the columns its query's node fields read (marketplace.graphql.page_columns): each
field of a node, selected alone, answers as with every column loaded, in as many queries (no column it
reads is left deferred), and a list of cards leaves the wide columns out."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from graphql import get_named_type, is_leaf_type, is_object_type

from argus_plugins.schema import schema
from marketplace import browse
from marketplace.graphql import page_columns, queries
from marketplace.models import Listing

from .test_page_rows import _selection, catalogue  # noqa: F401 - the fixture

PAGE = (
    "query($first: Int) {{ marketplaceListings(first: $first, sort: NAME) {{ edges {{ node {{ {} }} }} }} }}"
)


def _node_selections() -> list[str]:
    """Every field of a listing node alone; for an object field, each of its fields alone (with all of
    that field's own fields below it)."""
    listing_type = schema.graphql_schema.get_type("Listing")
    selections = []
    for name, field in listing_type.fields.items():
        named = get_named_type(field.type)
        arguments = "(first: 5)" if "first" in field.args else ""
        if is_leaf_type(named):
            selections.append(name)
            continue
        for sub_name, sub_field in named.fields.items():
            sub_named = get_named_type(sub_field.type)
            if is_leaf_type(sub_named):
                inner = sub_name
            elif is_object_type(sub_named):
                sub_arguments = "(first: 5)" if "first" in sub_field.args else ""
                inner = f"{sub_name}{sub_arguments} {{ {_selection(sub_named, 2)} }}"
            else:
                continue
            selections.append(f"{name}{arguments} {{ {inner} }}")
    return selections


def _page(client: Any, selection: str, first: int = 5) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as captured:
        answer = client.execute(PAGE.format(selection), {"first": first})
    assert not answer.errors, (selection, answer.errors)
    return answer.data, len(captured.captured_queries)


@pytest.mark.parametrize("caller", ["admin_a", "staff"])
def test_each_node_field_answers_as_with_every_column_in_as_many_queries(
    catalogue,  # noqa: F811 - the fixture
    world,
    gql_for,
    settings,
    monkeypatch,
    caller,
):
    settings.GRAPHQL_MAX_FIELDS = 100_000
    settings.GRAPHQL_MAX_DEPTH = 100
    client = gql_for(getattr(world, caller))
    _page(client, "id")  # the caller's first request notes its token's use: one query more
    narrowed = 0
    for selection in _node_selections():
        monkeypatch.setattr(queries, "page_columns", page_columns.page_columns)
        data, count = _page(client, selection)
        monkeypatch.setattr(queries, "page_columns", lambda info: browse.EVERY_COLUMN)
        assert (data, count) == _page(client, selection), selection
        narrowed += 1
    assert narrowed > 60


def test_a_page_of_cards_loads_neither_descriptions_nor_the_version_s_wide_columns(
    catalogue,  # noqa: F811 - the fixture
    world,
    gql_for,
    monkeypatch,
):
    seen = _record_page_columns(monkeypatch)
    card = """
      id slug name tagline ...on Listing { categories tags pricingModels }
      publisher { slug verified }
      plans { name pricingModel price { amount currency } trialDays }
      ratingSummary { average count distribution { stars count } }
      latestVersion { ...version }
      requiredCapabilities
    """
    query = (
        "query { marketplaceListings(first: 5) { edges { node {" + card + "} } } }"
        " fragment version on PluginVersion { version publishedAt }"
    )
    answer = gql_for(world.admin_a).execute(query)
    assert not answer.errors, answer.errors
    assert len(answer.data["marketplaceListings"]["edges"]) == 5
    assert seen == [
        browse.PageColumns(
            listing=frozenset({"tagline", "categories", "tags"}),
            plugin=frozenset({"slug", "name", "publisher"}),
            publisher=frozenset({"slug", "verified"}),
            version=frozenset({"version", "published_at", "manifest"}),
            plan=frozenset({"name", "pricing_model", "price_currency", "price", "trial_days"}),
        )
    ]
    page = browse.listing_page(
        [uuid.UUID(edge["node"]["id"]) for edge in answer.data["marketplaceListings"]["edges"]], seen[0]
    )
    deferred = page[0].get_deferred_fields()
    assert {"description", "description_html", "updated_by_id"} <= deferred
    version = page[0].stats.latest_version
    assert {"changelog", "signature", "review_notes"} <= version.get_deferred_fields()
    assert "manifest" not in version.get_deferred_fields()  # requiredCapabilities reads it
    plan = page[0].current_plans[0]
    assert {"family", "created_by_id", "created_at", "retired_at"} <= plan.get_deferred_fields()


def test_a_field_without_a_known_column_loads_its_part_whole(
    catalogue,  # noqa: F811 - the fixture
    world,
    gql_for,
    monkeypatch,
):
    seen = _record_page_columns(monkeypatch)
    query = (
        "{ marketplaceListings(first: 2) { edges { node { id latestVersion { reviewer } plugin { id } } } } }"
    )
    answer = gql_for(world.staff).execute(query)
    assert not answer.errors, answer.errors
    assert seen[0].version is None and seen[0].plugin is None and seen[0].publisher is None
    assert seen[0].listing == frozenset()


def _record_page_columns(monkeypatch: Any) -> list[browse.PageColumns]:
    """The columns each page load of the listings resolver asks for, in order."""
    seen: list[browse.PageColumns] = []
    original = browse.listing_page

    def recording(listing_ids: Any, columns: browse.PageColumns = browse.EVERY_COLUMN) -> list[Listing]:
        seen.append(columns)
        return original(listing_ids, columns)

    monkeypatch.setattr(queries, "listing_page", recording)
    return seen
