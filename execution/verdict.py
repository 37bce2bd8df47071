"""What a sandbox result means for a run: its status, the reason, and the output to keep.

One function for the worker and for `argus-plugin run` (Django-free), so a local run ends exactly as the
platform's would. Cancellation is the caller's (its reason is whoever asked for it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .output import OutputRefused, parse_output
from .sandbox import Outcome, SandboxResult

SUCCEEDED, FAILED, TIMED_OUT, MEMORY_EXCEEDED = "SUCCEEDED", "FAILED", "TIMED_OUT", "MEMORY_EXCEEDED"


@dataclass(frozen=True)
class Verdict:
    status: str
    reason: str | None = None
    output: Any = None
    has_output: bool = False


def judge(result: SandboxResult, *, timeout_seconds: Any, memory_mb: Any, output_max_bytes: int) -> Verdict:
    if result.outcome == Outcome.TIMED_OUT:
        return Verdict(TIMED_OUT, f"Timed out after {timeout_seconds} s.")
    if result.outcome == Outcome.MEMORY_EXCEEDED:
        return Verdict(MEMORY_EXCEEDED, f"Exceeded its memory limit of {memory_mb} MiB.")
    if result.outcome == Outcome.SANDBOX_ERROR:
        return Verdict(FAILED, f"Sandbox error: {result.error}")
    if result.outcome == Outcome.PROCESSES_EXCEEDED:
        return Verdict(FAILED, f"The plugin {result.error}.")
    # Everything below is the plugin's own doing: the reason says so.
    problems = []
    output, has_output = None, False
    if result.exit_code != 0:
        problems.append(f"The plugin exited with code {result.exit_code}.")
    if result.output_error:
        problems.append(f"The plugin's output was refused: {result.output_error}.")
    elif result.output_truncated:
        problems.append(f"The plugin's output exceeded {output_max_bytes} bytes.")
    elif result.output is not None:
        try:
            output, has_output = parse_output(result.output), True
        except OutputRefused as refused:
            problems.append(f"The plugin's {refused}.")
    problems.extend(f"The plugin's artifact was refused: {error}." for error in result.artifact_errors[:10])
    if problems:
        return Verdict(FAILED, " ".join(problems))
    return Verdict(SUCCEEDED, None, output, has_output)
