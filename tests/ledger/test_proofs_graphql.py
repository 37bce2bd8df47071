"""Checkpoints, proofs and receipts through GraphQL: shapes, and who may read what."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from ledger import checkpoints, tree
from ledger.hashing import stored_preimage
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger.models import LedgerEntry
from ledger.services import append_entry

from .receipt_support import finished_execution

CHECKPOINT = "{ ledgerCheckpoint { origin treeSize rootHash note cosignatures } }"
CHECKPOINTS = """query($first: Int, $after: String) {
  ledgerCheckpoints(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { node { treeSize rootHash } } } }"""
INCLUSION = """query($s: Int!, $n: Int!) {
  ledgerInclusionProof(sequence: $s, treeSize: $n) { leafIndex treeSize hashes } }"""
CONSISTENCY = """query($f: Int!, $t: Int!) {
  ledgerConsistencyProof(fromSize: $f, toSize: $t) { fromSize toSize hashes } }"""
RECEIPT = "query($id: ID!) { executionReceipt(executionId: $id) { executionId document } }"


@pytest.fixture
def entries(world, log_key):
    """Tenant A's execution entry (1), its grant entry (2), tenant B's execution entry (3), a global one."""
    a, b = world.tenant_a.pk, world.tenant_b.pk
    made = [
        append_entry("execution.completed", {"execution_id": "a1"}, tenant_id=a),
        append_entry("grant.created", {"grant_id": "ga"}, tenant_id=a),
        append_entry("execution.completed", {"execution_id": "b1"}, tenant_id=b),
        append_entry("version.approved", {"version": "1.0.0"}),
    ]
    checkpoints.issue_checkpoint()
    made.append(append_entry("execution.completed", {"execution_id": "a2"}, tenant_id=a))
    checkpoints.issue_checkpoint()
    return made


def code(response):
    assert response.errors, response.body
    return response.errors[0]["extensions"]["code"], response.errors[0]["extensions"].get("field")


def b64decode_all(values):
    return [base64.b64decode(value) for value in values]


@pytest.mark.parametrize("who", ["staff", "viewer_a", "admin_b"])
def test_checkpoints_for_staff_and_tenant_members(world, gql_for, entries, who):
    client = gql_for(getattr(world, who))
    latest = client.execute(CHECKPOINT).data["ledgerCheckpoint"]
    assert latest["treeSize"] == 5 and latest["origin"] == "argus.test/ledger"
    assert latest["note"].startswith(f"argus.test/ledger\n5\n{latest['rootHash']}\n\n\u2014 ")
    assert base64.b64decode(latest["rootHash"]) == tree.root_at(5)
    page = client.execute(CHECKPOINTS, {"first": 1}).data["ledgerCheckpoints"]
    assert page["totalCount"] == 2 and page["edges"][0]["node"]["treeSize"] == 5
    after = client.execute(CHECKPOINTS, {"first": 1, "after": page["pageInfo"]["endCursor"]})
    assert [edge["node"]["treeSize"] for edge in after.data["ledgerCheckpoints"]["edges"]] == [4]


@pytest.mark.parametrize("who", ["outsider", None])
def test_checkpoints_refused_to_outsiders_and_anonymous(world, gql_for, entries, who):
    client = gql_for(getattr(world, who) if who else None)
    expected = "PERMISSION_DENIED" if who else "UNAUTHENTICATED"
    assert code(client.execute(CHECKPOINT))[0] == expected
    assert code(client.execute(CONSISTENCY, {"f": 1, "t": 5}))[0] == expected


@pytest.mark.parametrize("who", ["staff", "viewer_a", "analyst_a"])
def test_inclusion_proof_of_an_own_execution_entry_verifies(world, gql_for, entries, who):
    answer = gql_for(getattr(world, who)).execute(INCLUSION, {"s": 1, "n": 4}).data["ledgerInclusionProof"]
    assert (answer["leafIndex"], answer["treeSize"]) == (0, 4)
    leaf = tree.leaf_hash_of(1)
    verify_inclusion(0, 4, leaf, b64decode_all(answer["hashes"]), tree.root_at(4))


@pytest.mark.parametrize(
    ("who", "sequence"),
    [("viewer_a", 2), ("viewer_a", 3), ("viewer_a", 4), ("viewer_a", 99), ("admin_b", 1), ("outsider", 1)],
)
def test_inclusion_proof_of_anything_else_is_not_found(world, gql_for, entries, who, sequence):
    response = gql_for(getattr(world, who)).execute(INCLUSION, {"s": sequence, "n": 5})
    assert code(response) == ("NOT_FOUND", "sequence")


def test_staff_get_proofs_of_every_entry(world, gql_for, entries):
    client = gql_for(world.staff)
    for sequence in (2, 3, 4, 5):
        hashes = client.execute(INCLUSION, {"s": sequence, "n": 5}).data["ledgerInclusionProof"]["hashes"]
        verify_inclusion(sequence - 1, 5, tree.leaf_hash_of(sequence), b64decode_all(hashes), tree.root_at(5))


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"s": 0, "n": 5}, "sequence"),
        ({"s": 1, "n": 0}, "treeSize"),
        ({"s": 5, "n": 4}, "treeSize"),
        ({"s": 1, "n": 6}, "treeSize"),
    ],
)
def test_bad_inclusion_arguments_are_typed_errors(world, gql_for, entries, variables, field):
    assert code(gql_for(world.staff).execute(INCLUSION, variables)) == ("INVALID", field)


def test_consistency_proof_between_checkpoints_verifies(world, gql_for, entries):
    answer = gql_for(world.viewer_a).execute(CONSISTENCY, {"f": 4, "t": 5}).data["ledgerConsistencyProof"]
    assert (answer["fromSize"], answer["toSize"]) == (4, 5)
    verify_consistency(4, 5, tree.root_at(4), tree.root_at(5), b64decode_all(answer["hashes"]))


@pytest.mark.parametrize(
    ("variables", "field"),
    [({"f": 0, "t": 5}, "fromSize"), ({"f": 5, "t": 4}, "fromSize"), ({"f": 1, "t": 6}, "toSize")],
)
def test_bad_consistency_arguments_are_typed_errors(world, gql_for, entries, variables, field):
    assert code(gql_for(world.staff).execute(CONSISTENCY, variables)) == ("INVALID", field)


# --- Receipts ------------------------------------------------------------------------------------------------


@pytest.fixture
def execution(world, installation, log_key):
    return finished_execution(world, installation)


@pytest.mark.parametrize("who", ["staff", "viewer_a", "analyst_a", "admin_a"])
def test_receipt_for_staff_and_the_tenants_members(world, gql_for, execution, who):
    checkpoints.issue_checkpoint()
    answer = gql_for(getattr(world, who)).execute(RECEIPT, {"id": str(execution.pk)}).data["executionReceipt"]
    assert answer["executionId"] == str(execution.pk)
    assert f'"execution_id":"{execution.pk}"' in answer["document"]
    assert answer["document"].endswith("}\n")


@pytest.mark.parametrize("who", ["admin_b", "outsider"])
def test_receipt_of_another_tenants_execution_is_not_found(world, gql_for, execution, who):
    checkpoints.issue_checkpoint()
    response = gql_for(getattr(world, who)).execute(RECEIPT, {"id": str(execution.pk)})
    assert code(response) == ("NOT_FOUND", "executionId")


def test_receipt_of_an_unknown_or_unfinished_execution_is_not_found(world, gql_for, log_key):
    client = gql_for(world.staff)
    assert code(client.execute(RECEIPT, {"id": str(uuid.uuid4())})) == ("NOT_FOUND", "executionId")
    assert code(client.execute(RECEIPT, {"id": "not-a-uuid"}))[1] == "executionId"


def test_receipt_waits_for_a_checkpoint(world, gql_for, execution):
    response = gql_for(world.viewer_a).execute(RECEIPT, {"id": str(execution.pk)})
    assert code(response) == ("NOT_YET_CHECKPOINTED", "executionId")


def test_receipt_covers_the_entry_with_the_execution_record(world, gql_for, execution):
    checkpoints.issue_checkpoint()
    entry = LedgerEntry.objects.get(execution=execution)
    assert entry.record["status"] == "SUCCEEDED" and len(entry.record["evidence"]) == 2
    _, data = stored_preimage(
        entry.sequence, entry.entry_type, json.dumps(entry.record), entry.prev_hash, entry.created_at
    )
    assert tree.leaf_hash_of(entry.sequence) == leaf_hash(data)
