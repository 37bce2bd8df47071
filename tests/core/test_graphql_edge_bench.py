"""bench/graphql_edge_bench.py cannot rot: its tiny mode runs here and refuses every hostile document."""

import subprocess
import sys

from tests.support.live_server import ROOT


def test_the_edge_bench_runs_in_its_tiny_mode():
    completed = subprocess.run(
        [sys.executable, "bench/graphql_edge_bench.py", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    lines = completed.stdout.splitlines()
    assert any(line.startswith("100 aliases of a deep __schema") for line in lines)
    assert "INTERNAL_ERROR" not in completed.stdout and "ACCEPTED" not in completed.stdout
