"""Tampering below the ORM is detected at the right sequence with the right reason."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from ledger.hashing import entry_hash, preimage, prepare_record
from ledger.models import LedgerEntry
from ledger.verification import BreakReason, verify_chain

from .support import build_chain, forged_tree_hashes, sql

pytestmark = pytest.mark.django_db

N = 30
POSITIONS = [1, 17, N]
# Literal statements (not string-built), one per column an attacker might rewrite.
ALTER = {
    column: f"UPDATE ledger_ledgerentry SET {column} = %s WHERE sequence = %s"  # noqa: S608 - fixed names
    for column in ("entry_type", "record", "prev_hash", "created_at", "entry_hash")
}


@pytest.fixture
def chain(world):
    # Entries of tenant A in the middle, so the tenant column is exercised too.
    return build_chain(10) + build_chain(10, tenant_id=world.tenant_a.pk) + build_chain(N - 20)


def assert_broken(sequence, reason, detail_part=""):
    report = verify_chain()
    assert not report.ok
    assert (report.broken_sequence, report.reason) == (sequence, reason), report
    assert detail_part in report.detail
    if sequence is not None:
        assert report.entries_checked == sequence - 1
        expected_head = (
            "0" * 64 if sequence == 1 else LedgerEntry.objects.get(sequence=sequence - 1).entry_hash
        )
        assert report.head_hash == expected_head
    return report


def test_untouched_chain_verifies(chain):
    report = verify_chain()
    assert report.ok and report.entries_checked == N and report.head_hash == chain[-1].entry_hash


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("entry_type", "execution.forged"),
        ("record", json.dumps({"execution_id": "forged"})),
        ("prev_hash", "f" * 64),
        ("created_at", "2020-01-01T00:00:00.000000Z"),
        ("entry_hash", "e" * 64),
    ],
)
def test_altered_field_is_a_hash_mismatch(chain, position, column, value):
    assert sql(ALTER[column], [value, position]) == 1
    assert_broken(position, BreakReason.HASH_MISMATCH)


@pytest.mark.parametrize("position", POSITIONS)
def test_altered_record_value_by_one_character(chain, position):
    record = dict(LedgerEntry.objects.get(sequence=position).record)
    record["exit_code"] += 1
    sql("UPDATE ledger_ledgerentry SET record = %s WHERE sequence = %s", [json.dumps(record), position])
    assert_broken(position, BreakReason.HASH_MISMATCH)


@pytest.mark.parametrize("position", POSITIONS)
def test_altered_sequence_number(chain, position):
    sql("UPDATE ledger_ledgerentry SET sequence = %s WHERE sequence = %s", [10**9, position])
    assert_broken(position, BreakReason.HASH_MISMATCH, "stored under sequence 1000000000")


@pytest.mark.parametrize(
    "bad", ['{"n": 1e400}', '{"n": 18446744073709551616}', "[1, 2]", '"text"', '{"s": "\\ud800"}']
)
def test_uncanonicalisable_stored_record_is_a_hash_mismatch(chain, bad):
    sql("UPDATE ledger_ledgerentry SET record = %s WHERE sequence = %s", [bad, 5])
    assert_broken(5, BreakReason.HASH_MISMATCH)


def test_moving_an_entry_to_another_tenant(chain, world):
    # The tenant column is outside the preimage, but must agree with the hashed record.
    sql("UPDATE ledger_ledgerentry SET tenant_id = %s WHERE sequence = %s", [world.tenant_b.pk.hex, 12])
    assert_broken(12, BreakReason.TENANT_MISMATCH)
    sql("UPDATE ledger_ledgerentry SET tenant_id = NULL WHERE sequence = %s", [12])
    assert_broken(12, BreakReason.TENANT_MISMATCH)


def test_tenant_added_to_an_untenanted_entry(chain, world):
    sql("UPDATE ledger_ledgerentry SET tenant_id = %s WHERE sequence = %s", [world.tenant_b.pk.hex, 3])
    assert_broken(3, BreakReason.TENANT_MISMATCH)


def forge_entry_9(*, with_tree: bool) -> None:
    original = LedgerEntry.objects.get(sequence=9)
    forged_record, canonical = prepare_record({"execution_id": "forged"})
    forged = preimage(9, original.entry_type, canonical, original.prev_hash, original.created_at)
    tree_hashes = forged_tree_hashes(9, forged) if with_tree else bytes(original.subtree_hashes)
    sql(
        "UPDATE ledger_ledgerentry SET record = %s, entry_hash = %s, subtree_hashes = %s WHERE sequence = 9",
        [json.dumps(forged_record), hashlib.sha256(forged).hexdigest(), tree_hashes],
    )


def test_replaced_entry_with_recomputed_hash_breaks_the_next_link(chain):
    """A forger who rewrites entry 9 and its tree leaf consistently still cannot fix entry 10's prev_hash."""
    forge_entry_9(with_tree=True)
    assert_broken(10, BreakReason.BROKEN_LINK)


def test_replaced_entry_with_recomputed_hash_but_old_tree_is_a_tree_mismatch(chain):
    """Without rewriting the tree too, the forgery shows at the entry itself: its leaf is not the stored one."""
    forge_entry_9(with_tree=False)
    assert_broken(9, BreakReason.TREE_MISMATCH)


def test_relinked_entry_with_recomputed_hash_is_a_broken_link(chain):
    entry = LedgerEntry.objects.get(sequence=9)
    other_prev = LedgerEntry.objects.get(sequence=3).entry_hash
    _, canonical = prepare_record(entry.record)
    sql(
        "UPDATE ledger_ledgerentry SET prev_hash = %s, entry_hash = %s WHERE sequence = 9",
        [other_prev, entry_hash(9, entry.entry_type, canonical, other_prev, entry.created_at)],
    )
    assert_broken(9, BreakReason.BROKEN_LINK)


@pytest.mark.parametrize("position", [1, 17, N - 1])
def test_deleted_entry_in_the_middle_is_a_gap(chain, position):
    assert sql("DELETE FROM ledger_ledgerentry WHERE sequence = %s", [position]) == 1
    assert_broken(position, BreakReason.GAP, f"entries {position} are missing")


def test_several_deleted_entries_are_one_gap(chain):
    sql("DELETE FROM ledger_ledgerentry WHERE sequence BETWEEN 11 AND 14")
    assert_broken(11, BreakReason.GAP, "entries 11 to 14 are missing")


def test_deleted_tail_is_detected_by_the_head(chain):
    sql("DELETE FROM ledger_ledgerentry WHERE sequence = %s", [N])
    assert_broken(N, BreakReason.GAP, f"the head records {N} entries")
    sql("DELETE FROM ledger_ledgerentry WHERE sequence > 25")
    assert_broken(26, BreakReason.GAP, f"entries 26 to {N} are missing")


def test_altered_or_missing_head(chain):
    sql("UPDATE ledger_ledgerhead SET entry_hash = %s", ["a" * 64])
    assert_broken(None, BreakReason.HEAD_MISMATCH)
    sql("DELETE FROM ledger_ledgerhead")
    assert_broken(None, BreakReason.HEAD_MISMATCH, "missing")


def swap(first, second):
    sql("UPDATE ledger_ledgerentry SET sequence = %s WHERE sequence = %s", [10**9, first])
    sql("UPDATE ledger_ledgerentry SET sequence = %s WHERE sequence = %s", [first, second])
    sql("UPDATE ledger_ledgerentry SET sequence = %s WHERE sequence = %s", [second, 10**9])


@pytest.mark.parametrize(("first", "second"), [(4, 20), (7, 8), (1, 2), (N - 1, N), (1, N)])
def test_swapped_entries_are_reordered(chain, first, second):
    swap(first, second)
    assert_broken(first, BreakReason.REORDERED)


def shift_up_from(position):
    sql("UPDATE ledger_ledgerentry SET sequence = sequence + 1000000 WHERE sequence >= %s", [position])
    sql("UPDATE ledger_ledgerentry SET sequence = sequence - 999999 WHERE sequence >= 1000000")


def insert_raw(sequence, prev_hash, digest=None, record=None):
    record, canonical = prepare_record(record or {"execution_id": "inserted"})
    created_at = LedgerEntry.objects.get(sequence=1).created_at
    data = preimage(sequence, "execution.completed", canonical, prev_hash, created_at)
    digest = digest or hashlib.sha256(data).hexdigest()
    # bulk_create is the ORM's insert-only path; it bypasses append_entry's lock and head, as a forger would.
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                id=uuid.uuid4(),
                sequence=sequence,
                entry_type="execution.completed",
                record=record,
                prev_hash=prev_hash,
                entry_hash=digest,
                created_at=created_at,
                subtree_hashes=forged_tree_hashes(sequence, data),
            )
        ]
    )


def test_inserted_entry_with_valid_hash_is_detected(chain):
    """Entries 12.. are renumbered and a self-consistent forgery linking to 11 is put at 12."""
    shift_up_from(12)
    insert_raw(12, LedgerEntry.objects.get(sequence=11).entry_hash)
    sql("UPDATE ledger_ledgerhead SET sequence = sequence + 1")
    assert_broken(12, BreakReason.INSERTED)


def test_inserted_entry_with_copied_hash_is_detected(chain):
    shift_up_from(12)
    insert_raw(12, LedgerEntry.objects.get(sequence=11).entry_hash, digest="c" * 64)
    assert_broken(12, BreakReason.INSERTED)


def test_entry_inserted_beyond_the_head(chain):
    insert_raw(N + 1, chain[-1].entry_hash)
    assert_broken(N + 1, BreakReason.INSERTED, "beyond the head")


def test_first_break_is_reported(chain):
    sql("UPDATE ledger_ledgerentry SET entry_type = %s WHERE sequence = 20", ["execution.forged"])
    sql("DELETE FROM ledger_ledgerentry WHERE sequence = 8")
    assert_broken(8, BreakReason.GAP)
