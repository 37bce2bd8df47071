"""Recording a run's terminal status together with its ledger entry, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from argus_plugins.core.hooks import run_hooks
from ledger.hashing import format_optional_timestamp
from ledger.services import append_entry_without_waiting

from . import dispatch, metrics
from .hooks import RUN_FINISHED
from .lifecycle import transition
from .models import Execution, ExecutionEvidence, ExecutionStatus

LEDGER_ENTRY_TYPE = "execution.completed"


def ledger_record(
    execution: Execution, evidence_links: Iterable[ExecutionEvidence] | None = None
) -> dict[str, Any]:
    """Who ran which exact code, with which capabilities, on which evidence, with which result."""
    version = execution.plugin_version
    if evidence_links is None:
        evidence_links = execution.evidence_links.all()
    evidence = sorted((str(link.evidence_id), link.sha256) for link in evidence_links)
    return {
        "execution_id": str(execution.pk),
        "tenant_id": str(execution.tenant_id),
        "plugin": version.plugin.slug,
        "version": version.version,
        "code_sha256": version.code_sha256,
        "manifest_sha256": version.manifest_sha256,
        "signing_key_fingerprint": version.signing_key.fingerprint,
        "trigger": execution.trigger,
        "triggered_by": execution.triggered_by.username if execution.triggered_by_id else None,
        "capabilities": sorted(execution.capabilities),
        "evidence": [{"id": evidence_id, "sha256": digest} for evidence_id, digest in evidence],
        "input_sha256": execution.input_sha256,
        "output_sha256": execution.output_sha256 or None,
        "stdout_sha256": execution.stdout_sha256 or None,
        "stderr_sha256": execution.stderr_sha256 or None,
        "status": execution.status,
        "exit_code": execution.exit_code,
        "error_reason": execution.error_reason or None,
        "applied_limits": {
            k: str(v) if isinstance(v, float) else v for k, v in execution.applied_limits.items()
        },
        "queued_at": format_optional_timestamp(execution.queued_at),
        "started_at": format_optional_timestamp(execution.started_at),
        "finished_at": format_optional_timestamp(execution.finished_at),
    }


@transaction.atomic
def finish(
    execution: Execution,
    status: ExecutionStatus,
    *,
    expected: str | None = None,
    evidence_links: list[ExecutionEvidence] | None = None,
    **fields: Any,
) -> bool:
    """Move the run to a terminal ``status`` and append its ledger entry: both commit, or neither.

    Returns False (and writes nothing) when the run had already left ``expected``. The ledger record is
    built from the row as stored, re-read here, unless the caller passes the run's ``evidence_links``:
    its promise that ``execution`` holds every recorded field as stored (the worker, which loaded the run
    and made every change since), which saves re-reading them on the hot path.
    """
    # The entry's id is chosen first so the status change can point at it in the same UPDATE.
    entry_id = uuid.uuid4()
    if not transition(execution, status, expected=expected, ledger_entry_id=entry_id, **fields):
        return False
    if evidence_links is None:
        execution = Execution.objects.select_related(
            "plugin_version__plugin", "plugin_version__signing_key", "triggered_by"
        ).get(pk=execution.pk)
    record = ledger_record(execution, evidence_links)
    # When the ledger's lock is free the entry is linked here and the lock held until the commit; otherwise
    # it is written pending and linked right after the commit. Either way the link's commit announces the
    # run's end to waitForExecution's waiters (``announce_runs_of_linked_entries``), so a woken client reads
    # the entry in its place in the chain. Appended before the hooks so that this announcement is the first
    # of the after-commit steps (the events' dispatch, registered by the hooks, comes after it). While the
    # lock is held the hooks only insert rows (events referencing this run and its tenant): they wait for
    # no transaction that could be waiting for the ledger's lock.
    execution.ledger_entry = append_entry_without_waiting(
        LEDGER_ENTRY_TYPE, record, tenant_id=execution.tenant_id, entry_id=entry_id
    )
    run_hooks(RUN_FINISHED, execution)  # e.g. its execution.* and custom events, in this transaction
    metrics.record_finished(execution)
    dispatch.release_after_commit()  # its slot is free: the next queued run (fairly chosen) may go
    return True
