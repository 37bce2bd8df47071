"""Running an installed plugin and waiting for its outcome, with a progress line while it runs.

The run is started with the ``runPlugin`` mutation and followed by polling ``execution(id)``: while it is
RUNNING the platform shows what the plugin printed so far and its latest progress report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from argus_cli.api import Api
from argus_cli.errors import CliError

RUN_PLUGIN_MUTATION = """
mutation RunPlugin($installationId: ID!, $input: JSONString, $evidenceIds: [ID!]) {
  runPlugin(installationId: $installationId, input: $input, evidenceIds: $evidenceIds) {
    execution { id status }
    errors { code field message }
  }
}
""".strip()
EXECUTION_QUERY = """
query Execution($id: ID!) {
  execution(id: $id) {
    id status terminal exitCode errorReason output stdout
    progress { fraction message updatedAt }
  }
}
""".strip()
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


def wait_for_run(
    client: Api,
    execution_id: str,
    *,
    timeout: float,
    on_poll: Callable[[dict[str, Any], float], None],
    poll_seconds: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the run until it is terminal (or ``timeout``); ``on_poll`` sees each answer."""
    started = clock()
    while True:
        execution = client.query(EXECUTION_QUERY, {"id": execution_id}).get("execution")
        if not isinstance(execution, dict):
            raise CliError(f"execution {execution_id} is not visible to this token.")
        elapsed = clock() - started
        on_poll(execution, elapsed)
        if execution.get("status") in TERMINAL:
            return execution
        if elapsed > timeout:
            status = execution.get("status")
            raise CliError(f"execution {execution_id} is still {status} after {timeout:.0f} s.")
        sleep(poll_seconds)
