"""The start every ``*_check.py`` script shares: they run in a subprocess against the database in
DATABASE_URL (tests.support.postgres.run_check_script) and print a JSON summary last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start_django(*, migrate: bool = True, bench: bool = False) -> None:
    """Django set up with the project's settings: the database migrated first (``migrate``), and the
    benches importable (``bench``: their modules hold what the check exercises)."""
    if bench:
        sys.path.insert(0, str(ROOT / "bench"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
    if migrate:
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True)
    import django

    django.setup()
