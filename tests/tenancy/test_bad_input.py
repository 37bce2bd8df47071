"""Every tenancy mutation answers bad input with a typed error and writes nothing."""

import pytest

from argus_plugins.tenancy.models import ApiToken, Membership, Tenant, TenantInvitation

HUGE = "x" * 10_000


def _counts():
    return (
        Tenant.objects.count(),
        Membership.objects.count(),
        ApiToken.objects.count(),
        TenantInvitation.objects.count(),
    )


CASES = [
    # (query, variables, mutation field, expected code, expected field)
    ('mutation { createTenant(name: "") { errors { code field } } }', {}, "createTenant", "REQUIRED", "name"),
    (
        'mutation { createTenant(name: "   ") { errors { code field } } }',
        {},
        "createTenant",
        "REQUIRED",
        "name",
    ),
    (
        "mutation($n: String!) { createTenant(name: $n) { errors { code field } } }",
        {"n": HUGE},
        "createTenant",
        "TOO_LONG",
        "name",
    ),
    (
        "mutation($n: String!) { createTenant(name: $n) { errors { code field } } }",
        {"n": "a\x00b"},
        "createTenant",
        "INVALID",
        "name",
    ),
    (
        'mutation { inviteTenantMember(tenantId: "nope", username: "x", role: VIEWER) { errors { code field } } }',
        {},
        "inviteTenantMember",
        "INVALID",
        "tenantId",
    ),
    (
        'mutation { inviteTenantMember(tenantId: "00000000-0000-4000-8000-000000000000", username: "x", role: VIEWER)'
        " { errors { code field } } }",
        {},
        "inviteTenantMember",
        "NOT_FOUND",
        "tenantId",
    ),
    (
        "mutation($t: ID!, $u: String!) { inviteTenantMember(tenantId: $t, username: $u, role: VIEWER)"
        " { errors { code field } } }",
        {"u": HUGE},
        "inviteTenantMember",
        "TOO_LONG",
        "username",
    ),
    (
        'mutation($t: ID!) { inviteTenantMember(tenantId: $t, username: "alice-admin", role: VIEWER)'
        " { errors { code field } } }",
        {},
        "inviteTenantMember",
        "DUPLICATE",
        "username",
    ),
    (
        'mutation { acceptTenantInvitation(id: "zzz") { errors { code field } } }',
        {},
        "acceptTenantInvitation",
        "INVALID",
        "id",
    ),
    (
        'mutation { declineTenantInvitation(id: "00000000-0000-4000-8000-000000000000") { errors { code field } } }',
        {},
        "declineTenantInvitation",
        "NOT_FOUND",
        "id",
    ),
    (
        'mutation { revokeTenantInvitation(id: "00000000-0000-4000-8000-000000000000") { errors { code field } } }',
        {},
        "revokeTenantInvitation",
        "NOT_FOUND",
        "id",
    ),
    (
        'mutation { leaveTenant(tenantId: "nope") { errors { code field } } }',
        {},
        "leaveTenant",
        "INVALID",
        "tenantId",
    ),
    (
        'mutation($t: ID!) { removeTenantMember(tenantId: $t, username: "ghost") { errors { code field } } }',
        {},
        "removeTenantMember",
        "NOT_FOUND",
        "username",
    ),
    (
        'mutation { removeTenantMember(tenantId: "12", username: "ghost") { errors { code field } } }',
        {},
        "removeTenantMember",
        "INVALID",
        "tenantId",
    ),
    (
        'mutation { createApiToken(name: "") { token errors { code field } } }',
        {},
        "createApiToken",
        "REQUIRED",
        "name",
    ),
    (
        "mutation($n: String!) { createApiToken(name: $n) { token errors { code field } } }",
        {"n": HUGE},
        "createApiToken",
        "TOO_LONG",
        "name",
    ),
    (
        'mutation { createApiToken(name: "old", expiresAt: "2001-01-01T00:00:00+00:00") { token errors { code field } } }',
        {},
        "createApiToken",
        "INVALID",
        "expiresAt",
    ),
    (
        'mutation { revokeApiToken(id: "zzz") { errors { code field } } }',
        {},
        "revokeApiToken",
        "INVALID",
        "id",
    ),
    (
        'mutation { revokeApiToken(id: "00000000-0000-4000-8000-000000000000") { errors { code field } } }',
        {},
        "revokeApiToken",
        "NOT_FOUND",
        "id",
    ),
]


@pytest.mark.parametrize(("query", "variables", "field", "code", "error_field"), CASES)
def test_bad_input_is_a_typed_error_and_writes_nothing(
    world, gql_for, query, variables, field, code, error_field
):
    client = gql_for(world.admin_a)
    variables = {"t": str(world.tenant_a.pk), **variables} if "$t" in query else variables
    before = _counts()
    response = client.execute(query, variables)
    assert response.status_code == 200
    payload = response.payload(field)
    assert payload["errors"] == [{"code": code, "field": error_field}]
    assert _counts() == before
    assert payload.get("token") is None


@pytest.mark.parametrize(
    "query",
    [
        "mutation { createTenant { errors { code } } }",  # missing argument
        "mutation { createTenant(name: 42) { errors { code } } }",  # wrong type
        'mutation { inviteTenantMember(tenantId: "x", username: "y", role: OWNER) { errors { code } } }',  # bad enum
        'mutation { createApiToken(name: "n", expiresAt: "yesterday") { errors { code } } }',  # bad datetime
    ],
)
def test_schema_level_bad_input_is_a_typed_graphql_error(world, gql_for, query):
    client = gql_for(world.admin_a)
    before = _counts()
    response = client.execute(query)
    assert response.status_code == 400
    assert response.errors and all(
        e["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" for e in response.errors
    )
    assert _counts() == before


def test_anonymous_mutation_is_refused_and_writes_nothing(db):
    from tests.conftest import GraphQLClient

    payload = GraphQLClient().execute(
        'mutation { createTenant(name: "x") { tenant { id } errors { code } } }'
    )
    assert payload.payload("createTenant") == {"tenant": None, "errors": [{"code": "UNAUTHENTICATED"}]}
    assert Tenant.objects.count() == 0
