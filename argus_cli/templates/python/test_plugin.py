"""Runs the plugin locally, in the platform's sandbox, exactly as Argus would: `pytest test_plugin.py`.

Needs Docker and the runtime image (the `argus-plugin run` error message says how to build it).
"""

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_counts_keyword_lines():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "argus_cli",
            "--json",
            "run",
            str(HERE),
            "--input",
            str(HERE / "sample-input.json"),
            "--evidence",
            str(HERE / "sample-evidence" / "notes.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "SUCCEEDED"
    assert result["output"] == {"keyword": "invoice", "evidence_items": 1, "lines": 3, "matches": 2}
