"""Throw-away PostgreSQL databases (tests and benches), and running a check script in a subprocess against
one (see the postgres_database fixture)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit


def create_database(server_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on ``server_url``'s server: its URL, and the function that drops it."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}")), drop


@contextlib.contextmanager
def temporary_database(server_url: str, prefix: str) -> Iterator[str]:
    url, drop = create_database(server_url, prefix)
    try:
        yield url
    finally:
        drop()


def run_check_script(script: Path, database_url: str, data_dir: Path) -> dict[str, Any]:
    """Run ``script`` with DATABASE_URL set (it migrates and prints a JSON summary last); return the
    summary, after asserting it ran on PostgreSQL."""
    env = {**os.environ, "DATABASE_URL": database_url, "ARGUS_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    return result
