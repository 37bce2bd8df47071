"""The CLI's run waiting, offline: the progress line and the waiting loop's end conditions."""

from __future__ import annotations

from typing import Any

import pytest

from argus_cli.errors import CliError, ServerRefused
from argus_cli.runs import progress_line, wait_for_run


def test_progress_line_draws_the_reported_fraction_and_message():
    running = {"status": "RUNNING", "progress": {"fraction": 0.42, "message": "scanning chat-export.txt"}}
    assert progress_line(running, 3.21, width=10) == "RUNNING   [####------]  42% scanning chat-export.txt (3.2 s)"
    assert progress_line({"status": "QUEUED", "progress": None}, 0.5, width=4) == "QUEUED    [    ] (0.5 s)"
    # A value out of range (the server never sends one) is clamped, not drawn past the bar.
    assert progress_line({"status": "RUNNING", "progress": {"fraction": 7, "message": ""}}, 1, width=2) == (
        "RUNNING   [##] 100% (1.0 s)"
    )


class FakeClient:
    """Answers each request with the next run state; ``busy`` waits are refused as a full server does."""

    def __init__(self, answers: list[dict[str, Any]], busy: int = 0) -> None:
        self.answers, self.busy, self.asked = answers, busy, []

    def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        field = "waitForExecution" if "waitForExecution" in query else "execution"
        self.asked.append((field, variables.get("seconds")))
        if field == "waitForExecution" and self.busy:
            self.busy -= 1
            raise ServerRefused("[WAIT_UNAVAILABLE] all wait slots are taken", code="WAIT_UNAVAILABLE")
        return {field: self.answers.pop(0)}


def test_wait_for_run_polls_until_terminal_and_reports_each_answer():
    answers = [{"status": "QUEUED"}, {"status": "RUNNING"}, {"status": "SUCCEEDED", "output": "{}"}]
    seen: list[str] = []
    ticks = iter(range(100))
    result = wait_for_run(
        FakeClient(answers),
        "run-1",
        timeout=60,
        on_poll=lambda execution, elapsed: seen.append(execution["status"]),
        clock=lambda: float(next(ticks)),
        sleep=lambda seconds: None,
    )
    assert result["status"] == "SUCCEEDED" and seen == ["QUEUED", "RUNNING", "SUCCEEDED"]


def test_wait_for_run_waits_on_the_server_and_polls_only_while_waits_are_refused():
    client = FakeClient([{"status": "QUEUED"}, {"status": "RUNNING"}, {"status": "FAILED"}], busy=1)
    pauses: list[float] = []
    ticks = iter(range(100))
    result = wait_for_run(
        client,
        "run-1",
        timeout=60,
        on_poll=lambda execution, elapsed: None,
        clock=lambda: float(next(ticks)),
        sleep=pauses.append,
    )
    assert result["status"] == "FAILED"
    # Refused once: that answer came from execution(id) and a pause; then waiting (1 s each) again, no pause.
    assert client.asked == [
        ("waitForExecution", 1),
        ("execution", None),
        ("waitForExecution", 1),
        ("waitForExecution", 1),
    ]
    assert pauses == [0.5]


def test_wait_for_run_reports_other_refusals():
    class Refusing(FakeClient):
        def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
            raise ServerRefused("[NOT_FOUND] no such execution", code="NOT_FOUND")

    with pytest.raises(ServerRefused, match="NOT_FOUND"):
        wait_for_run(Refusing([]), "run-1", timeout=5, on_poll=lambda execution, elapsed: None)


def test_wait_for_run_gives_up_after_its_timeout():
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(CliError, match="still RUNNING after 15 s"):
        wait_for_run(
            FakeClient([{"status": "RUNNING"}] * 10),
            "run-1",
            timeout=15,
            on_poll=lambda execution, elapsed: None,
            clock=lambda: float(next(ticks)),
            sleep=lambda seconds: None,
        )
