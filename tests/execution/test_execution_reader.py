"""execution_reader: get_execution's answers and errors, from a statement compiled once per reader."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from argus_plugins.core.errors import DomainError
from argus_plugins.tenancy.models import Role
from argus_plugins.tenancy.permissions import CALLER_ROLE
from execution.graphql.queries import execution_queryset
from execution.models import Execution
from execution.services import execution_reader, get_execution
from tests.support.prepared import loaded_state

SHAPES = [
    None,  # get_execution's own default
    {"status", "terminal", "ledgerEntry"},  # what the bench's client asks
    {"pluginVersion", "installation", "triggeredBy", "tenant", "ledgerEntry"},
    {"evidence", "artifacts"},  # prefetches: read as get_execution reads
]


def _queryset(fields):
    return None if fields is None else execution_queryset(fields)


@pytest.mark.parametrize("fields", SHAPES)
def test_each_call_reads_what_get_execution_reads_in_one_statement(world, queued_run, fields):
    read = execution_reader(world.viewer_a, str(queued_run.pk), queryset=_queryset(fields))
    expected = get_execution(world.viewer_a, str(queued_run.pk), queryset=_queryset(fields))
    assert loaded_state([read()], (CALLER_ROLE,)) == loaded_state([expected], (CALLER_ROLE,))
    Execution.objects.filter(pk=queued_run.pk).update(error_reason="changed meanwhile")
    with CaptureQueriesContext(connection) as queries:
        again = read()
    assert again.error_reason == "changed meanwhile"  # read again, not remembered
    expected = get_execution(world.viewer_a, str(queued_run.pk), queryset=_queryset(fields))
    assert loaded_state([again], (CALLER_ROLE,)) == loaded_state([expected], (CALLER_ROLE,))
    if fields is None or not fields & {"evidence", "artifacts"}:
        assert len(queries) == 1, [query["sql"] for query in queries]


def _error(call):
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value.code, raised.value.field, raised.value.message


@pytest.mark.parametrize("who", ["admin_b", "outsider", "staff", "anonymous"])
def test_whoever_may_not_see_the_run_gets_get_executions_error(world, queued_run, who):
    user = AnonymousUser() if who == "anonymous" else getattr(world, who)
    read = execution_reader(user, queued_run.pk)
    assert _error(read) == _error(lambda: get_execution(user, queued_run.pk))
    assert _error(read)[0] in {"NOT_FOUND", "UNAUTHENTICATED"}


def test_a_missing_run_and_a_role_too_weak_are_get_executions_errors(world, queued_run):
    missing = uuid.uuid4()
    assert _error(execution_reader(world.viewer_a, missing)) == _error(
        lambda: get_execution(world.viewer_a, missing)
    )
    weak = execution_reader(world.viewer_a, queued_run.pk, Role.ADMIN)
    assert _error(weak) == _error(lambda: get_execution(world.viewer_a, queued_run.pk, Role.ADMIN))
    assert _error(weak)[0] == "PERMISSION_DENIED"


def test_a_malformed_id_is_refused_when_the_reader_is_made(world):
    assert _error(lambda: execution_reader(world.viewer_a, "not-a-uuid")) == _error(
        lambda: get_execution(world.viewer_a, "not-a-uuid")
    )
