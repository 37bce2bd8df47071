"""The structural limits and the query cost are pure functions of the document: cycle-safe, cheap."""

from __future__ import annotations

from graphql import get_introspection_query, get_operation_ast, parse

from argus_plugins.core.graphql.validation import DocumentShape, QueryCost, mutation_count
from argus_plugins.schema import schema


def cost(query: str, variables: dict | None = None) -> int:
    document = parse(query)
    return QueryCost(schema.graphql_schema, document, variables or {}).of_operation(
        get_operation_ast(document)
    )


def test_fragment_cycles_and_unknown_fragments_are_measured_without_recursing_forever():
    cyclic = parse("{ ...A } fragment A on Query { me { username } ...B } fragment B on Query { ...A }")
    shape = DocumentShape.of(cyclic)
    assert (shape.depth, shape.fields, shape.operations) == (1, 2, 1)
    assert cost("{ ...A } fragment A on Query { me { username } ...B } fragment B on Query { ...A }") == 2
    assert DocumentShape.of(parse("{ ...Nope }")).fields == 0
    assert cost("{ ...Nope }") == 0


def test_fragments_count_once_as_written_but_cost_at_every_spread():
    document = "{ a: me { ...U } b: me { ...U } } fragment U on User { username isStaff }"
    shape = DocumentShape.of(parse(document))
    assert (shape.fields, shape.aliases, shape.depth) == (4, 2, 1)
    assert cost(document) == 2 * (1 + 2)


def test_connections_multiply_by_their_page_size_and_lists_by_the_list_factor(settings):
    page = "query($n: Int) { tenants(first: $n) { edges { node { name } } } }"
    assert cost(page, {"n": 50}) == 1 + 50 * (1 + 1 * (1 + 1))
    assert cost(page) == 1 + settings.GRAPHQL_DEFAULT_PAGE_SIZE * 3  # no page size: the default
    assert cost("{ tenants(first: 7) { totalCount } }") == 1 + 7 * 1
    assert cost("{ tenants { edges { node { members { role } } } } }") == 1 + 20 * (
        1 + 1 + 1 + 10 * 1
    )  # edges, node, members, 10 roles


def test_introspection_depth_is_free_but_its_cost_is_not(settings):
    shape = DocumentShape.of(parse(get_introspection_query(descriptions=True)))
    assert shape.depth == 0 and shape.schema_fields == 1
    assert 40_000 < cost(get_introspection_query(descriptions=True)) < settings.GRAPHQL_MAX_COST


def test_mutation_fields_are_counted_through_fragments_once_per_spread():
    document = parse(
        'mutation { a: createTenant(name: "a") { errors { code } } ...M ...M } '
        'fragment M on Mutation { b: createTenant(name: "b") { errors { code } } __typename }'
    )
    assert mutation_count(document, get_operation_ast(document)) == 2
    query = parse("{ me { username } }")
    assert mutation_count(query, get_operation_ast(query)) == 0
