"""The endpoint's conventions: error shapes, limits, GET/POST, error masking."""

import json
import logging

from django.test import Client

from argus_plugins.tenancy.models import Tenant


def test_get_executes_queries(world, gql_for):
    client = gql_for(world.admin_a)
    response = client.client.get("/graphql/", {"query": "{ me { username } }"}, **client.headers())
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"username": "alice-admin"}}}


def test_get_never_executes_a_mutation(world, gql_for):
    client = gql_for(world.admin_a)
    response = client.client.get(
        "/graphql/",
        {"query": 'mutation { createTenant(name: "via get") { errors { code } } }'},
        **client.headers(),
    )
    assert response.status_code == 405
    assert not Tenant.objects.filter(name="via get").exists()


def test_operation_name_selects_the_operation(world, gql_for):
    response = gql_for(world.admin_a).execute(
        "query A { me { username } } query B { me { isStaff } }", operation_name="B"
    )
    assert response.data == {"me": {"isStaff": False}}


def test_graphiql_is_served_to_browsers(db):
    response = Client().get("/graphql/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"graphiql" in response.content.lower()


def test_depth_limit_rejects_before_executing(world, gql_for, settings, django_assert_num_queries):
    settings.GRAPHQL_MAX_DEPTH = 3
    client = gql_for(world.admin_a)
    deep = "{ tenants { edges { node { members { user { username } } } } } }"
    with django_assert_num_queries(2):  # token lookup + last-used stamp: nothing was resolved
        response = client.execute(deep)
    assert response.status_code == 400
    assert "depth" in response.errors[0]["message"]
    assert "data" not in response.body


def test_alias_limit(world, gql_for):
    client = gql_for(world.admin_a)
    ok = client.execute("{ " + " ".join(f"a{i}: me {{ username }}" for i in range(100)) + " }")
    assert ok.status_code == 200 and len(ok.data) == 100
    refused = client.execute("{ " + " ".join(f"a{i}: me {{ username }}" for i in range(101)) + " }")
    assert refused.status_code == 400
    assert refused.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "aliases" in refused.errors[0]["message"]


def test_operation_count_limit(world, gql_for):
    document = " ".join(f"query Q{i} {{ me {{ username }} }}" for i in range(11))
    response = gql_for(world.admin_a).execute(document, operation_name="Q1")
    assert response.status_code == 400
    assert response.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


def test_query_size_limit(world, gql_for, settings):
    settings.GRAPHQL_MAX_QUERY_BYTES = 200
    response = gql_for(world.admin_a).execute("{ me { username } }" + " " * 300)
    assert response.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "data" not in response.body


def test_page_size_is_capped_for_literals_and_variables(world, gql_for):
    client = gql_for(world.admin_a)
    literal = client.execute("{ tenants(first: 101) { totalCount } }")
    assert literal.status_code == 400
    assert literal.errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    variable = client.execute("query($n: Int) { tenants(first: $n) { totalCount } }", {"n": 5000})
    assert variable.errors[0]["extensions"] == {"code": "LIMIT_EXCEEDED", "field": "first"}
    assert variable.body["data"] is None


def test_pagination_cursors_walk_the_list(world, gql_for):
    from argus_plugins.tenancy import services

    for index in range(4):
        services.create_tenant(actor=world.admin_a, name=f"Unit {index}")
    client = gql_for(world.admin_a)
    query = (
        "query($after: String) { tenants(first: 2, after: $after) { pageInfo { hasNextPage endCursor } "
        "edges { node { name } } } }"
    )
    names, after = [], None
    while True:
        page = client.execute(query, {"after": after}).data["tenants"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == ["Agency A", "Unit 0", "Unit 1", "Unit 2", "Unit 3"]
    bad = client.execute(query, {"after": "garbage"})
    assert bad.errors[0]["extensions"] == {"code": "INVALID", "field": "after"}


def test_invalid_json_body_is_a_typed_400(db):
    response = Client().post("/graphql/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_missing_query_is_a_typed_400(db):
    response = Client().post("/graphql/", data=json.dumps({}), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_syntax_error_is_typed(world, gql_for):
    response = gql_for(world.admin_a).execute("{ me { ")
    assert response.status_code == 400
    assert response.errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_unexpected_exception_is_masked_and_logged_with_request_id(world, gql_for, monkeypatch, caplog):
    from argus_plugins.tenancy.graphql import queries

    def explode(user):
        raise RuntimeError("secret internal detail at /srv/argus")

    monkeypatch.setattr(queries, "require_authenticated", explode)
    client = gql_for(world.admin_a)
    with caplog.at_level(logging.ERROR, logger="argus_plugins.graphql"):
        raw = client.client.post(
            "/graphql/",
            data=json.dumps({"query": "{ me { username } }"}),
            content_type="application/json",
            HTTP_X_REQUEST_ID="req-test-12345",
            **client.headers(),
        )
    body = raw.json()
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL_ERROR", "requestId": "req-test-12345"}
    assert "secret internal detail" not in raw.content.decode()
    assert "Traceback" not in raw.content.decode()
    assert raw["X-Request-ID"] == "req-test-12345"
    logged = [r for r in caplog.records if r.getMessage().endswith("req-test-12345")]
    assert logged and logged[0].exc_info[0] is RuntimeError


def test_session_post_without_csrf_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin_a)
    response = client.post(
        "/graphql/",
        data=json.dumps({"query": 'mutation { createTenant(name: "csrf") { errors { code } } }'}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Tenant.objects.filter(name="csrf").exists()


def test_session_auth_works_with_csrf_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin_a)
    client.get("/graphql/", HTTP_ACCEPT="text/html")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/graphql/",
        data=json.dumps({"query": "{ me { username } }"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.json() == {"data": {"me": {"username": "alice-admin"}}}


def test_token_requests_get_no_csrf_cookie_while_browser_sessions_do(world, gql_for):
    response = Client().post(
        "/graphql/",
        data=json.dumps({"query": "{ me { username } }"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {gql_for(world.admin_a).token}",
    )
    assert response.json() == {"data": {"me": {"username": "alice-admin"}}}
    assert "csrftoken" not in response.cookies
    browser = Client()
    browser.force_login(world.admin_a)
    assert "csrftoken" in browser.get("/graphql/", HTTP_ACCEPT="text/html").cookies
