"""Recording a run's outcome cannot crash: output.json is parsed strictly, and a fault while storing the
outcome still ends the run terminal with its streams kept."""

import hashlib
import re

import pytest

from argus_plugins.core import clock
from execution import worker
from execution.models import Execution, ExecutionStatus
from execution.output import OutputRefused, parse_output
from execution.sandbox import Artifact, Outcome, SandboxResult


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": Infinity}', "Infinity is not valid JSON"),
        (b'[-Infinity]', "-Infinity is not valid JSON"),
        (b"[" * 200_000 + b"]" * 200_000, "nested deeper than 64 levels"),
        (b"[" * 66 + b"]" * 66, "nested deeper than 64 levels"),
        (b'{"a": 9007199254740992}', "beyond +/-(2^53-1)"),
        (b'{"a": 1e400}', "overflows a double"),
        (b'{"a": 1e300}', "magnitude >= 2^53"),
        (b'{"a": ' + b"9" * 5000 + b"}", "output.json is not acceptable JSON"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b'{"a": "nul \\u0000"}', "U+0000"),
        (b'{"a": 1, "a": 2}', "duplicate object key"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b"", "output.json is empty"),
        (b"  \n", "output.json is empty"),
    ],
)
def test_output_outside_the_ledgers_domain_is_refused_with_where_and_why(data, reason):
    with pytest.raises(OutputRefused, match=re.escape(reason)):
        parse_output(data)


def test_output_nested_64_levels_deep_is_accepted():
    assert parse_output(b"[" * 65 + b"]" * 65) is not None


def test_acceptable_output_parses_to_plain_values():
    assert parse_output(b'{"n": 9007199254740991, "f": 0.5, "s": "\\u00e9", "l": [null, true]}') == {
        "n": 9007199254740991, "f": 0.5, "s": "é", "l": [None, True]
    }


@pytest.fixture
def running(queued_run):
    execution = queued_run
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.RUNNING, started_at=clock.now())
    execution = Execution.objects.select_related("plugin_version__plugin", "plugin_version__signing_key").get(
        pk=execution.pk
    )
    return worker.Prepared(execution, [], b"", {}, [])


def _result(**fields):
    return SandboxResult(Outcome.COMPLETED, exit_code=0, stdout=b"out\n", stderr=b"err\n", **fields)


def test_a_fault_while_storing_the_outcome_still_ends_the_run_failed_with_its_streams(running, settings):
    settings.MEDIA_ROOT = "/dev/null/media"  # storing the artifact fails: not a directory
    artifact = Artifact("report.txt", b"x", hashlib.sha256(b"x").hexdigest())
    worker._record_outcome(running.execution, running, _result(output=b'{"ok": true}', artifacts=[artifact]))
    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_reason.startswith(
        "Object storage is unavailable: the output or artifacts could not be stored ("
    )
    assert (execution.stdout, execution.stderr, execution.exit_code) == ("out\n", "err\n", 0)
    assert execution.output is None and execution.artifacts.count() == 0
    assert execution.ledger_entry is not None and execution.ledger_entry.record["status"] == "FAILED"
    assert execution.ledger_entry.record["stdout_sha256"] == hashlib.sha256(b"out\n").hexdigest()


def test_refused_output_is_the_plugins_fault_and_keeps_the_progress_it_reported(running):
    result = _result(output=b'{"a": NaN}', progress=(0.5, "half way"))
    worker._record_outcome(running.execution, running, result)
    execution = Execution.objects.get(pk=running.execution.pk)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_reason == "The plugin's output.json is not acceptable JSON: $: NaN is not valid JSON."
    assert (execution.progress_fraction, execution.progress_message) == (0.5, "half way")
    assert execution.stdout == "out\n" and execution.ledger_entry is not None
