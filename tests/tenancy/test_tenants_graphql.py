"""Tenants and members through GraphQL: isolation and the role matrix."""

import pytest

from argus_plugins.tenancy.models import Membership, Role, Tenant, TenantInvitation

TENANTS = "{ tenants(first: 10) { totalCount edges { node { id name slug myRole } } } }"
TENANT = "query($id: ID!) { tenant(id: $id) { id name members { role user { username } } } }"
INVITE = """
mutation($tenantId: ID!, $username: String!, $role: Role!) {
  inviteTenantMember(tenantId: $tenantId, username: $username, role: $role) {
    invitation { id username role status tenantName }
    errors { code field message }
  }
}"""
ACCEPT = """
mutation($id: ID!) { acceptTenantInvitation(id: $id) { membership { role user { username } } errors { code } } }"""
REMOVE_MEMBER = """
mutation($tenantId: ID!, $username: String!) {
  removeTenantMember(tenantId: $tenantId, username: $username) { tenant { id } errors { code field message } }
}"""


def test_tenants_lists_only_the_callers_tenants(world, gql_for):
    data = gql_for(world.analyst_a).execute(TENANTS).data["tenants"]
    assert data["totalCount"] == 1
    node = data["edges"][0]["node"]
    assert node == {"id": str(world.tenant_a.pk), "name": "Agency A", "slug": "agency-a", "myRole": "ANALYST"}


def test_member_reads_own_tenant(world, gql_for):
    data = gql_for(world.viewer_a).execute(TENANT, {"id": str(world.tenant_a.pk)}).data["tenant"]
    assert {m["user"]["username"] for m in data["members"]} == {"alice-admin", "andy-analyst", "vera-viewer"}


@pytest.mark.parametrize("who", ["admin_b", "outsider", "staff"])
def test_foreign_tenant_answers_not_found_and_no_data(world, gql_for, who):
    response = gql_for(getattr(world, who)).execute(TENANT, {"id": str(world.tenant_a.pk)})
    assert response.body["data"] == {"tenant": None}
    assert response.errors[0]["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    assert "Agency A" not in str(response.body)


def test_unknown_and_malformed_tenant_ids_are_typed_errors(world, gql_for):
    client = gql_for(world.admin_a)
    unknown = client.execute(TENANT, {"id": "2f1e8f5e-8f1c-4c8b-9d7c-1d2b3c4d5e6f"})
    assert unknown.errors[0]["extensions"]["code"] == "NOT_FOUND"
    malformed = client.execute(TENANT, {"id": "not-a-uuid"})
    assert malformed.errors[0]["extensions"] == {"code": "INVALID", "field": "id"}


def test_create_tenant_makes_caller_admin(world, gql_for):
    response = gql_for(world.outsider).execute(
        'mutation { createTenant(name: "  Fraud Unit ") { tenant { name slug myRole } errors { code } } }'
    )
    payload = response.payload("createTenant")
    assert payload == {
        "tenant": {"name": "Fraud Unit", "slug": "fraud-unit", "myRole": "ADMIN"},
        "errors": [],
    }
    assert Membership.objects.get(user=world.outsider, tenant__slug="fraud-unit").role == Role.ADMIN


def test_tenant_slugs_stay_unique(world, gql_for):
    gql_for(world.outsider).execute('mutation { createTenant(name: "Agency A") { errors { code } } }')
    assert set(Tenant.objects.filter(name="Agency A").values_list("slug", flat=True)) == {
        "agency-a",
        "agency-a-2",
    }


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("analyst_a", "PERMISSION_DENIED"),
        ("viewer_a", "PERMISSION_DENIED"),
        ("admin_b", "NOT_FOUND"),
        ("outsider", "NOT_FOUND"),
        ("staff", "NOT_FOUND"),
    ],
)
def test_only_tenant_admins_invite_members(world, gql_for, who, code):
    response = gql_for(getattr(world, who)).execute(
        INVITE, {"tenantId": str(world.tenant_a.pk), "username": "olga-outsider", "role": "ADMIN"}
    )
    payload = response.payload("inviteTenantMember")
    assert payload["invitation"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [(code, "tenantId")]
    assert not Membership.objects.filter(user=world.outsider).exists()
    assert not TenantInvitation.objects.exists()


def test_admin_invites_the_member_accepts_and_an_admin_removes(world, gql_for):
    client = gql_for(world.admin_a)
    invited = client.execute(
        INVITE, {"tenantId": str(world.tenant_a.pk), "username": "olga-outsider", "role": "VIEWER"}
    ).payload("inviteTenantMember")
    assert invited["errors"] == []
    assert not Membership.objects.filter(user=world.outsider).exists()  # not without her consent
    accepted = gql_for(world.outsider).execute(ACCEPT, {"id": invited["invitation"]["id"]})
    assert accepted.payload("acceptTenantInvitation") == {
        "membership": {"role": "VIEWER", "user": {"username": "olga-outsider"}},
        "errors": [],
    }
    again = client.execute(
        INVITE, {"tenantId": str(world.tenant_a.pk), "username": "olga-outsider", "role": "ADMIN"}
    ).payload("inviteTenantMember")
    assert [e["code"] for e in again["errors"]] == ["DUPLICATE"]
    assert Membership.objects.get(user=world.outsider).role == Role.VIEWER
    removed = client.execute(REMOVE_MEMBER, {"tenantId": str(world.tenant_a.pk), "username": "olga-outsider"})
    assert removed.payload("removeTenantMember")["errors"] == []
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_last_admin_cannot_be_removed(world, gql_for):
    response = gql_for(world.admin_a).execute(
        REMOVE_MEMBER, {"tenantId": str(world.tenant_a.pk), "username": "alice-admin"}
    )
    assert [e["code"] for e in response.payload("removeTenantMember")["errors"]] == ["LAST_ADMIN"]
    assert Membership.objects.filter(user=world.admin_a, tenant=world.tenant_a).exists()


def test_analyst_cannot_remove_members(world, gql_for):
    response = gql_for(world.analyst_a).execute(
        REMOVE_MEMBER, {"tenantId": str(world.tenant_a.pk), "username": "vera-viewer"}
    )
    assert [e["code"] for e in response.payload("removeTenantMember")["errors"]] == ["PERMISSION_DENIED"]
    assert Membership.objects.filter(user=world.viewer_a).exists()


def test_tenants_query_count_does_not_grow_with_page(world, gql_for, django_assert_max_num_queries):
    from argus_plugins.tenancy import services

    for index in range(15):
        services.create_tenant(actor=world.admin_a, name=f"Unit {index}")
    client = gql_for(world.admin_a)
    with django_assert_max_num_queries(6):
        data = client.execute(TENANTS.replace("first: 10", "first: 16")).data
    assert data["tenants"]["totalCount"] == 16
    assert all(edge["node"]["myRole"] == "ADMIN" for edge in data["tenants"]["edges"])
