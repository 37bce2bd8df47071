"""The GraphQL edge: cost and mutation caps, introspection and suggestions for authenticated callers only,
per-caller rate limits, and GraphQL-over-HTTP media types and status codes."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from graphql import get_introspection_query

from argus_plugins.core.graphql import view
from argus_plugins.core.graphql.rate_limits import parse_rate, window_end
from argus_plugins.tenancy.models import ApiToken

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


@pytest.fixture(autouse=True)
def fresh_document_cache():
    view.document_cache.clear()
    yield
    view.document_cache.clear()


def post(client: Client, query: str, accept: str | None = None, **extra):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.post(
        "/graphql/", data=json.dumps({"query": query, **extra}), content_type="application/json", **headers
    )
    return response, json.loads(response.content)


# --- Cost and mutation caps -----------------------------------------------------------------------------


def test_connection_cost_is_page_size_times_selection(world, gql_for, settings):
    client = gql_for(world.admin_a)
    query = "query($n: Int) { tenants(first: $n) { edges { node { name members { role } } } } }"
    assert client.execute(query, {"n": 100}).status_code == 200
    settings.GRAPHQL_MAX_COST = 500
    refused = client.execute(query, {"n": 100})  # 1 + 100 * (edges + node + name + members * 10 roles) = 1501
    assert refused.status_code == 400
    assert refused.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "costs" in refused.errors[0]["message"]
    assert client.execute(query, {"n": 2}).status_code == 200  # the same text, smaller pages


def test_graphiql_introspection_fits_the_cost_limit_but_copies_do_not(world, gql_for):
    client = gql_for(world.admin_a)
    introspection = client.execute(get_introspection_query(descriptions=True))
    assert introspection.status_code == 200
    assert introspection.data["__schema"]["queryType"]["name"] == "Query"
    twice = client.execute("{ a: __schema { types { name } } b: __schema { types { name } } }")
    assert twice.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_mutations_per_document_are_capped(world, gql_for, settings):
    settings.GRAPHQL_MAX_MUTATIONS = 3
    client = gql_for(world.admin_a)
    tokens_before = ApiToken.objects.count()
    three = "mutation { " + " ".join(
        f'a{i}: createApiToken(name: "t{i}") {{ errors {{ code }} }}' for i in range(3)
    )
    four = "mutation { " + " ".join(
        f'a{i}: createApiToken(name: "t{i}") {{ errors {{ code }} }}' for i in range(4)
    )
    assert client.execute(three + " }").status_code == 200
    refused = client.execute(four + " }")
    assert refused.status_code == 400 and "mutations" in refused.errors[0]["message"]
    assert ApiToken.objects.count() == tokens_before + 3
    through_fragment = client.execute(
        "mutation { ...M } fragment M on Mutation { "
        + " ".join(f'a{i}: createApiToken(name: "f{i}") {{ errors {{ code }} }}' for i in range(4))
        + " }"
    )
    assert through_fragment.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


# --- Introspection and suggestions ----------------------------------------------------------------------


def test_introspection_and_suggestions_are_for_authenticated_callers(world, gql_for, settings):
    anonymous = Client()
    _, answer = post(anonymous, "{ __schema { queryType { name } } }")
    assert "introspection" in answer["errors"][0]["message"]
    assert "data" not in answer
    _, answer = post(anonymous, "{ __typename }")
    assert answer == {"data": {"__typename": "Query"}}
    _, answer = post(anonymous, "{ mee { username } }")
    assert answer["errors"][0]["message"] == "Cannot query field 'mee' on type 'Query'."

    member = gql_for(world.admin_a)
    assert member.execute("{ __schema { queryType { name } } }").data == {
        "__schema": {"queryType": {"name": "Query"}}
    }
    suggested = member.execute("{ mee { username } }")
    assert "Did you mean 'me'?" in suggested.errors[0]["message"]

    settings.GRAPHQL_INTROSPECTION_ANONYMOUS = True
    settings.GRAPHQL_SUGGESTIONS_ANONYMOUS = True
    _, answer = post(anonymous, "{ __schema { queryType { name } } }")
    assert answer == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    _, answer = post(anonymous, "{ mee { username } }")
    assert "Did you mean 'me'?" in answer["errors"][0]["message"]


def test_graphiql_in_a_logged_in_session_can_introspect(world):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.admin_a)
    page = browser.get("/graphql/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and b"graphiql" in page.content.lower()
    response = browser.post(
        "/graphql/",
        data=json.dumps({"query": get_introspection_query()}),
        content_type="application/json",
        HTTP_ACCEPT="application/json",
        HTTP_X_CSRFTOKEN=page.cookies["csrftoken"].value,
    )
    assert response.status_code == 200
    assert json.loads(response.content)["data"]["__schema"]["queryType"]["name"] == "Query"


# --- Rate limits ----------------------------------------------------------------------------------------


@pytest.fixture
def rate_limits(settings):
    """The real limiter on the real Redis cache, with a key prefix of this test's own."""
    settings.RATELIMIT_ENABLE = True
    settings.CACHES = {
        **settings.CACHES,
        "ratelimit": {**settings.CACHES["ratelimit"], "KEY_PREFIX": f"argus-test-{uuid.uuid4().hex}"},
    }
    return settings


def test_a_token_over_its_request_rate_is_refused_with_retry_after(world, gql_for, rate_limits):
    rate_limits.GRAPHQL_RATE_LIMIT_AUTHENTICATED = ["3/m"]
    alice, bob = gql_for(world.admin_a), gql_for(world.admin_b)
    for _ in range(3):
        assert alice.execute("{ me { username } }").status_code == 200
    response = alice.client.post(
        "/graphql/",
        data=json.dumps({"query": "{ me { username } }"}),
        content_type="application/json",
        **alice.headers(),
    )
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["Content-Type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert json.loads(response.content)["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert bob.execute("{ me { username } }").status_code == 200  # another token has its own budget


def test_anonymous_callers_are_limited_per_ip(db, rate_limits):
    rate_limits.GRAPHQL_RATE_LIMIT_ANONYMOUS = ["2/m"]
    here, there = Client(REMOTE_ADDR="192.0.2.1"), Client(REMOTE_ADDR="192.0.2.2")
    assert [post(here, "{ __typename }")[0].status_code for _ in range(3)] == [200, 200, 429]
    assert post(there, "{ __typename }")[0].status_code == 200
    bad_token = {"HTTP_AUTHORIZATION": "Bearer argus_" + "x" * 43}
    assert there.post("/graphql/", data="{}", content_type="application/json", **bad_token).status_code == 401
    assert there.post("/graphql/", data="{}", content_type="application/json", **bad_token).status_code == 429


def test_aliased_mutations_spend_the_mutation_budget(world, gql_for, rate_limits):
    rate_limits.GRAPHQL_RATE_LIMIT_MUTATIONS = ["5/m"]
    client = gql_for(world.admin_a)
    tokens_before = ApiToken.objects.count()
    four = "mutation { " + " ".join(
        f'a{i}: createApiToken(name: "t{i}") {{ errors {{ code }} }}' for i in range(4)
    )
    assert client.execute(four + " }").status_code == 200
    refused = client.client.post(
        "/graphql/",
        data=json.dumps({"query": four + " }"}),
        content_type="application/json",
        **client.headers(),
    )
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert ApiToken.objects.count() == tokens_before + 4  # the refused document wrote nothing
    assert client.execute("{ me { username } }").status_code == 200  # queries are not mutations


# --- GraphQL over HTTP ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "media_type", "request_error_status"),
    [
        (None, "application/json", 200),
        ("application/json", "application/json", 200),
        ("*/*", "application/json", 200),
        (GRAPHQL_RESPONSE_JSON, GRAPHQL_RESPONSE_JSON, 400),
        (f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9", GRAPHQL_RESPONSE_JSON, 400),
        (f"application/json, {GRAPHQL_RESPONSE_JSON};q=0.5", "application/json", 200),
    ],
)
def test_media_type_negotiation_and_status_codes(db, accept, media_type, request_error_status):
    client = Client()
    ok, answer = post(client, "{ __typename }", accept)
    assert ok.status_code == 200 and ok["Content-Type"] == f"{media_type}; charset=utf-8"
    assert answer == {"data": {"__typename": "Query"}}
    for document, extra in (
        ("{", {}),  # parse error
        ("{ nope }", {}),  # validation error
        ("query($id: ID!) { __typename }", {"variables": {"id": None}}),  # variable coercion
    ):
        response, answer = post(client, document, accept, **extra)
        assert response.status_code == request_error_status, document
        assert response["Content-Type"].startswith(media_type)
        assert "data" not in answer and answer["errors"][0]["extensions"]["code"]
    malformed, _ = post(client, {"not": "a string"}, accept)  # not a GraphQL request at all
    assert malformed.status_code == 400 and malformed["Content-Type"].startswith(media_type)


def test_every_rate_of_a_list_applies_and_a_refusal_waits_for_the_longest_window(world, gql_for, rate_limits):
    rate_limits.GRAPHQL_RATE_LIMIT_AUTHENTICATED = ["1000/s", "2/h"]  # the long window is the tight one
    client = gql_for(world.admin_a)
    assert [client.execute("{ me { username } }").status_code for _ in range(2)] == [200, 200]
    refused = client.client.post(
        "/graphql/", data=json.dumps({"query": "{ me { username } }"}), content_type="application/json",
        **client.headers(),
    )
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 3600


def test_a_counter_expires_with_its_window(world, gql_for, rate_limits):
    rate_limits.GRAPHQL_RATE_LIMIT_AUTHENTICATED = ["50/m"]
    assert gql_for(world.admin_a).execute("{ me { username } }").status_code == 200
    counters = redis.Redis.from_url(rate_limits.CACHES["ratelimit"]["LOCATION"])
    [key] = counters.keys(f"*{rate_limits.CACHES['ratelimit']['KEY_PREFIX']}*")
    assert counters.get(key) == b"1"
    assert 0 < counters.ttl(key) <= 61  # the window and a second of margin: nothing piles up in Redis


@pytest.mark.parametrize(
    ("rate", "expected"), [("20/s", (20, 1)), ("600/m", (600, 60)), ("50/5m", (50, 300)), ("1 / h", (1, 3600))]
)
def test_rates_are_read_as_django_ratelimit_wrote_them(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["", "10", "10/x", "ten/m", "10/0m", "-1/s"])
def test_a_malformed_rate_is_a_configuration_error(rate):
    with pytest.raises(ImproperlyConfigured):
        parse_rate(rate)


def test_a_callers_windows_are_contiguous_and_shifted_by_its_key():
    ends = sorted({window_end("token:a", 60, now) for now in range(1_000_000, 1_000_600)})
    assert len(ends) in (10, 11) and all(b - a == 60 for a, b in itertools.pairwise(ends))
    assert all(now < window_end("token:a", 60, now) <= now + 60 for now in range(1_000_000, 1_000_120))
    shifts = {window_end(f"token:{i}", 60, 1_000_000) % 60 for i in range(50)}
    assert len(shifts) > 10  # callers' windows do not all end together


def test_an_unreachable_counter_store_skips_the_limits_and_says_so(world, gql_for, rate_limits, caplog):
    rate_limits.GRAPHQL_RATE_LIMIT_AUTHENTICATED = ["1/h"]
    rate_limits.CACHES = {
        **rate_limits.CACHES,
        "ratelimit": {**rate_limits.CACHES["ratelimit"], "LOCATION": "redis://127.0.0.1:1/0"},  # nothing there
    }
    client = gql_for(world.admin_a)
    assert [client.execute("{ me { username } }").status_code for _ in range(3)] == [200, 200, 200]
    assert "Rate limit not applied, the cache is unavailable" in caplog.text
