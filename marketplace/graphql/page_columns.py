"""Which columns a page of listings loads: those the fields its query selects on the nodes read.

``marketplaceListings`` loads its page with :func:`marketplace.browse.listing_page`, which reads every
listing's row joined with its plugin's, its publisher's, its stats row and its latest version's. A list of
listing cards reads a handful of them; the descriptions, the rendered HTML, the version's changelog,
signature, manifest and review notes, a dozen timestamps and user keys are wide or costly to convert per
row (README, "Marketplace"). :func:`page_columns` maps the query's selection to the columns it reads, as
graphene-django-optimizer and strawberry-django's optimizer do with ``only()``:

- a field of a Django type that is a model column under the same name, read by graphene's default resolver
  (no ``resolve_<name>``), reads that column;
- the fields with their own resolvers that a page serves from the loaded rows are listed below with the
  columns they read (``()``: none of the parts' columns — the stats row is always loaded whole, and a
  field that runs its own query reads nothing of the page's rows);
- any other field makes its part load every column, as before: nothing a resolver reads is ever left
  deferred, so no node costs a query of its own (tests/marketplace/test_page_columns.py selects every
  field alone and checks the answer and the query count against loading every column).

Fragments and inline fragments count as selected; ``@skip``/``@include`` are ignored (a field that might be
selected is loaded).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

import graphene
from graphene.utils.str_converters import to_snake_case
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from registry.graphql.types import PluginVersionType, PublisherType

from ..browse import EVERY_COLUMN, PageColumns
from .types import ListingType, PlanType

#: A part's columns: a set of model field names, or None for every column.
Columns = dict[str, set[str] | None]
#: A part's GraphQL field names and the (part, column) pairs each one reads.
FieldColumns = dict[str, tuple[tuple[str, str], ...]]

#: Fields with their own resolvers served from the page's rows: the (part, column) pairs each reads.
LISTING_FIELDS: FieldColumns = {
    "id": (),  # the primary key
    "__typename": (),
    "slug": (("plugin", "slug"),),
    "name": (("plugin", "name"),),
    "pricingModels": (),
    "requiresEntitlement": (),
    "ratingSummary": (),
    "reviews": (),
    "moderationHistory": (),
    "requiredCapabilities": (("version", "manifest"),),
    "delisted": (("listing", "delisted_at"),),
    "delistedReason": (("listing", "delisted_at"), ("listing", "delisted_reason")),
}
PLAN_FIELDS: FieldColumns = {
    "id": (),
    "__typename": (),
    "price": (("plan", "price_currency"), ("plan", "price")),
    "billingPeriod": (("plan", "billing_period"),),
    "current": (("plan", "retired_at"),),
}
PUBLISHER_FIELDS: FieldColumns = {
    "id": (),
    "__typename": (),
}  # signingKeys: each key's publisher is this row's instance, so its fields read every column
VERSION_FIELDS: FieldColumns = {
    "id": (),
    "__typename": (),
    "signingKey": (),  # loaded whole by the page's signing-key query
    "status": (("version", "status"),),
    "manifest": (("version", "manifest"),),
    "capabilities": (("version", "manifest"),),
    "resources": (("version", "manifest"),),
    "signatureVerified": (("version", "signature_verified_at"),),
    "history": (),
}


def page_columns(info: graphene.ResolveInfo) -> PageColumns:
    """The columns the nodes of the ``marketplaceListings`` field being resolved read."""
    fragments = info.fragments
    connection = _fields(_selection_sets(info.field_nodes), fragments)
    edges = _fields(_selection_sets(connection.get("edges", ())), fragments)
    node = _fields(_selection_sets(edges.get("node", ())), fragments)
    columns: Columns = {
        "listing": set(),
        "plugin": set(),
        "publisher": set(),
        "version": set(),
        "plan": set(),
    }
    for name, nodes in node.items():
        if name == "publisher":
            fields = _fields(_selection_sets(nodes), fragments)
            _read_fields(fields, PUBLISHER_FIELDS, PublisherType, "publisher", columns)
            columns["plugin"] = _with(columns["plugin"], "publisher")
        elif name == "plans":
            _read_fields(_fields(_selection_sets(nodes), fragments), PLAN_FIELDS, PlanType, "plan", columns)
        elif name == "latestVersion":
            _read_version(_fields(_selection_sets(nodes), fragments), columns)
        elif name == "plugin":  # PluginType's resolvers read the plugin and its publisher
            columns["plugin"] = columns["publisher"] = None
        else:
            _read_field(name, LISTING_FIELDS, ListingType, "listing", columns)
    return _as_page_columns(columns)


def _read_version(fields: dict[str, list[FieldNode]], columns: Columns) -> None:
    for name in fields:
        if name == "plugin":  # the page's plugin row, shown through PluginType
            columns["plugin"] = columns["publisher"] = None
        else:
            _read_field(name, VERSION_FIELDS, PluginVersionType, "version", columns)


def _read_fields(
    fields: dict[str, list[FieldNode]], known: FieldColumns, graphene_type: Any, part: str, columns: Columns
) -> None:
    for name in fields:
        _read_field(name, known, graphene_type, part, columns)


def _read_field(name: str, known: FieldColumns, graphene_type: Any, part: str, columns: Columns) -> None:
    """The columns the field ``name`` of ``part`` (shown as ``graphene_type``) reads: listed in ``known``,
    or else the model column of the same name (``_read_column``)."""
    if name in known:
        _read(known[name], columns)
    else:
        _read_column(graphene_type, part, name, columns)


def _read(pairs: Iterable[tuple[str, str]], columns: Columns) -> None:
    for part, column in pairs:
        columns[part] = _with(columns[part], column)


def _read_column(graphene_type: Any, part: str, name: str, columns: Columns) -> None:
    """A field read by graphene's default resolver from the model column of the same name; anything else:
    the part loads every column."""
    column = _column_of(graphene_type, name)
    columns[part] = None if column is None else _with(columns[part], column)


@functools.cache
def _column_of(graphene_type: Any, name: str) -> str | None:
    """The model column the Django type's field ``name`` reads by graphene's default resolver, or None."""
    field_name = to_snake_case(name)
    graphene_field = graphene_type._meta.fields.get(field_name)
    model = graphene_type._meta.model
    columns_by_name = {field.name: field for field in model._meta.concrete_fields if not field.is_relation}
    if (
        graphene_field is None
        or field_name not in columns_by_name
        or getattr(graphene_field, "resolver", None) is not None
        or getattr(graphene_type, f"resolve_{field_name}", None) is not None
    ):
        return None
    return field_name


def _with(names: set[str] | None, column: str) -> set[str] | None:
    if names is not None:
        names.add(column)
    return names


def _as_page_columns(columns: Columns) -> PageColumns:
    frozen = {part: None if names is None else frozenset(names) for part, names in columns.items()}
    if all(names is None for names in frozen.values()):
        return EVERY_COLUMN
    return PageColumns(**frozen)


def _selection_sets(nodes: Iterable[FieldNode]) -> Iterator[SelectionSetNode]:
    for node in nodes:
        if node.selection_set is not None:
            yield node.selection_set


Selected = dict[str, list[FieldNode]]


def _fields(selection_sets: Iterable[SelectionSetNode], fragments: dict[str, Any]) -> Selected:
    """The fields selected in ``selection_sets`` by name (not alias), through fragments and inline
    fragments."""
    found: dict[str, list[FieldNode]] = {}
    pending = list(selection_sets)
    seen_fragments: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                found.setdefault(selection.name.value, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen_fragments and name in fragments:
                    seen_fragments.add(name)
                    pending.append(fragments[name].selection_set)
    return found
