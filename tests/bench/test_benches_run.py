"""Benchmarks cannot rot: every ``bench/*.py`` runs here in its tiny mode and must exit cleanly.

The convention (README, "Benchmarks"): every bench accepts ``--tiny``, a real but short run of the same
code paths (a few seconds of work, plus its own setup). A bench added to ``bench/`` is picked up here
without any change to this file.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHES = sorted((ROOT / "bench").glob("*.py"))


def test_there_are_benches_to_run():
    assert BENCHES, "bench/ holds no benchmark"


@pytest.mark.docker
@pytest.mark.redis
@pytest.mark.worker
@pytest.mark.parametrize("bench", BENCHES, ids=[bench.stem for bench in BENCHES])
def test_bench_runs_in_its_tiny_mode(bench):
    result = subprocess.run(
        [sys.executable, str(bench), "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # the machine is shared and slow at times; a tiny run takes well under a minute alone
    )
    assert result.returncode == 0, (
        f"{bench.name} --tiny exited {result.returncode}\n"
        f"--- stdout (end)\n{result.stdout[-3000:]}\n--- stderr (end)\n{result.stderr[-5000:]}"
    )
    assert result.stdout.strip(), f"{bench.name} --tiny printed no figures"
