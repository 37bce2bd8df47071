"""The ledger through GraphQL: who sees which entries, and verifyLedger for staff only."""

from __future__ import annotations

import json

import pytest

from ledger.hashing import GENESIS_HASH
from ledger.services import append_entry

from .support import sql

ENTRIES = """query($t: ID, $type: String, $first: Int, $after: String) {
  ledgerEntries(tenantId: $t, entryType: $type, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { sequence entryType record prevHash entryHash createdAt } } } }"""
VERIFY = "{ verifyLedger { ok entriesChecked headHash brokenSequence reason detail } }"


@pytest.fixture
def entries(world):
    """Execution and grant entries of tenants A and B, and a global version entry."""
    a, b = world.tenant_a.pk, world.tenant_b.pk
    return [
        append_entry("execution.completed", {"execution_id": "a1"}, tenant_id=a),
        append_entry("grant.created", {"grant_id": "ga"}, tenant_id=a),
        append_entry("execution.completed", {"execution_id": "b1"}, tenant_id=b),
        append_entry("version.approved", {"version": "1.0.0"}),
        append_entry("execution.failed", {"execution_id": "a2"}, tenant_id=a),
    ]


def sequences(response):
    return [edge["node"]["sequence"] for edge in response.data["ledgerEntries"]["edges"]]


def error_code(response):
    assert response.errors, response.body
    return response.errors[0]["extensions"]["code"]


@pytest.mark.parametrize("who", ["admin_a", "analyst_a", "viewer_a"])
def test_tenant_members_see_only_their_tenants_execution_entries(world, gql_for, entries, who):
    response = gql_for(getattr(world, who)).execute(ENTRIES, {"t": str(world.tenant_a.pk)})
    assert sequences(response) == [1, 5]
    node = response.data["ledgerEntries"]["edges"][0]["node"]
    assert node == {
        "sequence": 1,
        "entryType": "execution.completed",
        "record": json.dumps({"execution_id": "a1", "tenant_id": str(world.tenant_a.pk)}),
        "prevHash": GENESIS_HASH,
        "entryHash": entries[0].entry_hash,
        "createdAt": entries[0].created_at,
    }
    assert response.data["ledgerEntries"]["totalCount"] == 2


def test_member_filters_by_type_but_never_beyond_execution_entries(world, gql_for, entries):
    viewer = gql_for(world.viewer_a)
    tenant = str(world.tenant_a.pk)
    assert sequences(viewer.execute(ENTRIES, {"t": tenant, "type": "execution.failed"})) == [5]
    assert sequences(viewer.execute(ENTRIES, {"t": tenant, "type": "grant.created"})) == []


@pytest.mark.parametrize("who", ["viewer_a", "outsider"])
def test_another_tenants_id_is_not_found(world, gql_for, entries, who):
    response = gql_for(getattr(world, who)).execute(ENTRIES, {"t": str(world.tenant_b.pk)})
    assert error_code(response) == "NOT_FOUND"
    assert response.errors[0]["extensions"]["field"] == "tenantId"
    assert response.body["data"] is None


def test_members_must_name_a_tenant(world, gql_for, entries):
    assert error_code(gql_for(world.viewer_a).execute(ENTRIES)) == "REQUIRED"


def test_anonymous_is_refused(gql_for, world, entries):
    anonymous = gql_for(None)
    assert error_code(anonymous.execute(ENTRIES, {"t": str(world.tenant_a.pk)})) == "UNAUTHENTICATED"
    assert error_code(anonymous.execute(VERIFY)) == "UNAUTHENTICATED"


def test_staff_see_every_entry_and_may_filter(world, gql_for, entries):
    staff = gql_for(world.staff)
    assert sequences(staff.execute(ENTRIES)) == [1, 2, 3, 4, 5]
    assert sequences(staff.execute(ENTRIES, {"t": str(world.tenant_b.pk)})) == [3]
    assert sequences(staff.execute(ENTRIES, {"type": "version.approved"})) == [4]
    page = staff.execute(ENTRIES, {"first": 2}).data["ledgerEntries"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"]
    rest = staff.execute(ENTRIES, {"first": 10, "after": page["pageInfo"]["endCursor"]})
    assert sequences(rest) == [3, 4, 5]


@pytest.mark.parametrize("who", ["admin_a", "viewer_a", "outsider"])
def test_verify_ledger_is_staff_only(world, gql_for, entries, who):
    assert error_code(gql_for(getattr(world, who)).execute(VERIFY)) == "PERMISSION_DENIED"


def test_staff_verify_ledger(world, gql_for, entries):
    staff = gql_for(world.staff)
    assert staff.execute(VERIFY).data["verifyLedger"] == {
        "ok": True,
        "entriesChecked": 5,
        "headHash": entries[-1].entry_hash,
        "brokenSequence": None,
        "reason": None,
        "detail": "",
    }
    sql("DELETE FROM ledger_ledgerentry WHERE sequence = 3")
    result = staff.execute(VERIFY).data["verifyLedger"]
    assert result["ok"] is False
    assert (result["entriesChecked"], result["brokenSequence"], result["reason"]) == (2, 3, "GAP")
    assert result["headHash"] == entries[1].entry_hash
