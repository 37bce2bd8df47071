"""Running an installed plugin and waiting for its outcome, with a progress line while it runs.

The run is started with the ``runPlugin`` mutation and followed with ``waitForExecution(id, timeoutSeconds)``:
the server answers as soon as the run ends, or after a second with the run as it is then (what the plugin
printed so far and its latest progress report, for the progress line), and the CLI asks again. A server that
cannot hold a wait now (``WAIT_UNAVAILABLE``) is polled with ``execution(id)`` instead until it can.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from argus_cli.api import Api
from argus_cli.errors import CliError, ServerRefused

RUN_PLUGIN_MUTATION = """
mutation RunPlugin($installationId: ID!, $input: JSONString, $evidenceIds: [ID!]) {
  runPlugin(installationId: $installationId, input: $input, evidenceIds: $evidenceIds) {
    execution { id status }
    errors { code field message }
  }
}
""".strip()
EXECUTION_FIELDS = (
    "id status terminal exitCode errorReason output stdout progress { fraction message updatedAt }"
)
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "MEMORY_EXCEEDED", "CANCELLED", "REJECTED"})
BAR_WIDTH = 30


def progress_line(execution: dict[str, Any], elapsed: float, width: int = BAR_WIDTH) -> str:
    """One line for a run being waited for: ``RUNNING [#######-----]  42% scanning ... (3.2 s)``.

    Without a progress report (yet) the bar is left empty and only the status and time are shown.
    """
    status = str(execution.get("status") or "?")
    progress = execution.get("progress")
    if isinstance(progress, dict) and isinstance(progress.get("fraction"), int | float):
        fraction = min(max(float(progress["fraction"]), 0.0), 1.0)
        filled = round(fraction * width)
        bar = f"[{'#' * filled}{'-' * (width - filled)}] {fraction * 100:3.0f}%"
        message = str(progress.get("message") or "")
        return f"{status:<9} {bar} {message} ({elapsed:.1f} s)".replace("  (", " (")
    return f"{status:<9} [{' ' * width}] ({elapsed:.1f} s)"


def start_run(client: Api, installation_id: str, input: dict[str, Any], evidence_ids: list[str]) -> str:
    variables = {"installationId": installation_id, "input": json.dumps(input), "evidenceIds": evidence_ids}
    return str(client.mutate("runPlugin", RUN_PLUGIN_MUTATION, variables)["execution"]["id"])


def follow_run(
    client: Any,
    execution_id: str,
    *,
    fields: str = EXECUTION_FIELDS,
    wait_seconds: int = 1,
    poll_seconds: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[dict[str, Any]]:
    """The run's ``fields`` after each request, until an answer is terminal (the last one yielded).

    Each request waits on the server up to ``wait_seconds`` (the end is seen at once, a progress line
    still moves every second); after a ``WAIT_UNAVAILABLE`` the next answer comes from ``execution(id)``
    and a pause of ``poll_seconds``, then waiting is tried again. ``client.query(document, variables)``
    returns the data or raises ``ServerRefused``: the CLI's ``Api``, or the demo's client.
    """
    poll_query = f"query Execution($id: ID!) {{ execution(id: $id) {{ {fields} }} }}"
    wait_query = (
        "query WaitForExecution($id: ID!, $seconds: Int!) "
        f"{{ waitForExecution(id: $id, timeoutSeconds: $seconds) {{ {fields} }} }}"
    )
    while True:
        waited = True
        try:
            answer = client.query(wait_query, {"id": execution_id, "seconds": wait_seconds})
            execution = answer.get("waitForExecution")
        except ServerRefused as refusal:
            if refusal.code != "WAIT_UNAVAILABLE":
                raise
            waited = False
            execution = client.query(poll_query, {"id": execution_id}).get("execution")
        if not isinstance(execution, dict):
            raise CliError(f"execution {execution_id} is not visible to this token.")
        yield execution
        if execution.get("status") in TERMINAL:
            return
        if not waited:
            sleep(poll_seconds)


def wait_for_run(
    client: Api,
    execution_id: str,
    *,
    timeout: float,
    on_poll: Callable[[dict[str, Any], float], None],
    wait_seconds: int = 1,
    poll_seconds: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Follow the run (``follow_run``) until it is terminal, or raise once ``timeout`` has passed;
    ``on_poll`` sees each answer."""
    started = clock()
    for execution in follow_run(
        client, execution_id, wait_seconds=wait_seconds, poll_seconds=poll_seconds, sleep=sleep
    ):
        elapsed = clock() - started
        on_poll(execution, elapsed)
        if execution.get("status") in TERMINAL:
            return execution
        if elapsed > timeout:
            status = execution.get("status")
            raise CliError(f"execution {execution_id} is still {status} after {timeout:.0f} s.")
    raise AssertionError("follow_run ends with a terminal answer")  # pragma: no cover
