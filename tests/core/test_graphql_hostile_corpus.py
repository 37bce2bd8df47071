"""A corpus of hostile documents and request shapes: every one gets a typed answer.

Anonymous and authenticated, in both response media types: never a 5xx, never INTERNAL_ERROR, never a
traceback (nor any ERROR record) in the log; every error carries a code.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.test import Client

from argus_plugins.core.graphql import view

DEEP_SCHEMA = (
    "__schema { types { name fields { name args { name type { name ofType { name ofType { name } } } } "
    "type { name ofType { name ofType { name ofType { name } } } } } } }"
)
HUGE_CURSOR = base64.b64encode(b"arrayconnection:" + b"9" * 30).decode()
INT64_CURSOR = base64.b64encode(b"arrayconnection:9223372036854775807").decode()


def body(query, **extra):
    return json.dumps({"query": query, **extra})


# Raw request bodies (JSON text unless bytes), sent with Content-Type application/json.
CORPUS: dict[str, str | bytes] = {
    "fragment cycle": body("{...A} fragment A on Query {...A}"),
    "two-fragment cycle": body(
        "{ ...A } fragment A on Query { ...B } fragment B on Query { me { username } ...A }"
    ),
    "unknown fragment": body("{...Nope}"),
    "fragment on unknown type": body("{ ...F } fragment F on Nope { x }"),
    "query is a number": json.dumps({"query": 123}),
    "query is an object": json.dumps({"query": {"a": 1}}),
    "query is a list": json.dumps({"query": ["{ me { username } }"]}),
    "query is true": json.dumps({"query": True}),
    "query is null": json.dumps({"query": None}),
    "no query": json.dumps({"notquery": "{ __typename }"}),
    "variables is a list": body("{ __typename }", variables=[1, 2]),
    "variables is a number": body("{ __typename }", variables=5),
    "variables is a string": body("{ __typename }", variables="not json"),
    "variables is a JSON list in a string": body("{ __typename }", variables="[1]"),
    "operationName is a number": body("{ __typename }", operationName=5),
    "extensions is a number": body("{ __typename }", extensions=5),
    "unknown operation name": body("query A { __typename }", operationName="B"),
    "body is a list": "[]",
    "body nested 100 000 deep": '{"query": "{ __typename }", "variables": {"v": '
    + "[" * 100_000
    + "]" * 100_000
    + "}}",
    "NaN variable": '{"query": "query($r: Float) { marketplaceListings(minRating: $r) { totalCount } }", '
    '"variables": {"r": NaN}}',
    "Infinity literal in the body": '{"query": "{ __typename }", "variables": {"x": Infinity}}',
    "body is a number": "123",
    "body is null": "null",
    "body is a string": '"{ __typename }"',
    "body is not JSON": "{ not json",
    "body is not UTF-8": b"\xff\xfe{}",
    "empty body": "",
    "bad JSON literal for JSONString": body(
        'mutation { runPlugin(installationId: "00000000-0000-4000-8000-000000000000", input: "{top: 3}") '
        "{ errors { code } } }"
    ),
    "JSONString variable is a number": body(
        'mutation($i: JSONString) { runPlugin(installationId: "x", input: $i) { errors { code } } }',
        variables={"i": 5},
    ),
    "lone surrogate in a string variable": body(
        "mutation($n: String!) { createTenant(name: $n) { errors { code field } } }",
        variables={"n": "x\ud800"},
    ),
    "lone surrogate in a query argument": body(
        "query($s: String) { marketplaceListings(search: $s) { totalCount } }", variables={"s": "\udfff"}
    ),
    "NUL in a literal": body('mutation { createTenant(name: "a\\u0000b") { errors { code field } } }'),
    "datetime overflow": body(
        'mutation { createApiToken(name: "t", expiresAt: "9999-12-31T23:59:59-14:00") { errors { code field } } }'
    ),
    "datetime garbage": body(
        'mutation { createApiToken(name: "t", expiresAt: "yesterday") { errors { code } } }'
    ),
    "malformed UUID in a filter": body('{ auditEvents(tenantId: "") { totalCount } }'),
    "malformed UUID as a staff filter": body(
        '{ auditEvents(tenantId: "zz", targetId: "\\u0000") { totalCount } }'
    ),
    "cursor past int64": body(f'{{ tenants(after: "{HUGE_CURSOR}") {{ totalCount }} }}'),
    "cursor at int64": body(f'{{ tenants(first: 5, after: "{INT64_CURSOR}") {{ totalCount }} }}'),
    "cursor garbage": body('{ tenants(after: "!!!") { totalCount } }'),
    "page size literal over Int": body("{ tenants(first: 99999999999999999999) { totalCount } }"),
    "page size variable over Int": body(
        "query($n: Int) { tenants(first: $n) { totalCount } }", variables={"n": 2**70}
    ),
    "negative page size": body("{ tenants(first: -5) { totalCount } }"),
    "ID variable is an object": body(
        "query($id: ID!) { tenant(id: $id) { name } }", variables={"id": {"a": 1}}
    ),
    "missing required variable": body("query($id: ID!) { tenant(id: $id) { name } }"),
    "undefined variable": body("{ tenant(id: $nope) { name } }"),
    "unknown directive": body("{ me @nope { username } }"),
    "subscription": body("subscription { me { username } }"),
    "syntax error": body("{ me { "),
    "100 aliases of a deep __schema": body(
        "{ " + " ".join(f"a{i}: {DEEP_SCHEMA}" for i in range(100)) + " }"
    ),
    "two __schema selections": body(
        "{ a: __schema { queryType { name } } b: __schema { queryType { name } } }"
    ),
    "__type introspection": body('{ __type(name: "Query") { name fields { name } } }'),
    "500 duplicated fields": body("{ me { " + " ".join(["username"] * 500) + " } }"),
    "101 aliases": body("{ " + " ".join(f"a{i}: __typename" for i in range(101)) + " }"),
    "2 000 nested selections": body("{ me " * 2_000 + "}" * 2_000),
    "deep but short": body("{ tenants { edges { node { members { user { username } } } } } }" * 1),
    "too many tokens": body("{ " + " ".join(["__typename"] * 3_000) + " }"),
    "100 aliased createApiToken": body(
        "mutation { " + " ".join(f'a{i}: createApiToken(name: "t{i}") {{ token }}' for i in range(100)) + " }"
    ),
    "11 operations": body(" ".join(f"query Q{i} {{ __typename }}" for i in range(11)), operationName="Q1"),
    "expensive connection nesting": body(
        "{ "
        + " ".join(
            f"a{i}: tenants(first: 100) {{ edges {{ node {{ members(first: 100) {{ edges {{ node {{ role }} }} }} }} }} }}"
            for i in range(20)
        )
        + " }"
    ),
    "suggestion bait": body("{ mee { username } }"),
    "mutation over a huge string": body(
        "mutation($n: String!) { createTenant(name: $n) { errors { code field } } }",
        variables={"n": "x" * 200_000},
    ),
}


@pytest.fixture(autouse=True)
def fresh_document_cache():
    view.document_cache.clear()
    yield
    view.document_cache.clear()


def _send(client: Client, payload: str | bytes, accept: str | None, token: str | None):
    headers = {}
    if accept:
        headers["HTTP_ACCEPT"] = accept
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post("/graphql/", data=payload, content_type="application/json", **headers)


@pytest.mark.parametrize(
    ("caller", "accept"),
    [
        ("anonymous", None),
        ("anonymous", "application/graphql-response+json"),
        ("authenticated", "application/json"),
        ("authenticated", "application/graphql-response+json"),
    ],
)
def test_every_hostile_request_gets_a_typed_answer(world, caller, accept, caplog):
    from tests.conftest import token_for

    token = token_for(world.admin_a) if caller == "authenticated" else None
    client = Client()
    failures = []
    with caplog.at_level(logging.INFO):
        for name, payload in CORPUS.items():
            caplog.clear()
            response = _send(client, payload, accept, token)
            content_type = response["Content-Type"]
            answer = json.loads(response.content)
            errors = answer.get("errors") or []
            codes = [(error.get("extensions") or {}).get("code") for error in errors]
            problems = []
            if response.status_code >= 500:
                problems.append(f"HTTP {response.status_code}")
            if "INTERNAL_ERROR" in codes or None in codes:
                problems.append(f"codes {codes}")
            if not content_type.startswith(accept or "application/json"):
                problems.append(f"content type {content_type}")
            noisy = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
            if noisy:
                problems.append(f"logged {[r.getMessage() for r in noisy]}")
            if problems:
                failures.append((name, problems, answer))
    assert failures == []


def test_the_cases_of_the_issue_answer_as_documented(world, gql_for):
    """The exact answers for the documents named in the issue."""
    anonymous = Client(HTTP_ACCEPT="application/graphql-response+json")

    def post(payload):
        response = anonymous.post("/graphql/", data=payload, content_type="application/json")
        return response.status_code, json.loads(response.content)

    status, answer = post(CORPUS["fragment cycle"])
    assert status == 400 and "data" not in answer
    assert answer["errors"][0]["message"] == "Cannot spread fragment 'A' within itself."
    status, answer = post(CORPUS["unknown fragment"])
    assert status == 400 and answer["errors"][0]["message"] == "Unknown fragment 'Nope'."
    status, answer = post(CORPUS["query is a number"])
    assert (status, answer["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST")
    for shape in (
        "variables is a list",
        "variables is a number",
        "variables is a string",
        "query is an object",
    ):
        status, answer = post(CORPUS[shape])
        assert (status, answer["errors"][0]["extensions"]["code"]) == (400, "BAD_REQUEST"), shape
    status, answer = post(CORPUS["100 aliases of a deep __schema"])
    assert (status, answer["errors"][0]["extensions"]["code"]) == (400, "QUERY_TOO_COMPLEX")

    admin = gql_for(world.admin_a)
    literal = admin.execute(json.loads(CORPUS["bad JSON literal for JSONString"])["query"])
    assert literal.status_code == 400
    assert literal.errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "JSONString" in literal.errors[0]["message"]
    surrogate = admin.execute(
        "mutation($n: String!) { createTenant(name: $n) { tenant { id } errors { code field } } }",
        {"n": "x\ud800"},
    )
    assert surrogate.payload("createTenant") == {
        "tenant": None,
        "errors": [{"code": "INVALID", "field": "name"}],
    }
    overflow = admin.execute(json.loads(CORPUS["datetime overflow"])["query"])
    assert overflow.payload("createApiToken")["errors"] == [{"code": "INVALID", "field": "expiresAt"}]
    cursor = admin.execute(json.loads(CORPUS["cursor past int64"])["query"])
    assert cursor.errors[0]["extensions"] == {"code": "INVALID", "field": "after"}
    search = admin.execute(
        "query($s: String) { marketplaceListings(search: $s) { totalCount } }", {"s": "ok\x00"}
    )
    assert search.errors[0]["extensions"] == {"code": "INVALID", "field": "search"}


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("a.txt", b"x")


MULTIPART = {
    "operations not JSON": lambda: {"operations": "{nope", "map": "{}"},
    "operations a list": lambda: {"operations": "[1]", "map": "{}"},
    "operations nested 100 000 deep": lambda: {"operations": "[" * 100_000 + "]" * 100_000, "map": "{}"},
    "map not JSON": lambda: {"operations": body("{ __typename }"), "map": "{nope"},
    "map a list": lambda: {"operations": body("{ __typename }"), "map": "[1]", "0": _upload()},
    "map to a missing path": lambda: {
        "operations": body("{ __typename }", variables={}),
        "map": '{"0": ["variables.a.b.c"]}',
        "0": _upload(),
    },
    "map value not a list": lambda: {
        "operations": body("{ __typename }", variables={"f": None}),
        "map": '{"0": "variables.f"}',
        "0": _upload(),
    },
    "map to a missing file": lambda: {
        "operations": body("{ __typename }", variables={"f": None}),
        "map": '{"9": ["variables.f"]}',
    },
    "no operations": lambda: {"map": "{}"},
    "file where a string goes": lambda: {
        "operations": body(
            "mutation($n: String!) { createTenant(name: $n) { errors { code } } }", variables={"n": None}
        ),
        "map": '{"0": ["variables.n"]}',
        "0": _upload(),
    },
}


@pytest.mark.parametrize("caller", ["anonymous", "authenticated"])
def test_malformed_multipart_requests_are_typed_400s(world, caller, caplog):
    from tests.conftest import token_for

    headers = (
        {"HTTP_AUTHORIZATION": f"Bearer {token_for(world.admin_a)}"} if caller == "authenticated" else {}
    )
    client = Client(raise_request_exception=False)
    failures = []
    with caplog.at_level(logging.INFO):
        for name, build in MULTIPART.items():
            caplog.clear()
            response = client.post("/graphql/", data=build(), **headers)
            answer = json.loads(response.content)
            codes = [(error.get("extensions") or {}).get("code") for error in answer.get("errors") or []]
            noisy = [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
            if response.status_code >= 500 or "INTERNAL_ERROR" in codes or None in codes or noisy:
                failures.append((name, response.status_code, answer, noisy))
    assert failures == []


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/graphql", b"\xff\xfe{ __typename }"),
        ("application/graphql", b"{ ...A } fragment A on Query { ...A }"),
        ("application/x-www-form-urlencoded", b"query=%7B__typename%7D&variables=%5B1%5D"),
        ("application/x-www-form-urlencoded", b"query=%7B__typename%7D&variables=" + b"%5B" * 5000),
        ("text/plain", b"{ __typename }"),
    ],
)
def test_other_content_types_get_typed_answers(db, content_type, payload, caplog):
    response = Client(raise_request_exception=False).post(
        "/graphql/", data=payload, content_type=content_type
    )
    assert response.status_code < 500
    errors = json.loads(response.content).get("errors") or []
    assert errors and all(error["extensions"]["code"] != "INTERNAL_ERROR" for error in errors)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
