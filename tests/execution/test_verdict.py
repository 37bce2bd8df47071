"""The verdict for sandbox outcomes that name whose fault a run's end was."""

from __future__ import annotations

from execution.sandbox import Outcome, SandboxResult
from execution.verdict import FAILED, judge


def _judge(result: SandboxResult):
    return judge(result, timeout_seconds=3, memory_mb=256, output_max_bytes=1024)


def test_a_fork_bomb_that_brought_gvisors_sandbox_down_is_the_plugins_fault() -> None:
    error = "kept creating processes at its limit of 32 until the sandbox gave out (...)"
    verdict = _judge(SandboxResult(Outcome.PROCESSES_EXCEEDED, timings={}, error=error))
    assert verdict.status == FAILED
    assert verdict.reason == f"The plugin {error}." and not verdict.has_output


def test_a_sandbox_error_is_the_platforms() -> None:
    verdict = _judge(SandboxResult(Outcome.SANDBOX_ERROR, timings={}, error="the launcher exited"))
    assert (verdict.status, verdict.reason) == (FAILED, "Sandbox error: the launcher exited")
