"""Membership by consent: invitations the invited user answers, and members leaving a tenant."""

from __future__ import annotations

import datetime as dt

import pytest

from argus_plugins.audit.models import AuditEvent
from argus_plugins.core import clock
from argus_plugins.tenancy.models import InvitationStatus, Membership, Role, TenantInvitation

INVITE = """
mutation($t: ID!, $u: String!, $r: Role!) {
  inviteTenantMember(tenantId: $t, username: $u, role: $r) {
    invitation { id username role status expired tenantId tenantName invitedBy expiresAt respondedAt }
    errors { code field message }
  }
}"""
ACCEPT = """mutation($id: ID!) { acceptTenantInvitation(id: $id) {
  membership { role user { username } } errors { code field } } }"""
DECLINE = """mutation($id: ID!) { declineTenantInvitation(id: $id) {
  invitation { status respondedAt } errors { code field } } }"""
REVOKE = """mutation($id: ID!) { revokeTenantInvitation(id: $id) {
  invitation { status } errors { code field } } }"""
LEAVE = "mutation($t: ID!) { leaveTenant(tenantId: $t) { tenantId errors { code field } } }"
MINE = "{ myInvitations(first: 10) { totalCount edges { node { id tenantName role invitedBy } } } }"
TENANT_INVITATIONS = "query($id: ID!) { tenant(id: $id) { invitations { username role } } }"


def _invite(gql_for, world, username: str, role: str = "VIEWER", actor=None) -> dict:
    client = gql_for(actor or world.admin_a)
    return client.execute(INVITE, {"t": str(world.tenant_a.pk), "u": username, "r": role}).payload(
        "inviteTenantMember"
    )


def test_the_answer_is_the_same_whether_or_not_the_username_exists(world, gql_for):
    real = _invite(gql_for, world, "olga-outsider")
    ghost = _invite(gql_for, world, "nobody-by-this-name")
    assert real["errors"] == ghost["errors"] == []

    def shape(payload: dict) -> dict:
        return {k: v for k, v in payload["invitation"].items() if k not in {"id", "username", "expiresAt"}}

    assert (
        shape(real)
        == shape(ghost)
        == {
            "role": "VIEWER",
            "status": "PENDING",
            "expired": False,
            "tenantId": str(world.tenant_a.pk),
            "tenantName": "Agency A",
            "invitedBy": "alice-admin",
            "respondedAt": None,
        }
    )
    assert TenantInvitation.objects.count() == 2
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_only_the_invited_user_sees_and_answers_an_invitation(world, gql_for):
    invitation_id = _invite(gql_for, world, "olga-outsider", "ANALYST")["invitation"]["id"]
    for other in (world.viewer_a, world.admin_b, world.staff):
        answer = gql_for(other).execute(ACCEPT, {"id": invitation_id}).payload("acceptTenantInvitation")
        assert answer["errors"] == [{"code": "NOT_FOUND", "field": "id"}]
        assert gql_for(other).execute(MINE).data["myInvitations"]["totalCount"] == 0
    mine = gql_for(world.outsider).execute(MINE).data["myInvitations"]
    assert mine["edges"] == [
        {
            "node": {
                "id": invitation_id,
                "tenantName": "Agency A",
                "role": "ANALYST",
                "invitedBy": "alice-admin",
            }
        }
    ]
    accepted = (
        gql_for(world.outsider).execute(ACCEPT, {"id": invitation_id}).payload("acceptTenantInvitation")
    )
    assert accepted["errors"] == []
    assert Membership.objects.get(user=world.outsider, tenant=world.tenant_a).role == Role.ANALYST
    assert TenantInvitation.objects.get(pk=invitation_id).status == InvitationStatus.ACCEPTED
    assert gql_for(world.outsider).execute(MINE).data["myInvitations"]["totalCount"] == 0
    twice = gql_for(world.outsider).execute(ACCEPT, {"id": invitation_id}).payload("acceptTenantInvitation")
    assert twice["errors"] == [{"code": "INVITATION_ANSWERED", "field": "id"}]


def test_the_invitation_shows_the_tenants_name_not_its_data(world, gql_for):
    _invite(gql_for, world, "olga-outsider")
    response = gql_for(world.outsider).execute("{ myInvitations { edges { node { tenant { id } } } } }")
    assert response.status_code == 400 or response.errors  # no such field: members stay private


def test_a_declined_invitation_cannot_be_accepted(world, gql_for):
    invitation_id = _invite(gql_for, world, "olga-outsider")["invitation"]["id"]
    declined = (
        gql_for(world.outsider).execute(DECLINE, {"id": invitation_id}).payload("declineTenantInvitation")
    )
    assert declined["errors"] == [] and declined["invitation"]["status"] == "DECLINED"
    assert declined["invitation"]["respondedAt"] is not None
    late = gql_for(world.outsider).execute(ACCEPT, {"id": invitation_id}).payload("acceptTenantInvitation")
    assert late["errors"] == [{"code": "INVITATION_ANSWERED", "field": "id"}]
    assert not Membership.objects.filter(user=world.outsider).exists()


def test_an_expired_invitation_cannot_be_accepted_and_is_no_longer_listed(world, gql_for, settings):
    invitation_id = _invite(gql_for, world, "olga-outsider")["invitation"]["id"]
    TenantInvitation.objects.filter(pk=invitation_id).update(expires_at=clock.now() - dt.timedelta(seconds=1))
    answer = gql_for(world.outsider).execute(ACCEPT, {"id": invitation_id}).payload("acceptTenantInvitation")
    assert answer["errors"] == [{"code": "INVITATION_EXPIRED", "field": "id"}]
    assert not Membership.objects.filter(user=world.outsider).exists()
    assert gql_for(world.outsider).execute(MINE).data["myInvitations"]["totalCount"] == 0
    # Inviting the name again makes a fresh one (the expired one was still PENDING: it is renewed).
    settings.ARGUS_INVITATION_TTL_SECONDS = 3600
    renewed = _invite(gql_for, world, "olga-outsider", "ANALYST")["invitation"]
    assert (renewed["id"], renewed["role"], renewed["expired"]) == (invitation_id, "ANALYST", False)
    assert (
        gql_for(world.outsider)
        .execute(ACCEPT, {"id": invitation_id})
        .payload("acceptTenantInvitation")["errors"]
        == []
    )


def test_admins_see_and_revoke_open_invitations(world, gql_for):
    invitation_id = _invite(gql_for, world, "olga-outsider")["invitation"]["id"]
    listed = gql_for(world.admin_a).execute(TENANT_INVITATIONS, {"id": str(world.tenant_a.pk)})
    assert listed.data["tenant"]["invitations"] == [{"username": "olga-outsider", "role": "VIEWER"}]
    as_analyst = gql_for(world.analyst_a).execute(TENANT_INVITATIONS, {"id": str(world.tenant_a.pk)})
    assert as_analyst.data["tenant"]["invitations"] == []
    for who, code in (
        ("analyst_a", "PERMISSION_DENIED"),
        ("admin_b", "NOT_FOUND"),
        ("outsider", "NOT_FOUND"),
    ):
        refused = gql_for(getattr(world, who)).execute(REVOKE, {"id": invitation_id})
        assert refused.payload("revokeTenantInvitation")["errors"] == [{"code": code, "field": "id"}]
    revoked = gql_for(world.admin_a).execute(REVOKE, {"id": invitation_id}).payload("revokeTenantInvitation")
    assert revoked == {"invitation": {"status": "REVOKED"}, "errors": []}
    late = gql_for(world.outsider).execute(ACCEPT, {"id": invitation_id}).payload("acceptTenantInvitation")
    assert late["errors"] == [{"code": "INVITATION_ANSWERED", "field": "id"}]


def test_a_member_leaves_and_loses_access(world, gql_for):
    left = gql_for(world.viewer_a).execute(LEAVE, {"t": str(world.tenant_a.pk)}).payload("leaveTenant")
    assert left == {"tenantId": str(world.tenant_a.pk), "errors": []}
    assert not Membership.objects.filter(user=world.viewer_a).exists()
    again = gql_for(world.viewer_a).execute(LEAVE, {"t": str(world.tenant_a.pk)}).payload("leaveTenant")
    assert again["errors"] == [{"code": "NOT_FOUND", "field": "tenantId"}]


def test_the_last_admin_cannot_leave_but_one_of_two_can(world, gql_for):
    alone = gql_for(world.admin_a).execute(LEAVE, {"t": str(world.tenant_a.pk)}).payload("leaveTenant")
    assert alone == {"tenantId": None, "errors": [{"code": "LAST_ADMIN", "field": "tenantId"}]}
    assert Membership.objects.filter(user=world.admin_a, tenant=world.tenant_a).exists()
    Membership.objects.filter(user=world.analyst_a, tenant=world.tenant_a).update(role=Role.ADMIN)
    left = gql_for(world.admin_a).execute(LEAVE, {"t": str(world.tenant_a.pk)}).payload("leaveTenant")
    assert left["errors"] == []
    last = gql_for(world.analyst_a).execute(LEAVE, {"t": str(world.tenant_a.pk)}).payload("leaveTenant")
    assert last["errors"] == [{"code": "LAST_ADMIN", "field": "tenantId"}]


@pytest.mark.parametrize("who", ["outsider", "admin_b", "staff"])
def test_non_members_cannot_leave_a_tenant(world, gql_for, who):
    answer = gql_for(getattr(world, who)).execute(LEAVE, {"t": str(world.tenant_a.pk)}).payload("leaveTenant")
    assert answer["errors"] == [{"code": "NOT_FOUND", "field": "tenantId"}]


def test_invite_accept_and_leave_are_audited_in_the_tenant(world, gql_for):
    invitation_id = _invite(gql_for, world, "olga-outsider")["invitation"]["id"]
    gql_for(world.outsider).execute(ACCEPT, {"id": invitation_id})
    gql_for(world.outsider).execute(LEAVE, {"t": str(world.tenant_a.pk)})
    events = {e.action: e for e in AuditEvent.objects.filter(tenant_id=world.tenant_a.pk)}
    invite = events["graphql.inviteTenantMember"]
    assert (invite.actor, invite.target_type, invite.target_id) == (
        world.admin_a,
        "tenancy.TenantInvitation",
        invitation_id,
    )
    assert invite.changes["username"] == [None, "olga-outsider"]
    accept = events["graphql.acceptTenantInvitation"]
    assert (accept.actor, accept.target_type) == (world.outsider, "tenancy.Membership")
    assert events["graphql.leaveTenant"].actor == world.outsider
