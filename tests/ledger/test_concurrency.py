"""Eight writer processes appending at once never fork the chain, skip or repeat a sequence, whether they
link in their own transaction (``append_entry``) or write pending entries that are linked after commit
(``append_entry_without_waiting``, a run's finish); entries left pending by a process that died after its commit
are linked by the beat task, and one altered while pending is caught.

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

from ledger.services import LINK_LOCK_ID

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


def run_writers(env: dict[str, str], flags: Path, mode: str) -> None:
    flags.mkdir()
    # One interpreter forks the eight writer processes (see concurrent_writer.py).
    writers = subprocess.Popen(
        [sys.executable, str(WRITER), str(WRITERS), str(PER_WRITER), str(flags), mode], env=env
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
    mode: str,
) -> None:
    """``interleaved``: the appends must also alternate between writers in the chain. PostgreSQL queues the
    waiters on the head row's lock, so they do; SQLite's busy handler has no queue, and the writer that just
    committed may win the database lock again and again, so there only the contention itself is checked."""
    env = subprocess_env(database_url)
    migrated = manage(env, "migrate", "ledger", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    run_writers(env, tmp_path / "flags", mode)
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
@pytest.mark.parametrize("mode", ["linked", "pending"])
def test_concurrent_writers_on_postgresql(postgres_database, tmp_path, mode):
    import psycopg

    def read_rows() -> Rows:
        with psycopg.connect(postgres_database) as connection:
            return connection.execute(
                "SELECT sequence, prev_hash, entry_hash, record FROM ledger_ledgerentry ORDER BY sequence"
            ).fetchall()

    def execute(statement: str) -> None:
        with psycopg.connect(postgres_database, autocommit=True) as connection:
            connection.execute(statement)

    exercise(postgres_database, tmp_path, read_rows, execute, interleaved=True, mode=mode)


# --- SQLite --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["linked", "pending"])
def test_concurrent_writers_on_sqlite(tmp_path, mode):
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

    exercise(f"sqlite:///{db_file}", tmp_path, read_rows, execute, interleaved=False, mode=mode)


# --- A process that dies between its commit and linking (PostgreSQL) -----------------------------------

#: Appends pending entries the way a run's finish does, but the process dies right after each commit,
#: before its linker runs: the on-commit callback registered first (so run first) ends the process.
DYING_WRITER = """
import os, sys
import django
django.setup()
from django.db import transaction
from ledger.services import append_entry_without_waiting
index, link_at_once = int(sys.argv[1]), sys.argv[2:] == ["link-at-once"]
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(0))
    append_entry_without_waiting(
        "execution.completed", {"writer": "dying", "index": index, "cpus": 0.25}, link_at_once=link_at_once
    )
sys.exit(3)  # not reached: the commit ran the callback
"""


@pytest.mark.postgres
def test_a_writer_that_finds_the_lock_free_links_its_entry_in_its_own_transaction(postgres_database):
    """Asked to link at once (SQLite's default; not PostgreSQL's, see ledger.services.LINK_AT_ONCE)."""
    import psycopg

    env = subprocess_env(postgres_database)
    env["PYTHONPATH"] = str(REPO)
    assert manage(env, "migrate", "ledger", "-v", "0").returncode == 0
    done = subprocess.run(
        [sys.executable, "-c", DYING_WRITER, "7", "link-at-once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # The process died right after its commit, before any after-commit step: the entry is linked anyway.
    with psycopg.connect(postgres_database) as connection:
        rows = connection.execute("SELECT sequence, prev_hash, record->>'index' FROM ledger_ledgerentry").fetchall()
        head = connection.execute("SELECT sequence FROM ledger_ledgerhead").fetchall()
    assert (rows, head) == ([(1, GENESIS, "7")], [(1,)])
    verified = manage(env, "verify_ledger")
    assert verified.returncode == 0 and "Ledger OK: 1 entries" in verified.stdout, verified.stderr


@pytest.mark.postgres
def test_entries_left_pending_by_a_dead_process_are_linked_by_the_beat_task(postgres_database):
    import psycopg

    env = subprocess_env(postgres_database)
    env["PYTHONPATH"] = str(REPO)
    assert manage(env, "migrate", "ledger", "-v", "0").returncode == 0
    # Another linker holds the ledger's lock meanwhile, so the writers cannot link in their transactions:
    # they write pending entries, and die before their after-commit link.
    with psycopg.connect(postgres_database, autocommit=True) as linker:
        linker.execute("SELECT pg_advisory_lock(%s)", [LINK_LOCK_ID])
        for index in range(3):
            done = subprocess.run(
                [sys.executable, "-c", DYING_WRITER, str(index)], env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr

    def rows() -> list[tuple]:
        with psycopg.connect(postgres_database) as connection:
            return connection.execute(
                "SELECT sequence, prev_hash, entry_hash, record->>'index' FROM ledger_ledgerentry "
                "ORDER BY created_at"
            ).fetchall()

    assert rows() == [(None, "", "", "0"), (None, "", "", "1"), (None, "", "", "2")]  # committed, not linked
    verified = manage(env, "verify_ledger")
    assert verified.returncode == 0, verified.stderr
    assert "Ledger OK: 0 entries" in verified.stdout and "+3 pending, intact" in verified.stdout

    # Altered while pending: verification says so, and the linker refuses to link it.
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(
            "UPDATE ledger_ledgerentry SET record = jsonb_set(record, '{cpus}', '4') WHERE record->>'index' = '1'"
        )
    broken = manage(env, "verify_ledger")
    assert broken.returncode == 1
    assert "Ledger BROKEN at a pending entry: PENDING_MISMATCH" in broken.stderr

    beat = manage(env, "shell", "-v", "0", "-c", "from ledger import tasks; print(tasks.link_pending_entries())")
    assert beat.returncode == 0, beat.stderr
    assert beat.stdout.strip() == "2"
    linked = rows()
    assert [(sequence, index) for sequence, _, _, index in linked] == [(1, "0"), (None, "1"), (2, "2")]
    assert linked[0][1] == GENESIS and linked[2][1] == linked[0][2]  # 2 links to 1: no gap for the refused one
    still_broken = manage(env, "verify_ledger")
    assert "PENDING_MISMATCH" in still_broken.stderr

    # Put back, the entry is linked by the next run of the task, and the whole ledger verifies.
    with psycopg.connect(postgres_database, autocommit=True) as connection:
        connection.execute(
            "UPDATE ledger_ledgerentry SET record = jsonb_set(record, '{cpus}', '0.25') "
            "WHERE record->>'index' = '1'"
        )
    beat = manage(env, "shell", "-v", "0", "-c", "from ledger import tasks; print(tasks.link_pending_entries())")
    assert beat.stdout.strip() == "1"
    verified = manage(env, "verify_ledger")
    assert verified.returncode == 0, verified.stderr
    assert "Ledger OK: 3 entries" in verified.stdout and "pending" not in verified.stdout
