"""Running a check script in a subprocess against a PostgreSQL database (see the postgres_database fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def run_check_script(script: Path, database_url: str, data_dir: Path) -> dict[str, Any]:
    """Run ``script`` with DATABASE_URL set (it migrates and prints a JSON summary last); return the
    summary, after asserting it ran on PostgreSQL."""
    env = {**os.environ, "DATABASE_URL": database_url, "ARGUS_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    return result
