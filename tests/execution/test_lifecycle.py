"""The execution state machine: one test per forbidden transition."""

import itertools

import pytest

from execution.lifecycle import TRANSITIONS, TransitionConflict, transition
from execution.models import Execution, ExecutionStatus

FORBIDDEN = [
    (current, requested)
    for current, requested in itertools.product(ExecutionStatus.values, ExecutionStatus.values)
    if requested not in TRANSITIONS[current]
]


def test_the_table_is_the_documented_lifecycle():
    assert TRANSITIONS["QUEUED"] == {"RUNNING", "CANCELLED", "REJECTED", "FAILED"}
    assert TRANSITIONS["RUNNING"] == {"SUCCEEDED", "FAILED", "TIMED_OUT", "MEMORY_EXCEEDED", "CANCELLED", "REJECTED"}
    assert all(not TRANSITIONS[s] for s in ("SUCCEEDED", "FAILED", "TIMED_OUT", "MEMORY_EXCEEDED", "CANCELLED",
                                             "REJECTED"))


@pytest.mark.parametrize(("current", "requested"), FORBIDDEN)
def test_forbidden_transition(current, requested):
    # The table is consulted before any write: no row is needed to prove a transition is refused.
    execution = Execution(status=current)
    with pytest.raises(TransitionConflict) as caught:
        transition(execution, requested)
    assert current in caught.value.message and requested in caught.value.message
    assert execution.status == current and execution.finished_at is None


def test_allowed_transition_is_a_conditional_update(queued_run):
    execution = queued_run
    stale = Execution.objects.get(pk=execution.pk)
    assert transition(execution, ExecutionStatus.RUNNING) is True
    # A second actor holding the stale QUEUED copy loses the race and changes nothing.
    assert transition(stale, ExecutionStatus.CANCELLED) is False
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.RUNNING
