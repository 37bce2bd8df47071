"""A terminal status and its ledger entry are written together, or not at all."""

import pytest

from argus_plugins.canonical import NotCanonicalizable
from execution.models import Execution, ExecutionStatus
from execution.recording import finish
from execution.services import run_plugin
from installations import services as installation_services
from ledger.models import LedgerEntry


@pytest.fixture
def queued(world, published_version):
    installation = installation_services.install_plugin(
        actor=world.admin_a, tenant_id=world.tenant_a.pk, plugin_id=published_version.plugin_id
    )
    return run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})


def test_terminal_status_comes_with_its_ledger_entry(queued):
    assert finish(queued, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="stop")
    execution = Execution.objects.get(pk=queued.pk)
    assert execution.status == ExecutionStatus.CANCELLED
    assert execution.ledger_entry.record["execution_id"] == str(execution.pk)


def test_an_execution_whose_ledger_entry_cannot_be_written_does_not_become_terminal(queued):
    # A value outside RFC 8785's domain (an integer beyond 2**53 - 1) makes the ledger append fail.
    Execution.objects.filter(pk=queued.pk).update(applied_limits={**queued.applied_limits, "pids": 2**60})
    queued.refresh_from_db()
    entries = LedgerEntry.objects.count()
    with pytest.raises(NotCanonicalizable):
        finish(queued, ExecutionStatus.FAILED, expected=ExecutionStatus.QUEUED, error_reason="x")
    execution = Execution.objects.get(pk=queued.pk)
    assert execution.status == ExecutionStatus.QUEUED and execution.finished_at is None
    assert execution.ledger_entry is None and LedgerEntry.objects.count() == entries


