"""waitForExecution across processes: a real Celery worker ends the run, a real gunicorn process (the
platform's gthread workers, on the test database) answers the waiting request, woken through Redis."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db import connection

from argus_plugins.tenancy import services as tenancy_services
from execution.models import Execution
from tests.support.live_server import gunicorn_server
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS

pytestmark = SANDBOX_RUN_MARKS

SLOW = """
import json, sys, time
json.load(sys.stdin)
time.sleep(3)
json.dump({"slept": 3}, open("/argus/output/output.json", "w"))
"""
WAIT = """query($id: ID!) { waitForExecution(id: $id, timeoutSeconds: 10) {
  status terminal ledgerEntry { sequence } } }"""
POLL = "query($id: ID!) { execution(id: $id) { status terminal } }"


@pytest.fixture
def gunicorn(tmp_path: Path, shared_media: Path) -> Iterator[str]:
    """One gunicorn worker process with two threads and one waiting slot, on the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}",
        "ARGUS_MEDIA_ROOT": str(shared_media),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "ARGUS_WEB_THREADS": "2",
        "ARGUS_WEB_WAIT_SLOTS": "1",
        "RATELIMIT_ENABLE": "false",
        "LOG_LEVEL": "WARNING",
    }
    options = ("--workers", "1", "--no-control-socket")
    with gunicorn_server(env, tmp_path / "gunicorn.log", *options, start_seconds=90, stop_seconds=30) as url:
        yield f"{url}/graphql/"


def test_a_web_process_answers_the_wait_when_a_worker_ends_the_run(deploy, world, gunicorn):
    _, token = tenancy_services.create_api_token(actor=world.viewer_a, name="waiter")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def ask(query: str, execution_id: str) -> dict[str, Any]:
        answer = session.post(gunicorn, json={"query": query, "variables": {"id": execution_id}}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    run = deploy.run(deploy(SLOW))
    calls: list[tuple[float, float, dict[str, Any]]] = []  # (started, seconds, answer)

    def wait_until_terminal() -> None:
        while True:  # a client's loop: a wait that timed out is asked again
            started, clock = time.time(), time.monotonic()
            answer = ask(WAIT, str(run.pk))
            calls.append((started, time.monotonic() - clock, answer))
            if "errors" in answer or answer["data"]["waitForExecution"]["terminal"] or len(calls) > 5:
                return

    waiter = threading.Thread(target=wait_until_terminal)
    waiter.start()
    try:
        time.sleep(0.5)  # the wait is held in gunicorn by now (the plugin alone sleeps 3 s)
        # The same process serves other requests meanwhile: the wait holds one thread, not the process.
        polled = ask(POLL, str(run.pk))["data"]["execution"]
        assert not polled["terminal"] and not calls
    finally:
        waiter.join(timeout=120)
    started, seconds, answer = calls[-1]
    assert "errors" not in answer, answer
    data = answer["data"]["waitForExecution"]
    assert (data["status"], data["terminal"]) == ("SUCCEEDED", True) and data["ledgerEntry"] is not None
    finished_at = Execution.objects.get(pk=run.pk).finished_at.timestamp()
    # The run ended while this request waited, and the request returned before its 10 s timeout: the
    # worker's announcement reached the gunicorn process through Redis.
    assert started < finished_at and seconds < 10
