"""The README's first command ends with a real plugin execution: run the platform and its demo for real."""

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.docker
@pytest.mark.redis
@pytest.mark.worker
def test_run_platform_starts_everything_and_runs_the_demo_plugin(tmp_path):
    sandbox = tmp_path / "work"
    sandbox.mkdir(mode=0o700)
    env = {
        **os.environ,
        "ARGUS_DATA_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'platform.sqlite3'}",
        "ARGUS_SANDBOX_WORK_DIR": str(sandbox),
        "CELERY_TASK_DEFAULT_QUEUE": f"demo-{uuid.uuid4().hex[:10]}",  # never mixes with other tests' workers
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    result = subprocess.run(
        [*manage, "run_platform", "--exit-after-demo", "--port", str(_free_port()), "--workers", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout
    assert result.returncode == 0, result.stderr[-3000:]
    assert "is up (database ok, redis ok, docker ok, storage ok)" in output
    assert "finished: SUCCEEDED" in output
    assert "SUCCEEDED [##############################] 100% done" in output  # the plugin's own progress
    assert "iban   GB82WEST12345698765432" in output
    assert "Ledger entry #" in output
    token_line = output.split("API token for 'demo-admin'")[1].splitlines()[1].strip()
    assert token_line.startswith("argus_")
