"""What a run's sandbox produces, through the real worker: hostile output.json and artifact names end
FAILED as the plugin's fault with its stdout/stderr kept; live stdout and progress while RUNNING; partial
output kept on cancel."""

from __future__ import annotations

import json
import time

import pytest

from execution import services
from execution.models import Execution, ExecutionStatus
from tests.support.sandbox_runs import SANDBOX_RUN_MARKS, wait_for, wait_terminal

pytestmark = SANDBOX_RUN_MARKS

HOSTILE_OUTPUT = r"""
import json, os, sys
case = json.load(sys.stdin)["case"]
print("stdout of", case)
print("stderr of", case, file=sys.stderr)
path = "/argus/output/output.json"
payloads = {
    "nan": b'{"a": NaN}',
    "infinity": b'{"a": Infinity}',
    "-infinity": b'{"a": [1, -Infinity]}',
    "deep": b"[" * 200000 + b"]" * 200000,
    "huge integer": b'{"a": 1' + b"0" * 30 + b"}",
    "huge float": b'{"a": 1e400}',
    "huge digits": b'{"a": ' + b"9" * 5000 + b"}",
    "invalid utf-8": b'{"a": "\xff\xfe"}',
    "lone surrogate": b'{"a": "\\ud800"}',
    "0-byte file": b"",
}
if case in payloads:
    with open(path, "wb") as fh:
        fh.write(payloads[case])
elif case == "directory":
    os.mkdir(path)
elif case == "fifo":
    os.mkfifo(path)
elif case == "symlink":
    os.symlink("/argus/input.json", path)
"""

HOSTILE_CASES = [
    ("nan", "NaN is not valid JSON"),
    ("infinity", "Infinity is not valid JSON"),
    ("-infinity", "-Infinity is not valid JSON"),
    ("deep", "nested deeper than 64 levels"),
    ("huge integer", "beyond +/-(2^53-1)"),
    ("huge float", "overflows a double"),
    ("huge digits", "output.json is not acceptable JSON"),
    ("invalid utf-8", "not valid UTF-8"),
    ("lone surrogate", "lone surrogate"),
    ("0-byte file", "output.json is empty"),
    ("directory", "not a regular file"),
    ("fifo", "not a regular file"),
    ("symlink", "is a symlink"),
]


@pytest.mark.parametrize(("case", "reason"), HOSTILE_CASES, ids=[case for case, _ in HOSTILE_CASES])
def test_hostile_output_ends_failed_as_the_plugins_fault_with_its_streams_kept(
    deploy, platform_worker, case, reason
):
    installation = deploy(HOSTILE_OUTPUT)
    log_before = len(platform_worker.log())
    execution = wait_terminal(deploy.run(installation, {"case": case}), timeout=60)
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error_reason.startswith("The plugin's output"), execution.error_reason
    assert reason in execution.error_reason
    assert "Sandbox error" not in execution.error_reason and "Internal error" not in execution.error_reason
    assert (execution.stdout, execution.stderr) == (f"stdout of {case}\n", f"stderr of {case}\n")
    assert execution.exit_code == 0 and execution.output is None
    assert execution.ledger_entry is not None and execution.ledger_entry.record["status"] == "FAILED"
    # Recorded by the worker as it finished, not by the sweeper a heartbeat timeout later (20 s here).
    assert execution.duration_ms < 15_000
    assert execution.timings.get("launcher_plugin_run") is not None
    new_log = platform_worker.log()[log_before:]
    assert "raised unexpected" not in new_log and "Traceback" not in new_log, new_log


def test_artifact_names_outside_the_rules_fail_the_run_as_the_plugins_fault(deploy):
    code = r"""
import os
deep = "/argus/artifacts"
for level in range(6):
    deep = os.path.join(deep, "abcdef"[level] * 200)
    os.mkdir(deep)
open(os.path.join(deep, "f" * 200), "w").write("deep")
open("/argus/artifacts/\x1b[2Jclear", "w").write("x")
open("/argus/artifacts/ok.txt", "w").write("fine")
print("done")
"""
    execution = wait_terminal(deploy.run(deploy(code, capabilities=["artifacts:write"])))
    assert execution.status == ExecutionStatus.FAILED
    assert "Sandbox error" not in execution.error_reason and "malformed" not in execution.error_reason
    assert "The plugin's artifact was refused: '" + "a" * 100 in execution.error_reason
    assert "'\\x1b[2Jclear': names may only use" in execution.error_reason
    assert "\x1b" not in execution.error_reason
    assert execution.stdout == "done\n" and execution.artifacts.count() == 0


PROGRESS = """
import json, os, time
fd = int(os.environ["ARGUS_PROGRESS_FD"])
for second in range(1, 6):
    time.sleep(1)
    print(f"line {second}", flush=True)
    os.write(fd, (json.dumps({"progress": second / 5, "message": f"step {second} of 5"}) + "\\n").encode())
"""

POLL = "query($id: ID!) { execution(id: $id) { status stdout progress { fraction message updatedAt } } }"


def test_a_running_plugin_shows_its_stdout_and_rising_progress_before_it_ends(deploy, world, gql_for):
    execution = deploy.run(deploy(PROGRESS))
    client = gql_for(world.viewer_a)
    polls = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = client.execute(POLL, {"id": str(execution.pk)}).data["execution"]
        if data["status"] not in ("QUEUED", "RUNNING"):
            break
        if data["status"] == "RUNNING" and data["stdout"]:
            polls.append(data)
        time.sleep(0.3)
    assert data["status"] == "SUCCEEDED"
    assert data["stdout"] == "".join(f"line {n}\n" for n in range(1, 6))
    assert data["progress"]["fraction"] == 1.0 and data["progress"]["message"] == "step 5 of 5"
    distinct = {(poll["stdout"], poll["progress"]["fraction"]) for poll in polls if poll["progress"]}
    assert len(distinct) >= 3, polls
    # The plugin prints a line, then reports its progress: a poll between the two sees the new line with
    # the previous fraction. Ordered by output then fraction, progress never goes back.
    ordered = sorted(distinct, key=lambda state: (len(state[0]), state[1]))
    fractions = [fraction for _, fraction in ordered]
    assert fractions == sorted(fractions) and fractions[0] < 1.0, ordered
    assert all(stdout.startswith("line 1\n") for stdout, _ in ordered)


def test_cancel_keeps_what_the_plugin_printed_so_far(deploy, world):
    code = "import sys, time\nprint('started', flush=True)\nprint('warming up', file=sys.stderr)\ntime.sleep(60)"
    execution = deploy.run(deploy(code))
    wait_for(lambda: Execution.objects.get(pk=execution.pk).stdout == "started\n", what="live stdout")
    services.cancel_execution(actor=world.analyst_a, execution_id=execution.pk)
    execution = wait_terminal(execution, timeout=30)
    assert execution.status == ExecutionStatus.CANCELLED
    assert (execution.stdout, execution.stderr) == ("started\n", "warming up\n")
    assert execution.ledger_entry.record["stdout_sha256"] == execution.stdout_sha256


def test_the_cli_waits_for_a_run_showing_its_progress(deploy, world, live_server):
    import subprocess
    import sys
    from pathlib import Path

    from argus_plugins.tenancy import services as tenancy_services

    code = PROGRESS.replace("range(1, 6)", "range(1, 4)").replace("/ 5", "/ 3").replace("of 5", "of 3")
    code += "\nopen('/argus/output/output.json', 'w').write('{\"lines\": 3}')\n"
    installation = deploy(code)
    _, token = tenancy_services.create_api_token(actor=world.analyst_a, name="cli-run")
    done = subprocess.run(
        [sys.executable, "-m", "argus_cli", "execute", str(installation.pk), "--url", f"{live_server.url}/graphql/",
         "--token", token, "--input", "{}", "--timeout", "120"],
        cwd=Path(__file__).resolve().parents[3], capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["SUCCEEDED", '{"lines": 3}']
    progress = [line for line in done.stderr.splitlines() if line.startswith("RUNNING ")]
    assert any("%" in line and "100%" not in line and "step" in line for line in progress), done.stderr
    assert "SUCCEEDED [##############################] 100% step 3 of 3" in done.stderr


LARGE_OUTPUT = r"""
import json, sys
size = json.load(sys.stdin)["size"]
with open("/argus/output/output.json", "w") as out:
    out.write('{"blob": "' + "x" * size + '"}')
"""


def test_a_large_output_goes_to_the_object_store_and_one_over_the_cap_fails_the_run(deploy, world, gql_for):
    """Past ARGUS_OUTPUT_INLINE_MAX_BYTES (64 KiB) the output is an object, answered by GraphQL as before;
    past ARGUS_OUTPUT_MAX_BYTES (4 MiB) it is refused, the plugin's fault, with the limit named."""
    installation = deploy(LARGE_OUTPUT)
    large = wait_terminal(deploy.run(installation, {"size": 300_000}), timeout=60)
    assert (large.status, large.error_reason) == (ExecutionStatus.SUCCEEDED, "")
    assert large.output is None and large.output_object.name.startswith("outputs/")
    assert large.output_size == 300_000 + len('{"blob": ""}')
    answer = (
        gql_for(world.viewer_a)
        .execute("query($id: ID!) { execution(id: $id) { output } }", {"id": str(large.pk)})
        .data["execution"]
    )
    assert json.loads(answer["output"]) == {"blob": "x" * 300_000}

    refused = wait_terminal(deploy.run(installation, {"size": 4 * 1024 * 1024}), timeout=60)
    assert refused.status == ExecutionStatus.FAILED
    assert refused.error_reason == (
        f"The plugin's output was refused: output.json is {4 * 1024 * 1024 + 12} bytes, over the "
        f"{4 * 1024 * 1024}-byte limit; refused."
    )
    assert refused.output is None and refused.output_object.name == ""
