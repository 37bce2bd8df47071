"""Pending entries: written with the change they record, linked into the chain right after the commit.

``append_entry_without_waiting`` (a run's finish) never waits for the ledger's lock: when it is free (always
on SQLite) the entry is linked in the writer's transaction; when another writer holds it (PostgreSQL,
``link_at_once=False`` here) the entry is written without a place in the chain, and
``link_pending_entries`` (on commit, and the beat task as a safety net) links every pending entry in one
batch. Readers treat pending entries as not yet in the chain.
"""

from __future__ import annotations

import hashlib
import logging

import pytest
import rfc8785
from django.db import transaction

from argus_plugins.core import clock
from ledger import tasks
from ledger.checkpoints import issue_checkpoint
from ledger.export import export_jsonl
from ledger.hashing import GENESIS_HASH
from ledger.models import LedgerEntry, LedgerHead
from ledger.services import append_entry, append_entry_without_waiting, link_pending_entries
from ledger.verification import BreakReason, verify_chain

from .support import T0, sample_record, sql

pytestmark = pytest.mark.django_db


class ProcessDied(Exception):
    """Stands for the worker process dying between its commit and the linker's turn."""


def die() -> None:
    raise ProcessDied


def commit_pending_then_die(*records: dict) -> list[LedgerEntry]:
    """Commit pending entries like a run's finish, then stop before linking them: the callback registered
    first runs first and, not being robust, ends the commit's callbacks (the linker's among them)."""
    with pytest.raises(ProcessDied), transaction.atomic():
        transaction.on_commit(die)
        entries = [
            append_entry_without_waiting("execution.completed", record, link_at_once=False) for record in records
        ]
    return entries


def content_hash_by_reference(entry: LedgerEntry) -> str:
    fields = {"created_at": entry.created_at, "entry_type": entry.entry_type, "record": entry.record}
    return hashlib.sha256(rfc8785.dumps(fields)).hexdigest()


def test_a_pending_entry_has_no_place_in_the_chain_until_its_commit_links_it(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        clock.frozen(T0),
        transaction.atomic(),
    ):
        entry = append_entry_without_waiting("execution.completed", {"execution_id": "e1", "cpus": 0.5}, link_at_once=False)
        stored = LedgerEntry.objects.get(pk=entry.pk)
        # Inside the writing transaction: written, content-hashed, not linked; the head has not moved.
        assert (stored.sequence, stored.prev_hash, stored.entry_hash) == (None, "", "")
        assert stored.content_hash == content_hash_by_reference(stored)
        assert LedgerHead.objects.get().sequence == 0
    # The commit's one step, the link (whose own commit then tells the entries_linked hooks).
    assert [callback.__name__ for callback in callbacks][:1] == ["_link_after_commit"]
    linked = LedgerEntry.objects.get(pk=entry.pk)
    assert (linked.sequence, linked.prev_hash, linked.created_at) == (1, GENESIS_HASH, "2026-11-25T15:31:17.123456Z")
    assert linked.entry_hash == entry_hash_by_reference(linked)
    assert LedgerHead.objects.get().entry_hash == linked.entry_hash
    assert verify_chain().ok


def entry_hash_by_reference(entry: LedgerEntry) -> str:
    preimage = {key: getattr(entry, key) for key in ("created_at", "entry_type", "prev_hash", "record", "sequence")}
    return hashlib.sha256(rfc8785.dumps(preimage)).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_with_the_lock_free_the_entry_is_linked_in_the_writers_transaction_after_those_pending_before_it(settings):
    settings.ARGUS_HOOKS = {**settings.ARGUS_HOOKS, "ledger.entries_linked": [f"{__name__}.remember_linked"]}
    told.clear()
    (earlier,) = commit_pending_then_die(sample_record(1))
    with clock.frozen(T0), transaction.atomic():
        entry = append_entry_without_waiting("execution.completed", {"execution_id": "e2", "cpus": 0.5})
        # Written once, already in its place, after the entry committed pending before it.
        stored = LedgerEntry.objects.get(pk=entry.pk)
        assert (stored.sequence, LedgerEntry.objects.get(pk=earlier.pk).sequence) == (2, 1)
        assert stored.entry_hash == entry_hash_by_reference(stored) == LedgerHead.objects.get().entry_hash
        assert stored.content_hash == content_hash_by_reference(stored)
        assert told == []  # nobody is told before the commit
    # Told after the commit: of the earlier entry (linked by this transaction) and of its own.
    assert told == [[(earlier.pk, 1)], [(entry.pk, 2)]]
    assert not LedgerEntry.objects.pending().exists()
    report = verify_chain()
    assert report.ok and report.entries_checked == 2


@pytest.mark.django_db(transaction=True)
def test_an_entry_linked_in_a_transaction_that_rolls_back_leaves_no_trace():
    append_entry("grant.created", {"grant_id": "g1"})
    with pytest.raises(ProcessDied), transaction.atomic():
        append_entry_without_waiting("execution.completed", sample_record(1))
        raise ProcessDied
    assert LedgerHead.objects.get().sequence == 1
    assert list(LedgerEntry.objects.values_list("sequence", flat=True)) == [1]
    following = append_entry_without_waiting("execution.completed", sample_record(2))
    assert following.sequence == 2
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_one_linker_links_every_pending_entry_oldest_first_and_nothing_twice():
    records = [sample_record(index) for index in range(5)]
    commit_pending_then_die(*records[:3])
    commit_pending_then_die(*records[3:])
    assert LedgerEntry.objects.pending().count() == 5
    assert link_pending_entries() == 5
    assert link_pending_entries() == 0
    chain = list(LedgerEntry.objects.order_by("sequence"))
    assert [entry.sequence for entry in chain] == [1, 2, 3, 4, 5]
    assert [entry.record["execution_id"] for entry in chain] == [r["execution_id"] for r in records]
    assert [entry.prev_hash for entry in chain] == [GENESIS_HASH] + [entry.entry_hash for entry in chain[:-1]]
    report = verify_chain()
    assert report.ok and report.entries_checked == 5 and report.pending_checked == 0


@pytest.mark.django_db(transaction=True)
def test_entries_left_pending_after_a_crash_are_linked_by_the_beat_task():
    commit_pending_then_die(sample_record(1), sample_record(2))
    report = verify_chain()
    assert report.ok and (report.entries_checked, report.pending_checked) == (0, 2)
    assert "+2 pending, intact" in report.summary()
    assert tasks.link_pending_entries() == 2
    assert tasks.link_pending_entries() == 0  # a doubled beat run finds nothing left
    report = verify_chain()
    assert report.ok and (report.entries_checked, report.pending_checked) == (2, 0)


@pytest.mark.django_db(transaction=True)
def test_a_linked_append_links_the_pending_entries_committed_before_it():
    (pending,) = commit_pending_then_die(sample_record(1))
    grant = append_entry("grant.created", {"grant_id": "g1"})
    assert (LedgerEntry.objects.get(pk=pending.pk).sequence, grant.sequence) == (1, 2)
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_pending_entries_are_not_exported_and_not_checkpointed_until_linked(log_key):
    append_entry("grant.created", {"grant_id": "g1"})
    commit_pending_then_die(sample_record(1))

    class Lines(list):
        write = list.append

    lines = Lines()
    assert export_jsonl(lines) == 1
    # A checkpoint covers every entry committed before it: issuing one links the pending entry first.
    assert issue_checkpoint().tree_size == 2
    assert LedgerEntry.objects.pending().count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_pending_entry_altered_before_linking_is_caught_and_never_linked():
    first, second = commit_pending_then_die(sample_record(1), sample_record(2))
    sql("UPDATE ledger_ledgerentry SET record = %s WHERE id = %s", ['{"status": "SUCCEEDED"}', first.pk.hex])
    report = verify_chain()
    assert not report.ok and report.reason == BreakReason.PENDING_MISMATCH
    assert str(first.pk) in report.detail
    assert report.summary().startswith("Ledger BROKEN at a pending entry: PENDING_MISMATCH")
    # The linker refuses it (the tampered record would otherwise be sealed into the chain) and links the rest.
    assert link_pending_entries() == 1
    assert LedgerEntry.objects.get(pk=first.pk).sequence is None
    assert LedgerEntry.objects.get(pk=second.pk).sequence == 1
    assert verify_chain().reason == BreakReason.PENDING_MISMATCH


@pytest.mark.django_db(transaction=True)
def test_a_pending_entry_moved_to_another_tenant_is_caught(world):
    (entry,) = commit_pending_then_die(sample_record(1, world.tenant_a.pk))
    sql("UPDATE ledger_ledgerentry SET tenant_id = %s WHERE id = %s", [world.tenant_b.pk.hex, entry.pk.hex])
    report = verify_chain()
    assert report.reason == BreakReason.PENDING_MISMATCH and "tenant" in report.detail


@pytest.mark.django_db(transaction=True)
def test_graphql_links_a_pending_entry_before_showing_it(world, gql_for):
    """A reader right after a run's end (or after its writer died before linking) gets the entry's place
    in the chain, not nulls a moment too early."""
    append_entry("grant.created", {"grant_id": "g1"})
    commit_pending_then_die(sample_record(1))
    query = "{ ledgerEntries { totalCount edges { node { sequence entryType prevHash entryHash createdAt } } } }"
    nodes = [edge["node"] for edge in gql_for(world.staff).execute(query).data["ledgerEntries"]["edges"]]
    assert [(node["sequence"], node["entryType"]) for node in nodes] == [(1, "grant.created"), (2, "execution.completed")]
    assert nodes[1]["prevHash"] == nodes[0]["entryHash"] and nodes[1]["entryHash"]
    assert not LedgerEntry.objects.pending().exists()
    assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_graphql_shows_a_refused_pending_entry_last_with_null_sequence_and_hashes(world, gql_for, caplog):
    append_entry("grant.created", {"grant_id": "g1"})
    (entry,) = commit_pending_then_die(sample_record(1))
    sql("UPDATE ledger_ledgerentry SET record = %s WHERE id = %s", ['{"altered": true}', entry.pk.hex])
    query = "{ ledgerEntries { totalCount edges { node { sequence entryType prevHash entryHash createdAt } } } }"
    with caplog.at_level(logging.ERROR, logger="ledger.services"):
        nodes = [edge["node"] for edge in gql_for(world.staff).execute(query).data["ledgerEntries"]["edges"]]
    # Its three fields tried to link it once between them (one refusal logged, not three).
    assert caplog.text.count("does not match its content_hash") == 1
    assert [(node["sequence"], node["entryType"]) for node in nodes] == [(1, "grant.created"), (None, "execution.completed")]
    assert (nodes[1]["prevHash"], nodes[1]["entryHash"]) == (None, None) and nodes[1]["createdAt"]


@pytest.mark.django_db(transaction=True)
def test_every_link_tells_the_entries_linked_hooks_after_its_commit(settings):
    settings.ARGUS_HOOKS = {**settings.ARGUS_HOOKS, "ledger.entries_linked": [f"{__name__}.remember_linked"]}
    told.clear()
    first, second = commit_pending_then_die(sample_record(1), sample_record(2))
    assert told == []
    link_pending_entries()
    # Told once, of both, when their places were committed (the hook read them back as linked).
    assert told == [[(first.pk, 1), (second.pk, 2)]]
    # A linked append links the entries pending before it and tells of those (its own entry is linked in
    # its caller's transaction, by no linker); and only once that transaction commits.
    (third,) = commit_pending_then_die(sample_record(3))
    told.clear()
    with transaction.atomic():
        append_entry("grant.created", {"grant_id": "g2"})
        assert told == []
    assert told == [[(third.pk, 3)]]


told: list[list] = []


def remember_linked(entry_ids: list) -> None:
    sequences = dict(LedgerEntry.objects.filter(pk__in=entry_ids).values_list("pk", "sequence"))
    told.append([(entry_id, sequences[entry_id]) for entry_id in entry_ids])
