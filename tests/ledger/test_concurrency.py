"""Eight writer processes appending at once never fork the chain, skip or repeat a sequence.

Each test gets its own database (a fresh PostgreSQL database, or an SQLite file), migrated by
``manage.py migrate`` in a subprocess, written by real processes and checked both by ``verify_ledger`` and
by reading the rows directly.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("concurrent_writer.py")
WRITERS = 8
PER_WRITER = 25
GENESIS = "0" * 64

Rows = list[tuple[int, str, str, dict]]


def subprocess_env(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "ARGUS_TEST_DB_FILE"}
    env["DATABASE_URL"] = database_url
    env["DJANGO_SETTINGS_MODULE"] = "argus_plugins.settings"
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args], env=env, capture_output=True, text=True, timeout=300
    )


def run_writers(env: dict[str, str], flags: Path) -> None:
    flags.mkdir()
    # One interpreter forks the eight writer processes (see concurrent_writer.py).
    writers = subprocess.Popen(
        [sys.executable, str(WRITER), str(WRITERS), str(PER_WRITER), str(flags)], env=env
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(flags.glob("ready-*"))) < WRITERS:
            assert time.monotonic() < deadline, "writers did not start"
            assert writers.poll() is None, "the writers died before the start signal"
            time.sleep(0.01)
        (flags / "go").touch()
        assert writers.wait(timeout=240) == 0, "a writer failed (see its traceback above)"
    finally:
        if writers.poll() is None:
            writers.kill()


def check_contended(flags: Path) -> None:
    """Every writer was trying to append while every other one was: all began before any was done."""
    started = [float((flags / f"started-{n}").read_text()) for n in range(WRITERS)]
    finished = [float((flags / f"finished-{n}").read_text()) for n in range(WRITERS)]
    assert max(started) < min(finished), "the writers did not overlap"


def check_chain(rows: Rows, *, interleaved: bool) -> None:
    total = WRITERS * PER_WRITER
    assert [row[0] for row in rows] == list(range(1, total + 1))  # no gap, no repeat
    previous = GENESIS
    for sequence, prev_hash, entry_hash, _ in rows:
        assert prev_hash == previous, f"fork or broken link at {sequence}"
        previous = entry_hash
    by_writer: dict[int, list[int]] = {}
    for *_, record in rows:
        by_writer.setdefault(record["writer"], []).append(record["index"])
    assert by_writer == {n: list(range(PER_WRITER)) for n in range(WRITERS)}
    if interleaved:
        switches = sum(1 for a, b in itertools.pairwise(rows) if a[3]["writer"] != b[3]["writer"])
        assert switches >= WRITERS, "the writers' appends did not interleave"


def exercise(
    database_url: str,
    tmp_path: Path,
    read_rows: Callable[[], Rows],
    execute: Callable[[str], None],
    *,
    interleaved: bool,
) -> None:
    """``interleaved``: the appends must also alternate between writers in the chain. PostgreSQL queues the
    waiters on the head row's lock, so they do; SQLite's busy handler has no queue, and the writer that just
    committed may win the database lock again and again, so there only the contention itself is checked."""
    env = subprocess_env(database_url)
    migrated = manage(env, "migrate", "ledger", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    run_writers(env, tmp_path / "flags")
    check_contended(tmp_path / "flags")
    check_chain(read_rows(), interleaved=interleaved)
    verified = manage(env, "verify_ledger")
    assert verified.returncode == 0, verified.stderr
    assert f"Ledger OK: {WRITERS * PER_WRITER} entries" in verified.stdout
    # The exit status is what cron jobs and CI see: tampering must make it non-zero.
    execute("DELETE FROM ledger_ledgerentry WHERE sequence = 100")
    broken = manage(env, "verify_ledger")
    assert broken.returncode == 1
    assert "Ledger BROKEN at sequence 100: GAP" in broken.stderr


# --- PostgreSQL ----------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_concurrent_writers_on_postgresql(postgres_database, tmp_path):
    import psycopg

    def read_rows() -> Rows:
        with psycopg.connect(postgres_database) as connection:
            return connection.execute(
                "SELECT sequence, prev_hash, entry_hash, record FROM ledger_ledgerentry ORDER BY sequence"
            ).fetchall()

    def execute(statement: str) -> None:
        with psycopg.connect(postgres_database, autocommit=True) as connection:
            connection.execute(statement)

    exercise(postgres_database, tmp_path, read_rows, execute, interleaved=True)


# --- SQLite --------------------------------------------------------------------------------------------


def test_concurrent_writers_on_sqlite(tmp_path):
    db_file = tmp_path / "ledger.sqlite3"

    def read_rows() -> Rows:
        with sqlite3.connect(db_file) as connection:
            rows = connection.execute(
                "SELECT sequence, prev_hash, entry_hash, record FROM ledger_ledgerentry ORDER BY sequence"
            ).fetchall()
        return [(sequence, prev, digest, json.loads(record)) for sequence, prev, digest, record in rows]

    def execute(statement: str) -> None:
        with sqlite3.connect(db_file) as connection:
            connection.execute(statement)

    exercise(f"sqlite:///{db_file}", tmp_path, read_rows, execute, interleaved=False)
