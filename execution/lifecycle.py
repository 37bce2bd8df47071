"""The execution state machine: one table, one function that applies it.

A terminal status is final. Transitions are conditional updates, so the worker, the canceller and the
sweeper can race safely: exactly one of them moves an execution out of a given state.
"""

from __future__ import annotations

from typing import Any

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError

from .models import TERMINAL_STATUSES, Execution, ExecutionStatus

S = ExecutionStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.REJECTED, S.FAILED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.MEMORY_EXCEEDED, S.CANCELLED, S.REJECTED}),
    **{status: frozenset() for status in TERMINAL_STATUSES},
}


class TransitionConflict(DomainError):
    """The execution was not in the expected state (someone else moved it first)."""


def transition(
    execution: Execution, to_status: ExecutionStatus, *, expected: str | None = None, **fields: Any
) -> bool:
    """Move ``execution`` from its current (or ``expected``) status to ``to_status`` with ``fields``.

    Returns True when this call made the change, False when the execution had already left the
    expected status (a concurrent actor won). Raises for a transition the table forbids.
    """
    current = expected or execution.status
    if to_status not in TRANSITIONS[current]:
        raise TransitionConflict(
            CommonErrorCode.INVALID_STATE, f"An execution cannot go from {current} to {to_status}.", "id"
        )
    if to_status in TERMINAL_STATUSES:
        now = fields.setdefault("finished_at", clock.now())
        started = fields.get("started_at") or execution.started_at
        if started is not None:
            fields.setdefault("duration_ms", max(0, int((now - started).total_seconds() * 1000)))
    updated = Execution.objects.filter(pk=execution.pk, status=current).update(status=to_status, **fields)
    if updated:
        execution.status = to_status
        for name, value in fields.items():
            setattr(execution, name, value)
    return bool(updated)
