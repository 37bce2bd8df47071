"""waitForExecution: the answer at a run's end (woken through Redis), its timeout, its errors.

In-process: the Django test client calls the view like gunicorn's gthread workers do when it says so
(``wsgi.multithread``); the run ends in the test's own thread, whose commit publishes on real Redis, and
the waiting request's process-wide listener wakes it. tests/execution/integration/test_wait_live.py does
the same across processes (a real Celery worker ends the run, a gunicorn process waits for it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from execution import waiting, wakeups
from execution.models import Execution, ExecutionStatus
from execution.recording import finish
from execution.services import request_cancel
from tests.support.sandbox_runs import wait_for

WAIT = """query($id: ID!, $t: Int) { waitForExecution(id: $id, timeoutSeconds: $t) {
  id status terminal ledgerEntry { sequence } } }"""
EXECUTION = "query($id: ID!) { execution(id: $id) { id status } }"


def threaded(client: Any) -> Any:
    """The client's requests as a server that gives each request a thread of its own makes them."""
    client.client.defaults["wsgi.multithread"] = True
    return client


def _codes(response: Any) -> list[tuple[str, str | None]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in response.errors or []]


@pytest.mark.parametrize("timeout", [-1, 11, 3600])
def test_a_timeout_out_of_range_is_a_typed_error(world, gql_for, queued_run, timeout):
    response = threaded(gql_for(world.viewer_a)).execute(WAIT, {"id": str(queued_run.pk), "t": timeout})
    assert response.status_code == 200
    assert _codes(response) == [("INVALID", "timeoutSeconds")]
    assert response.body["data"] == {"waitForExecution": None}


def test_a_null_timeout_is_refused_before_execution(world, gql_for, queued_run):
    query = "query($id: ID!) { waitForExecution(id: $id, timeoutSeconds: null) { status } }"
    response = threaded(gql_for(world.viewer_a)).execute(query, {"id": str(queued_run.pk)})
    assert response.status_code == 400 and _codes(response) == [("GRAPHQL_VALIDATION_FAILED", None)]
    response = threaded(gql_for(world.viewer_a)).execute(WAIT, {"id": str(queued_run.pk), "t": None})
    assert [code for code, _ in _codes(response)] == ["GRAPHQL_VALIDATION_FAILED"]


def test_a_malformed_id_is_a_typed_error(world, gql_for):
    response = threaded(gql_for(world.viewer_a)).execute(WAIT, {"id": "not-a-uuid", "t": 1})
    assert _codes(response) == [("INVALID", "id")]


@pytest.mark.parametrize("who", ["admin_b", "outsider", "staff", None])
def test_isolation_and_authentication_are_those_of_execution(world, gql_for, queued_run, who):
    user = getattr(world, who) if who else None
    waited = threaded(gql_for(user)).execute(WAIT, {"id": str(queued_run.pk), "t": 5})
    polled = gql_for(user).execute(EXECUTION, {"id": str(queued_run.pk)})
    expected = "UNAUTHENTICATED" if who is None else "NOT_FOUND"
    assert [code for code, _ in _codes(waited)] == [expected] == [code for code, _ in _codes(polled)]
    assert waited.body["data"] == {"waitForExecution": None}
    assert wakeups.listener().watching() == 0  # nothing left registered by the refused request


def test_a_terminal_run_answers_at_once_even_where_no_request_may_wait(world, gql_for, queued_run):
    finish(queued_run, ExecutionStatus.CANCELLED, expected=ExecutionStatus.QUEUED, error_reason="stop")
    started = time.monotonic()
    data = gql_for(world.viewer_a).execute(WAIT, {"id": str(queued_run.pk)}).data["waitForExecution"]
    assert (data["status"], data["terminal"]) == ("CANCELLED", True) and data["ledgerEntry"] is not None
    assert time.monotonic() - started < 5  # its 10 s default timeout never came into play


def test_a_single_threaded_server_never_holds_a_wait(world, gql_for, queued_run):
    # The test client, like gunicorn's sync workers, says wsgi.multithread = False.
    response = gql_for(world.viewer_a).execute(WAIT, {"id": str(queued_run.pk), "t": 5})
    assert _codes(response) == [("WAIT_UNAVAILABLE", None)]


def test_a_timeout_of_zero_answers_at_once_with_the_current_state(world, gql_for, queued_run):
    data = gql_for(world.viewer_a).execute(WAIT, {"id": str(queued_run.pk), "t": 0}).data
    assert data["waitForExecution"]["status"] == "QUEUED"


def test_the_timeout_answers_with_the_current_state(world, gql_for, queued_run):
    started = time.monotonic()
    data = threaded(gql_for(world.viewer_a)).execute(WAIT, {"id": str(queued_run.pk), "t": 1}).data
    assert data["waitForExecution"]["status"] == "QUEUED" and not data["waitForExecution"]["terminal"]
    assert 1 <= time.monotonic() - started < 10
    assert waiting.waiting_now() == 0 and wakeups.listener().watching() == 0


def test_when_every_waiting_slot_is_taken_the_answer_is_wait_unavailable(
    world, gql_for, queued_run, settings
):
    settings.ARGUS_WEB_WAIT_SLOTS = 0
    response = threaded(gql_for(world.viewer_a)).execute(WAIT, {"id": str(queued_run.pk), "t": 5})
    assert _codes(response) == [("WAIT_UNAVAILABLE", None)]
    assert "waiting slots" in response.errors[0]["message"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_the_wait_answers_when_the_run_ends(world, gql_for, installation, settings):
    settings.ARGUS_DISPATCH_SLOTS = 0  # the run stays held: no Celery message leaves this test
    from execution.services import run_plugin

    run = run_plugin(actor=world.analyst_a, installation_id=installation.pk, input={})
    client = threaded(gql_for(world.viewer_a))
    answer: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        try:
            answer["data"] = client.execute(WAIT, {"id": str(run.pk), "t": 10}).data
        finally:
            answer["seconds"] = time.monotonic() - started
            connection.close()

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        wait_for(lambda: waiting.waiting_now() == 1, timeout=10, what="the request to wait")
        request_cancel(Execution.objects.get(pk=run.pk), "enough")  # commits, then announces on Redis
    finally:
        waiter.join(timeout=30)
    data = answer["data"]["waitForExecution"]
    assert (data["status"], data["terminal"]) == ("CANCELLED", True) and data["ledgerEntry"] is not None
    assert answer["seconds"] < 10  # woken: the 10 s timeout did not end it
    assert waiting.waiting_now() == 0 and wakeups.listener().watching() == 0
