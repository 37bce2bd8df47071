"""Ledger benchmarks: verification throughput, inclusion-proof latency and the Merkle tree's append cost.

    python bench/ledger_bench.py [N] [--repeat R] [--single-appends A] [--proofs P] [--database-url URL]
                                  [--tiny]
    python bench/ledger_bench.py --appends [--writers 1,4,8,16] [--per-writer K] [--pairs P]
                                  [--database-url URL] [--tiny]

``N`` defaults to 1 000 000; ``--tiny`` (N = 2 000, 1 round, 40 appends, 50 proofs) only proves the bench
still runs. Builds a chain of N entries *with its Merkle tree* (the entries' subtree hashes and the head's
frontier) in a fresh database (a temporary SQLite file unless ``--database-url`` names an empty
database, e.g. PostgreSQL), then measures, side by side in one run:

1. **Verification** (goal: ratio >= 0.5): ``ledger.verification.verify_chain()`` over the stored ledger
   (streaming from the database, parsing each stored record, canonicalising, hashing the chain *and the
   tree*, checking links, tenant column, stored tree hashes and head) versus raw chaining: the same records
   canonicalised (same canonicaliser) and SHA-256 chained in a plain loop. Also printed: raw hashing of
   pre-canonicalised records (the floor of any verifier). Alternating rounds (``--repeat``, default 3),
   best round of each kept, because a shared machine's load comes in bursts.
2. **Inclusion proofs** (goal <= 5 ms at 1 000 000 entries): ``ledger.tree.inclusion_proof`` for ``P``
   random entries against the whole tree; median and 95th percentile latency, queries and rows read.
3. **Appends with the tree / without** (goal <= 1.3): single appends, each in its own committed
   transaction like an execution's finish, through ``ledger.services.append_entry``, versus the same
   appends through the append path as it was before the tree (lock the head, insert, move the head; a copy
   kept below). ``A`` (``--single-appends``) per side and round, in alternating blocks of 20; after each
   block its entries are removed and the head restored (untimed), so both sides always append to the same
   ledger; the median block of each side is compared (a commit's fsync makes single appends noisy).

``--appends`` measures instead **append throughput under concurrency** (goal: ratio >= 0.5 at 8 writers):
1, 4, 8 and 16 writer processes, each with its own connection, taking ``K`` x writers appends from one
shared queue (like Celery workers taking runs), one committed transaction each, through the path of a
run's finish (``execution.recording.finish``):
``append_entry_without_waiting`` in the transaction (linked in it when the linkers' lock is free; else
written pending and linked on commit, by group commit: the writer that gets the lock links every pending
entry and looks again after its commit; one that finds it taken leaves its entry to the holder), whose
commit also runs the ``ledger.entries_linked`` hook;
versus the same number of processes inserting the same rows (same canonicalisation and SHA-256) with a
plain INSERT + COMMIT each and no lock, into a table with the ledger table's definition: its columns,
defaults, CHECK constraints, indexes *and foreign keys* (``create_plain_table``; PostgreSQL's ``LIKE …
INCLUDING ALL`` leaves the foreign keys out, so they are copied from ``pg_constraint`` and the copy is
checked against the original before the run). A plain insert thus pays the same tenant key check as an
append (on PostgreSQL a row lock on the tenant's row at commit, shared by every concurrent writer); a
baseline without it compared the ledger with a cheaper table than its own.
Each writer count runs ``P`` (``--pairs``, 3) pairs of the two sides back to back, alternating which goes
first (``K``, ``--per-writer``, 300: at 100 a side lasted about a second, at the mercy of any burst of load);
the medians of appends/s and of the pairs' ratios are printed with every pair's ratio, and then (with a
server on this machine, read from /proc) the CPU seconds per append of the writers plus their PostgreSQL
backends, and its ratio: what an append costs, which other processes on a shared machine move far less
than they move the rates (in one loaded session the rates' ratio of single pairs ranged from 0.3 to 1.0,
the CPU ratio from 0.48 to 0.56); afterwards
the whole chain is verified (``verify_chain``: no fork, gap or repeat) and its length checked. Without
``--database-url`` it runs in a new database on ``ARGUS_TEST_POSTGRES_URL``'s server (dropped afterwards),
else in a temporary SQLite file.
``--tiny`` (without ``--appends``) runs the tiny single-process benches and then this one with 1 and 2
writers of 10 appends.

Building is not timed: entries are precomputed with ledger.hashing / ledger.merkle and written with
executemany, the same bytes append_entries would write (the build ends by checking a sample against the
reference RFC 8785 library and the tree's root against an independent recomputation).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
POOL_SIZE = 10_000
BATCH = 20_000
ENTRY_TYPE = "execution.completed"
CREATED_AT = "2026-11-25T15:31:17.123456Z"


def make_record(index: int, tenant_id: str) -> dict:
    """A realistic execution record (about 800 bytes canonical)."""
    return {
        "execution_id": str(uuid.UUID(int=index + 1, version=4)),
        "tenant_id": tenant_id,
        "installation_id": str(uuid.UUID(int=index * 7 + 3, version=4)),
        "plugin": {
            "slug": "ioc-extractor",
            "version": f"2.{index % 13}.{index % 7}",
            "code_sha256": hashlib.sha256(b"code%d" % (index % 97)).hexdigest(),
            "manifest_sha256": hashlib.sha256(b"manifest%d" % (index % 97)).hexdigest(),
        },
        "status": "SUCCEEDED" if index % 11 else "FAILED",
        "exit_code": 0 if index % 11 else 2,
        "requested_by": "andy-analyst",
        "limits": {"memory_mb": 256, "cpus": 0.5, "timeout_seconds": 60, "pids": 64},
        "capabilities": ["evidence:read", "output:write"],
        "inputs": [{"name": f"evidence-{index}.bin", "sha256": hashlib.sha256(b"in%d" % index).hexdigest()}],
        "outputs": [
            {"name": "output.json", "sha256": hashlib.sha256(b"out%d" % index).hexdigest(), "size": index}
        ],
        "enqueued_at": CREATED_AT,
        "started_at": CREATED_AT,
        "finished_at": CREATED_AT,
    }


def setup_django(database_url: str | None, *, migrate: bool = True) -> None:
    if database_url is None:
        directory = tempfile.mkdtemp(prefix="ledger-bench-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ.setdefault("ARGUS_DATA_DIR", directory)
        database_url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "argus_plugins.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    if migrate:
        call_command("migrate", verbosity=0)  # every app: the ledger's foreign keys reach tenancy's tables
        print(f"database: {database_url}", file=sys.stderr)


def build(count: int) -> tuple[list[dict], list[bytes]]:
    """Write ``count`` chained entries with their tree; return the record pool and its canonical bytes."""
    import rfc8785
    from django.db import connection, transaction

    from argus_plugins.tenancy.models import Tenant
    from ledger import tree
    from ledger.hashing import GENESIS_HASH, content_hash, preimage, prepare_record
    from ledger.merkle import MemoryTree, extend_frontier, leaf_hash
    from ledger.models import LedgerEntry, LedgerHead

    if LedgerEntry.objects.exists():
        sys.exit("the database already holds ledger entries; give an empty one")
    tenant = Tenant.objects.create(name="Bench agency", slug=f"bench-{uuid.uuid4().hex[:8]}")
    pool = [make_record(index, str(tenant.pk)) for index in range(POOL_SIZE)]
    canonical = [prepare_record(record)[1] for record in pool]  # the write-time (reference) path
    table = LedgerEntry._meta.db_table
    columns = (
        "id, sequence, entry_type, record, tenant_id, prev_hash, entry_hash, created_at, subtree_hashes, "
        "content_hash"
    )
    insert = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
    contents = [content_hash(ENTRY_TYPE, record_bytes, CREATED_AT) for record_bytes in canonical]
    tenant_value = tenant.pk.hex if connection.vendor == "sqlite" else str(tenant.pk)
    prev = GENESIS_HASH
    frontier: list[bytes] = []
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        rows = []
        for sequence in range(start + 1, min(count, start + BATCH) + 1):
            record_bytes = canonical[(sequence - 1) % POOL_SIZE]
            data = preimage(sequence, ENTRY_TYPE, record_bytes, prev, CREATED_AT)
            digest = hashlib.sha256(data).hexdigest()
            completed: list[bytes] = []
            extend_frontier(frontier, sequence - 1, leaf_hash(data), completed.append)
            rows.append(
                (
                    uuid.uuid4().hex,
                    sequence,
                    ENTRY_TYPE,
                    record_bytes.decode(),
                    tenant_value,
                    prev,
                    digest,
                    CREATED_AT,
                    b"".join(completed),
                    contents[(sequence - 1) % POOL_SIZE],
                )
            )
            prev = digest
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, rows)
        print(f"built {min(count, start + BATCH)}/{count}", file=sys.stderr, end="\r")
    LedgerHead.objects.update_or_create(
        pk=LedgerHead.SINGLETON_ID,
        defaults={"sequence": count, "entry_hash": prev, "frontier": b"".join(frontier)},
    )
    print(f"\nbuild: {time.perf_counter() - started:.1f} s (not part of the comparison)", file=sys.stderr)
    for entry in LedgerEntry.objects.filter(sequence__in=[1, count]):
        fields = ("sequence", "entry_type", "record", "prev_hash", "created_at")
        assert (
            hashlib.sha256(rfc8785.dumps({f: getattr(entry, f) for f in fields})).hexdigest()
            == entry.entry_hash
        )
    # The stored tree against an independent recomputation (whole tree in memory; small prefix when huge).
    check = min(count, 5000)
    reference = MemoryTree()
    for entry in LedgerEntry.objects.filter(sequence__lte=check).order_by("sequence"):
        fields = ("sequence", "entry_type", "record", "prev_hash", "created_at")
        reference.append_hash(leaf_hash(rfc8785.dumps({f: getattr(entry, f) for f in fields})))
    assert tree.root_at(check) == reference.root()
    return pool, canonical


def raw_chaining(pool: list[dict], count: int) -> str:
    """Exactly the verifier's per-entry work (same encoder, same preimage assembly, same SHA-256) minus
    what only a database verifier does: fetching the row and parsing the stored record."""
    from ledger.hashing import GENESIS_HASH, canonical_record

    encode = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode
    sha256 = hashlib.sha256
    prev = GENESIS_HASH
    for sequence in range(1, count + 1):
        text = encode(pool[(sequence - 1) % POOL_SIZE])
        if not text.isascii():
            text = canonical_record(pool[(sequence - 1) % POOL_SIZE], True).decode()
        preimage_text = '{"created_at":%s,"entry_type":%s,"prev_hash":%s,"record":%s,"sequence":%d}' % (  # noqa: UP031
            encode_basestring(CREATED_AT),
            encode_basestring(ENTRY_TYPE),
            encode_basestring(prev),
            text,
            sequence,
        )
        prev = sha256(preimage_text.encode("utf-8")).hexdigest()
    return prev


def raw_hashing(canonical: list[bytes], count: int) -> str:
    """SHA-256 chaining of records already canonicalised: the floor of any verifier."""
    from ledger.hashing import GENESIS_HASH, preimage

    sha256 = hashlib.sha256
    prev = GENESIS_HASH
    for sequence in range(1, count + 1):
        prev = sha256(
            preimage(sequence, ENTRY_TYPE, canonical[(sequence - 1) % POOL_SIZE], prev, CREATED_AT)
        ).hexdigest()
    return prev


def measure_proofs(count: int, samples: int) -> dict[str, float]:
    """Latency of ``ledger.tree.inclusion_proof`` for random entries against the tree of all ``count``."""
    import random

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ledger import tree
    from ledger.merkle import inclusion_nodes, nodes_of, verify_inclusion

    rng = random.Random(6962)
    root = tree.root_at(count)
    latencies, rows = [], []
    for _ in range(samples):
        sequence = rng.randint(1, count)
        started = time.perf_counter()
        proof = tree.inclusion_proof(sequence, count)
        latencies.append(time.perf_counter() - started)
        verify_inclusion(sequence - 1, count, tree.leaf_hash_of(sequence), proof, root)  # not timed
        rows.append(
            len({(index + 1) << level for level, index in nodes_of(inclusion_nodes(sequence - 1, count))})
        )
    with CaptureQueriesContext(connection) as queries:
        tree.inclusion_proof(count // 3 or 1, count)
    latencies.sort()
    return {
        "median_ms": 1000 * latencies[len(latencies) // 2],
        "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
        "queries": len(queries),
        "max_rows": max(rows),
    }


def append_without_tree(entry_type: str, record: dict, tenant_id: object) -> None:
    """The append path as it was before the Merkle tree (ledger.services before this change), kept here
    as the baseline: validate and canonicalise, lock the head, insert the entry, move the head."""
    from django.db import transaction

    from argus_plugins.core import clock
    from ledger import services
    from ledger.hashing import entry_hash, format_timestamp
    from ledger.models import LedgerEntry, LedgerHead

    entry_type, plain, canonical, tenant_uuid = services._prepare(entry_type, record, tenant_id)
    with transaction.atomic():
        head = services._lock_head()
        sequence = head.sequence + 1
        created_at = format_timestamp(clock.now())
        digest = entry_hash(sequence, entry_type, canonical, head.entry_hash, created_at)
        LedgerEntry.objects.bulk_create(
            [
                LedgerEntry(
                    id=uuid.uuid4(),
                    sequence=sequence,
                    entry_type=entry_type,
                    record=plain,
                    tenant_id=tenant_uuid,
                    prev_hash=head.entry_hash,
                    entry_hash=digest,
                    created_at=created_at,
                )
            ]
        )
        LedgerHead.objects.filter(pk=head.pk, sequence=head.sequence).update(
            sequence=sequence, entry_hash=digest
        )


def measure_appends(pool: list[dict], appends: int, repeat: int) -> dict[str, float]:
    """Median seconds per append with the tree (append_entry) and without (the old path).

    ``appends`` per side and round, in blocks of at most 20 that alternate between the sides (and which
    side goes first), so that a burst of load on the shared machine or a write-ahead-log checkpoint hits
    both sides alike; the median block of each side is reported.
    """
    import statistics

    from django.db import connection, transaction

    from ledger.models import LedgerEntry, LedgerHead
    from ledger.services import append_entry

    def with_tree(record: dict) -> None:
        with transaction.atomic():  # each append commits on its own, like an execution's finish
            append_entry(ENTRY_TYPE, record, tenant_id=record["tenant_id"])

    def without_tree(record: dict) -> None:
        with transaction.atomic():
            append_without_tree(ENTRY_TYPE, record, record["tenant_id"])

    table = LedgerEntry._meta.db_table
    blocks: dict[str, list[float]] = {"tree": [], "plain": []}
    sides = [("plain", without_tree), ("tree", with_tree)]
    block = min(20, appends)
    for block_number in range(repeat * max(1, appends // block)):
        for name, append in sides if block_number % 2 == 0 else sides[::-1]:
            head = LedgerHead.objects.values_list("sequence", "entry_hash", "frontier").get()
            started = time.perf_counter()
            for index in range(block):
                append(pool[index % POOL_SIZE])
            blocks[name].append((time.perf_counter() - started) / block)
            # Untimed: both sides append to the same ledger, so each block's entries are taken out again.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE sequence > %s", [head[0]])  # noqa: S608
            LedgerHead.objects.filter(pk=LedgerHead.SINGLETON_ID).update(
                sequence=head[0], entry_hash=head[1], frontier=head[2]
            )
            if connection.vendor == "sqlite":
                # Also untimed: fold the write-ahead log back into the database now, or the next side's
                # commits would pay for checkpointing this side's pages.
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return {name: statistics.median(times) for name, times in blocks.items()}


# --- Append throughput with concurrent writers (--appends) ---------------------------------------------

PLAIN_TABLE = "bench_plain_ledger_entry"


def create_plain_table(connection: Any, table: str) -> None:
    """``PLAIN_TABLE``: the same table definition as ``table`` under another name, foreign keys included.

    The same columns, defaults, CHECK constraints, indexes and foreign keys: a plain insert pays every check
    an append's INSERT pays, the tenant foreign key's included (on PostgreSQL a row lock, FOR KEY SHARE, on
    the tenant's row at commit, as Django's keys are deferred; under concurrency those locks on one tenant
    row share a MultiXact). PostgreSQL's ``LIKE … INCLUDING ALL`` copies everything but the foreign keys, so
    they are added from ``pg_constraint``; SQLite's copy is the table's own DDL under the new name.
    """
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TABLE {quote(PLAIN_TABLE)} (LIKE {quote(table)} INCLUDING ALL)")
            cursor.execute(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                "AND contype = 'f' ORDER BY conname",
                [quote(table)],
            )
            for number, (definition,) in enumerate(cursor.fetchall()):
                name = quote(f"{PLAIN_TABLE}_fk{number}")
                cursor.execute(f"ALTER TABLE {quote(PLAIN_TABLE)} ADD CONSTRAINT {name} {definition}")
            return
        cursor.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = %s AND sql IS NOT NULL", [table]
        )
        ddl = cursor.fetchall()
        for kind, name, sql in sorted(ddl, key=lambda row: row[0] != "table"):  # the table before its indexes
            if kind == "table":
                sql = sql.replace(quote(table), quote(PLAIN_TABLE), 1)
            else:
                sql = sql.replace(quote(name), quote(f"{PLAIN_TABLE}_{name}"), 1)
                sql = sql.replace(f" ON {quote(table)} ", f" ON {quote(PLAIN_TABLE)} ", 1)
            cursor.execute(sql)


def foreign_keys_of(connection: Any, table: str) -> set[tuple[tuple[str, ...], tuple[str, str]]]:
    """``table``'s foreign keys as (columns, (referenced table, referenced column)), from Django's
    introspection of the database (not from the model)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        (tuple(constraint["columns"]), tuple(constraint["foreign_key"]))
        for constraint in constraints.values()
        if constraint["foreign_key"]
    }


def same_foreign_keys(connection: Any, table: str) -> str:
    """Check that ``PLAIN_TABLE`` has ``table``'s foreign keys (and some); describe them for the report."""
    expected = foreign_keys_of(connection, table)
    copied = foreign_keys_of(connection, PLAIN_TABLE)
    assert expected and copied == expected, (expected, copied)
    return ", ".join(
        f"{'/'.join(columns)} -> {target}.{column}" for columns, (target, column) in sorted(expected)
    )


def concurrent_appends(
    database_url: str | None, writer_counts: list[int], per_writer: int, pair_count: int = 1
) -> None:
    """Appends/s through a run's finish path versus plain INSERT + COMMIT, for each number of writers, in
    ``pair_count`` back-to-back pairs each (medians printed: one pair is at the mercy of the machine)."""
    import multiprocessing

    server_url = os.environ.get("ARGUS_TEST_POSTGRES_URL") if database_url is None else None
    if server_url:
        sys.path.insert(0, str(REPO))
        from tests.support.postgres import create_database

        database_url, drop = create_database(server_url, "ledger_bench")
        atexit.register(drop)
    setup_django(database_url)
    from django.conf import settings
    from django.db import connection

    from argus_plugins.tenancy.models import Tenant
    from ledger.models import LedgerEntry
    from ledger.verification import verify_chain

    if LedgerEntry.objects.exists():
        sys.exit("the database already holds ledger entries; give an empty one")
    tenant = Tenant.objects.create(name="Bench agency", slug=f"bench-{uuid.uuid4().hex[:8]}")
    table = LedgerEntry._meta.db_table
    create_plain_table(connection, table)
    foreign_keys = same_foreign_keys(connection, table)
    url = settings.DATABASES["default"]
    connection.close()
    context = multiprocessing.get_context("spawn")  # each writer sets Django up and connects on its own
    results = []
    round_number = 0
    for writers in writer_counts:
        pairs = []
        for _ in range(pair_count):
            rates, cpu = {}, {}
            # Alternate which side goes first, so that load bursts on the shared machine hit both alike.
            sides = ("ledger", "plain") if round_number % 2 == 0 else ("plain", "ledger")
            for side in sides:
                rates[side], cpu[side] = _run_writers(
                    context, side, writers, per_writer, str(tenant.pk), round_number
                )
            pairs.append((rates, cpu))
            round_number += 1
        results.append((writers, pairs))
        print(f"{writers} writers done", file=sys.stderr)
    expected = sum(writers * per_writer for writers in writer_counts) * pair_count
    report = verify_chain()
    assert report.ok, report.summary()
    assert not LedgerEntry.objects.pending().exists(), "entries were left pending"
    last = LedgerEntry.objects.linked().order_by("-sequence")[0].sequence
    assert LedgerEntry.objects.count() == expected == last
    print(f"database:      {connection.vendor} ({url['NAME']})")
    print(
        f"appends:       {per_writer} x writers, taken from one queue, each its own committed transaction "
        "(linked after it)"
    )
    print(
        f"plain side:    INSERT + COMMIT into {PLAIN_TABLE}, the same table definition as {table}: columns, "
        f"indexes, CHECKs and foreign keys ({foreign_keys})"
    )
    print(
        f"each writer count: {pair_count} pair(s) of runs (ledger and plain back to back, alternating which "
        "goes first); medians, and the spread of the pairs' ratios"
    )
    print("writers   append_entry/s   plain INSERT+COMMIT/s   ratio   (pairs' ratios)")
    for writers, pairs in results:
        ratios = [rates["ledger"] / rates["plain"] for rates, _ in pairs]
        ledger = statistics.median(rates["ledger"] for rates, _ in pairs)
        plain = statistics.median(rates["plain"] for rates, _ in pairs)
        spread = ", ".join(f"{ratio:.2f}" for ratio in ratios)
        goal = "  (goal >= 0.5)" if writers == 8 else ""
        print(
            f"{writers:7d}   {ledger:14,.0f}   {plain:21,.0f}   {statistics.median(ratios):5.2f}   "
            f"({spread}){goal}"
        )
    if all(cpu["ledger"] is not None for _, pairs in results for _, cpu in pairs):
        # Less at the mercy of other processes on the machine than the rates: what an append costs.
        print("CPU per append: the writers' and their PostgreSQL backends' (medians; ratio: plain / ledger)")
        print("writers   ledger CPU/append   plain CPU/append   ratio   (pairs' ratios)")
        for writers, pairs in results:
            ledger = statistics.median(cpu["ledger"] for _, cpu in pairs)
            plain = statistics.median(cpu["plain"] for _, cpu in pairs)
            spread = ", ".join(f"{cpu['plain'] / cpu['ledger']:.2f}" for _, cpu in pairs)
            print(
                f"{writers:7d}   {1e6 * ledger:14,.0f} us   {1e6 * plain:13,.0f} us   "
                f"{plain / ledger:5.2f}   ({spread})"
            )
    print(f"chain after the run: {expected} entries, all linked, verified (no fork, gap or repeat)")
    connection.close()


def _run_writers(
    context: Any, side: str, writers: int, per_writer: int, tenant_id: str, round_number: int
) -> tuple[float, float | None]:
    """Start ``writers`` processes, let them all begin at once; return the appends per second and the CPU
    seconds per append of the writers and their server processes (None if the server's are not readable)."""
    start = context.Barrier(writers + 1)
    finished = context.Queue()
    # The appends are one queue the writers take from, like Celery workers taking runs: a writer that spends
    # a moment linking the others' entries takes fewer, instead of finishing its share last.
    taken = context.Value("q", 0)
    database_url = os.environ["DATABASE_URL"]
    processes = [
        context.Process(
            target=_writer,
            args=(side, database_url, tenant_id, round_number, writers * per_writer, taken, start, finished),
        )
        for index in range(writers)
    ]
    for process in processes:
        process.start()
    start.wait(timeout=300)  # every writer has set Django up and opened its connection
    started = time.time()
    ends = [finished.get(timeout=600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0, f"a {side} writer exited with {process.exitcode}"
    errors = [end for end in ends if isinstance(end, str)]
    assert not errors, errors[0]
    total = writers * per_writer
    backend_cpu = [backend for _, _, backend in ends]
    cpu = None if None in backend_cpu else sum(client + backend for _, client, backend in ends) / total
    return total / (max(end for end, _, _ in ends) - started), cpu


def _server_cpu_seconds(connection: Any) -> float | None:
    """CPU seconds (user + system) of this connection's PostgreSQL backend so far, from /proc (a server on
    this machine); None where it cannot be read."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _writer(
    side: str,
    database_url: str,
    tenant_id: str,
    round_number: int,
    total: int,
    taken: Any,
    start: Any,
    finished: Any,
) -> None:
    try:
        os.environ["DATABASE_URL"] = database_url
        setup_django(database_url, migrate=False)
        from django.db import connection, transaction

        from argus_plugins.core.hooks import hooks
        from ledger import services
        from ledger.hashing import GENESIS_HASH, content_hash, format_timestamp, preimage
        from ledger.hooks import ENTRIES_LINKED

        records = [make_record(round_number * 100_000 + number, tenant_id) for number in range(total)]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # connected before the clock starts
        if side == "ledger":
            # Likewise the reactions to a link (settings.ARGUS_HOOKS, imported on first use): a worker has
            # imported them by its first run. Left to the first link they were timed: importing execution's
            # wake-ups (redis) took up to 0.8 s in each writer that happened to link.
            hooks(ENTRIES_LINKED)
        tenant_value = uuid.UUID(tenant_id).hex if connection.vendor == "sqlite" else tenant_id
        insert = (
            f"INSERT INTO {PLAIN_TABLE} (id, sequence, entry_type, record, tenant_id, prev_hash, "  # noqa: S608
            "entry_hash, created_at, subtree_hashes, content_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        start.wait(timeout=300)
        server_cpu, client_cpu = _server_cpu_seconds(connection), time.process_time()
        while True:
            with taken.get_lock():
                number = taken.value
                taken.value += 1
            if number >= total:
                break
            record = records[number]
            if side == "ledger":
                # A run's finish: the entry is written pending with the transaction's other rows, and the
                # commit hands it to the linker (on_commit, this process), which links every pending entry.
                with transaction.atomic():
                    services.append_entry_without_waiting(ENTRY_TYPE, record, tenant_id=tenant_id)
                continue
            # The same preparation and hashing as an append, the same row, but no head, no lock.
            entry_type, _, canonical, _ = services._prepare(ENTRY_TYPE, record, tenant_id)
            sequence = 1_000_000 * (round_number + 1) + number
            created_at = format_timestamp(services.clock.now())
            digest = hashlib.sha256(preimage(sequence, entry_type, canonical, GENESIS_HASH, created_at))
            row = [
                uuid.uuid4().hex,
                sequence,
                entry_type,
                canonical.decode(),
                tenant_value,
                GENESIS_HASH,
                digest.hexdigest(),
                created_at,
                digest.digest(),
                content_hash(entry_type, canonical, created_at),
            ]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(insert, row)
        ended = time.time()
        client_cpu = time.process_time() - client_cpu
        server_end = _server_cpu_seconds(connection)
        server_cpu = None if server_cpu is None or server_end is None else server_end - server_cpu
        finished.put((ended, client_cpu, server_cpu))
        connection.close()
    except BaseException as exc:  # reported to the parent, which fails the bench with it
        import traceback

        finished.put(f"{side} writer {os.getpid()}: {exc!r}\n{traceback.format_exc()}")
        raise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each is kept (3)")
    parser.add_argument(
        "--single-appends", type=int, default=300, help="single appends per round and side (300)"
    )
    parser.add_argument("--appends", action="store_true", help="append throughput with concurrent writers")
    parser.add_argument("--writers", default="1,4,8,16", help="writer counts for --appends (1,4,8,16)")
    parser.add_argument("--per-writer", type=int, default=300, help="appends per writer for --appends (300)")
    parser.add_argument("--pairs", type=int, default=3, help="ledger/plain pairs per writer count (3)")
    parser.add_argument("--proofs", type=int, default=500, help="inclusion proofs timed (500)")
    parser.add_argument("--tiny", action="store_true", help="2 000 entries, 1 round: proves the bench runs")
    args = parser.parse_args()
    if args.appends:
        writers = [1, 2] if args.tiny else [int(count) for count in args.writers.split(",")]
        per_writer, pairs = (10, 1) if args.tiny else (args.per_writer, args.pairs)
        concurrent_appends(args.database_url, writers, per_writer, pairs)
        return
    if args.tiny:
        args.count, args.repeat, args.single_appends, args.proofs = 2000, 1, 40, 50
    # The concurrent-appends bench runs first, in its own database (and its own processes).
    if args.tiny:
        subprocess.run([sys.executable, __file__, "--appends", "--tiny"], check=True)
    setup_django(args.database_url)
    from django.db import connection

    from ledger.verification import verify_chain

    count = args.count
    pool, canonical = build(count)
    report = verify_chain()  # also warms the page cache for the first timed round
    assert report.ok, report.summary()
    head = report.head_hash
    best = {"verify": float("inf"), "chain": float("inf"), "hash": float("inf")}
    # The three measurements alternate and the best round of each is kept, so a burst of load from other
    # processes on the machine cannot favour one side of the comparison.
    for round_number in range(1, args.repeat + 1):
        for name, work in (
            ("verify", lambda: verify_chain().head_hash),
            ("chain", lambda: raw_chaining(pool, count)),
            ("hash", lambda: raw_hashing(canonical, count)),
        ):
            started = time.perf_counter()
            result = work()
            best[name] = min(best[name], time.perf_counter() - started)
            assert result == head, (name, result, head)
        print(f"round {round_number}/{args.repeat} done", file=sys.stderr)
    proof = measure_proofs(count, args.proofs)
    appends = measure_appends(pool, args.single_appends, args.repeat)

    verify_rate, chain_rate, hash_rate = (count / best[name] for name in ("verify", "chain", "hash"))
    print(f"database:                                  {connection.vendor}")
    print(f"entries:                                   {count} (best of {args.repeat} alternating rounds)")
    print(f"verification (chain + tree, from the DB):  {verify_rate:,.0f} entries/s ({best['verify']:.1f} s)")
    print(f"raw chaining (canonicalise + SHA-256):     {chain_rate:,.0f} entries/s ({best['chain']:.1f} s)")
    print(f"raw hashing (pre-canonicalised records):   {hash_rate:,.0f} entries/s ({best['hash']:.1f} s)")
    print(f"ratio verification / raw chaining:         {verify_rate / chain_rate:.2f}  (goal >= 0.5)")
    print(f"ratio verification / raw hashing:          {verify_rate / hash_rate:.2f}")
    print(
        f"inclusion proof at {count} entries:       median {proof['median_ms']:.2f} ms, "
        f"p95 {proof['p95_ms']:.2f} ms (goal <= 5 ms), {proof['queries']} queries, "
        f"<= {proof['max_rows']} rows ({args.proofs} proofs)"
    )
    print(
        f"append with tree / without:                {appends['tree'] / appends['plain']:.2f}  (goal <= 1.3; "
        f"{1000 * appends['tree']:.2f} ms vs {1000 * appends['plain']:.2f} ms per committed append, "
        f"median of alternating blocks, {args.repeat} x {args.single_appends} per side)"
    )


if __name__ == "__main__":
    main()
