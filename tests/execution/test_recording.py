"""A terminal status and its ledger entry are written together, or not at all."""

import pytest

from argus_plugins.canonical import NotCanonicalizable
from execution import wakeups
from execution.models import Execution, ExecutionStatus
from execution.recording import finish
from ledger.models import LedgerEntry


def test_terminal_status_comes_with_its_ledger_entry(queued_run):
    assert finish(queued_run, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="stop")
    execution = Execution.objects.get(pk=queued_run.pk)
    assert execution.status == ExecutionStatus.CANCELLED
    assert execution.ledger_entry.record["execution_id"] == str(execution.pk)


def test_an_execution_whose_ledger_entry_cannot_be_written_does_not_become_terminal(queued_run):
    # A value outside RFC 8785's domain (an integer beyond 2**53 - 1) makes the ledger append fail.
    Execution.objects.filter(pk=queued_run.pk).update(applied_limits={**queued_run.applied_limits, "pids": 2**60})
    queued_run.refresh_from_db()
    entries = LedgerEntry.objects.count()
    with pytest.raises(NotCanonicalizable):
        finish(queued_run, ExecutionStatus.FAILED, expected=ExecutionStatus.QUEUED, error_reason="x")
    execution = Execution.objects.get(pk=queued_run.pk)
    assert execution.status == ExecutionStatus.QUEUED and execution.finished_at is None
    assert execution.ledger_entry is None and LedgerEntry.objects.count() == entries




def test_the_entry_commits_with_the_terminal_status_already_in_its_place_when_the_lock_is_free(
    queued_run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert finish(queued_run, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="x")
        # In the finishing transaction: the status and the entry, linked there (the ledger's lock was free,
        # as it always is on SQLite): written once, no pending state.
        execution = Execution.objects.select_related("ledger_entry").get(pk=queued_run.pk)
        assert execution.status == ExecutionStatus.CANCELLED
        entry = execution.ledger_entry
        assert entry.sequence == LedgerEntry.objects.count() and entry.entry_hash and entry.content_hash
        assert entry.record["status"] == "CANCELLED"
    assert LedgerEntry.objects.get(pk=entry.pk).entry_hash == entry.entry_hash
    assert not LedgerEntry.objects.pending().exists()


def test_the_end_is_announced_to_waiters_only_once_the_entry_is_linked(
    queued_run, django_capture_on_commit_callbacks, monkeypatch
):
    """waitForExecution's wake-up comes from the link's commit: a woken client reads the run's entry with
    its sequence (the announcement itself is tested against Redis in test_wakeups)."""
    announced = []

    def announce(execution_id):
        entry = Execution.objects.select_related("ledger_entry").get(pk=execution_id).ledger_entry
        announced.append((execution_id, entry.sequence))

    monkeypatch.setattr(wakeups, "announce_finished", announce)
    with django_capture_on_commit_callbacks(execute=True):
        finish(queued_run, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="x")
        assert announced == []  # not before the commit
    assert announced == [(queued_run.pk, LedgerEntry.objects.linked().count())]
    assert announced[0][1] is not None
