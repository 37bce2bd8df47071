"""The view's cache of parsed and validated documents: same answers as without it, never shared wrongly."""

from __future__ import annotations

import pytest

from argus_plugins.core.graphql import view
from argus_plugins.core.graphql.view import CheckedDocument, DocumentCache
from argus_plugins.tenancy.models import Tenant


@pytest.fixture(autouse=True)
def empty_cache():
    view.document_cache.clear()
    yield
    view.document_cache.clear()


@pytest.fixture
def parses(monkeypatch):
    """Count the documents the view actually parses (cache misses)."""
    calls: list[str] = []
    real_parse = view.parse

    def counting_parse(query, *args, **kwargs):
        calls.append(query)
        return real_parse(query, *args, **kwargs)

    monkeypatch.setattr(view, "parse", counting_parse)
    return calls


def test_a_repeated_query_is_parsed_once_and_answers_the_same(world, gql_for, parses):
    client = gql_for(world.admin_a)
    first = client.execute("{ me { username } }")
    second = client.execute("{ me { username } }")
    assert first.body == second.body == {"data": {"me": {"username": "alice-admin"}}}
    assert parses == ["{ me { username } }"]


def test_variables_and_callers_do_not_share_results(world, gql_for, parses):
    query = "query($id: ID!) { tenant(id: $id) { name } }"
    alice, bob = gql_for(world.admin_a), gql_for(world.admin_b)
    assert alice.execute(query, {"id": str(world.tenant_a.pk)}).data == {"tenant": {"name": "Agency A"}}
    assert bob.execute(query, {"id": str(world.tenant_b.pk)}).data == {"tenant": {"name": "Agency B"}}
    refused = bob.execute(query, {"id": str(world.tenant_a.pk)})  # the cached document; bob's own rights
    assert refused.errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert len(parses) == 1


def test_different_texts_are_different_entries(world, gql_for, parses):
    client = gql_for(world.admin_a)
    assert client.execute("{ me { username } }").data == {"me": {"username": "alice-admin"}}
    assert client.execute("{ me { isStaff } }").data == {"me": {"isStaff": False}}
    invalid = client.execute("{ me { username nope } }")
    assert invalid.status_code == 400 and "nope" in invalid.errors[0]["message"]
    assert client.execute("{ me { username } }").data == {"me": {"username": "alice-admin"}}
    assert len(parses) == 3


def test_an_invalid_query_fails_the_same_way_every_time(world, gql_for, parses):
    client = gql_for(world.admin_a)
    answers = [client.execute("{ me { username nope } }") for _ in range(3)]
    assert {answer.status_code for answer in answers} == {400}
    assert answers[0].body == answers[1].body == answers[2].body
    assert answers[0].errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in answers[0].body
    assert len(parses) == 1


def test_a_syntax_error_fails_the_same_way_every_time(world, gql_for):
    client = gql_for(world.admin_a)
    answers = [client.execute("{ me { ") for _ in range(2)]
    assert answers[0].status_code == answers[1].status_code == 400
    assert answers[0].body == answers[1].body
    assert answers[0].errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_changed_limits_are_applied_to_cached_texts(world, gql_for, settings):
    client = gql_for(world.admin_a)
    aliased = "{ " + " ".join(f"a{i}: me {{ username }}" for i in range(5)) + " }"
    deep = "{ tenants { edges { node { members { user { username } } } } } }"
    assert client.execute(aliased).status_code == 200
    assert client.execute(deep).status_code == 200
    settings.GRAPHQL_MAX_ALIASES = 4
    settings.GRAPHQL_MAX_DEPTH = 3
    refused = client.execute(aliased)
    assert refused.status_code == 400 and refused.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "depth" in client.execute(deep).errors[0]["message"]


def test_a_cached_mutation_is_still_refused_over_get(world, gql_for):
    client = gql_for(world.admin_a)
    mutation = 'mutation { createTenant(name: "via get") { errors { code } } }'
    assert client.execute(mutation).payload("createTenant")["errors"] == []
    response = client.client.get("/graphql/", {"query": mutation}, **client.headers())
    assert response.status_code == 405
    assert Tenant.objects.filter(name="via get").count() == 1


def test_operation_name_is_honoured_with_a_cached_document(world, gql_for):
    client = gql_for(world.admin_a)
    document = "query A { me { username } } query B { me { isStaff } }"
    assert client.execute(document, operation_name="A").data == {"me": {"username": "alice-admin"}}
    assert client.execute(document, operation_name="B").data == {"me": {"isStaff": False}}
    unknown = client.execute(document, operation_name="C")
    assert unknown.status_code == 400 and "C" in unknown.errors[0]["message"]


def test_size_limit_still_applies(world, gql_for, settings):
    client = gql_for(world.admin_a)
    query = "{ me { username } }" + " " * 300
    assert client.execute(query).status_code == 200
    settings.GRAPHQL_MAX_QUERY_BYTES = 200
    assert client.execute(query).errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_the_cache_is_bounded_by_entries_and_characters():
    checked = CheckedDocument(None, ())
    by_count = DocumentCache(max_entries=3, max_chars=1000, max_query_chars=100)
    for key in "abc":
        by_count.put(key, checked, 10)
    assert by_count.get("a") is checked  # now the most recently used
    by_count.put("d", checked, 10)
    assert len(by_count) == 3 and by_count.get("b") is None
    assert all(by_count.get(key) is checked for key in "acd")

    by_size = DocumentCache(max_entries=10, max_chars=100, max_query_chars=60)
    by_size.put("a", checked, 40)
    by_size.put("b", checked, 40)
    by_size.get("a")
    by_size.put("c", checked, 40)  # 120 characters: the least recently used entry goes
    assert by_size.get("b") is None and by_size.get("a") is checked and by_size.get("c") is checked
    by_size.put("huge", checked, 61)  # never cached at all
    assert by_size.get("huge") is None and len(by_size) == 2
