"""Ledger verification throughput versus the raw cost of hash-chaining the same records.

    python bench/ledger_bench.py [N] [--repeat R] [--database-url URL] [--tiny]   (N defaults to 1 000 000)

Builds a chain of N entries in a fresh database (a temporary SQLite file unless ``--database-url`` names an
empty database), then measures side by side, in one run:

* verification: ``ledger.verification.verify_chain()`` over the stored chain (streaming from the database,
  parsing each stored record, canonicalising, hashing, checking links, tenant column and head);
* raw chaining: the same records canonicalised (same canonicaliser) and SHA-256 chained in a plain loop;
* raw hashing: SHA-256 chaining of the same records already canonicalised (the floor of any verifier).

The three are timed in alternating rounds (``--repeat``, default 3) and the best round of each is kept,
because a shared machine's load comes in bursts. The ratio printed first is verification / raw chaining
(goal >= 0.5). ``--tiny`` (2 000 entries, one round) only checks that the bench still runs. Building the
chain is not timed:
entries are precomputed with ledger.hashing and written with executemany, the same bytes append_entries
would write (the build ends by checking a sample against the reference RFC 8785 library).
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path

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


def setup_django(database_url: str | None) -> None:
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

    # Every app: the ledger's rows reference tenants, whose table later migrations keep extending.
    call_command("migrate", verbosity=0)
    print(f"database: {database_url}", file=sys.stderr)


def build(count: int) -> tuple[list[dict], list[bytes]]:
    """Write ``count`` chained entries; return the record pool and its canonical bytes."""
    import rfc8785
    from django.db import connection, transaction

    from argus_plugins.tenancy.models import Tenant
    from ledger.hashing import GENESIS_HASH, entry_hash, prepare_record
    from ledger.models import LedgerEntry, LedgerHead

    if LedgerEntry.objects.exists():
        sys.exit("the database already holds ledger entries; give an empty one")
    tenant = Tenant.objects.create(name="Bench agency", slug=f"bench-{uuid.uuid4().hex[:8]}")
    pool = [make_record(index, str(tenant.pk)) for index in range(POOL_SIZE)]
    canonical = [prepare_record(record)[1] for record in pool]  # the write-time (reference) path
    table = LedgerEntry._meta.db_table
    columns = "id, sequence, entry_type, record, tenant_id, prev_hash, entry_hash, created_at"
    insert = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
    tenant_value = tenant.pk.hex if connection.vendor == "sqlite" else str(tenant.pk)
    prev = GENESIS_HASH
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        rows = []
        for sequence in range(start + 1, min(count, start + BATCH) + 1):
            record_bytes = canonical[(sequence - 1) % POOL_SIZE]
            digest = entry_hash(sequence, ENTRY_TYPE, record_bytes, prev, CREATED_AT)
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
                )
            )
            prev = digest
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, rows)
        print(f"built {min(count, start + BATCH)}/{count}", file=sys.stderr, end="\r")
    LedgerHead.objects.update_or_create(
        pk=LedgerHead.SINGLETON_ID, defaults={"sequence": count, "entry_hash": prev}
    )
    print(f"\nbuild: {time.perf_counter() - started:.1f} s (not part of the comparison)", file=sys.stderr)
    for entry in LedgerEntry.objects.filter(sequence__in=[1, count]):
        preimage = {
            f: getattr(entry, f) for f in ("sequence", "entry_type", "record", "prev_hash", "created_at")
        }
        assert hashlib.sha256(rfc8785.dumps(preimage)).hexdigest() == entry.entry_hash
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="an empty database (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each is kept (3)")
    parser.add_argument("--tiny", action="store_true", help="2 000 entries, one round: a smoke run for CI")
    args = parser.parse_args()
    if args.tiny:
        args.count, args.repeat = 2_000, 1
    setup_django(args.database_url)
    from ledger.verification import verify_chain

    count = args.count
    pool, canonical = build(count)
    head = verify_chain().head_hash  # also warms the page cache for the first timed round
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

    verify_rate, chain_rate, hash_rate = (count / best[name] for name in ("verify", "chain", "hash"))
    print(f"entries:                                   {count} (best of {args.repeat} alternating rounds)")
    print(f"verification (verify_chain, from the DB):  {verify_rate:,.0f} entries/s ({best['verify']:.1f} s)")
    print(f"raw chaining (canonicalise + SHA-256):     {chain_rate:,.0f} entries/s ({best['chain']:.1f} s)")
    print(f"raw hashing (pre-canonicalised records):   {hash_rate:,.0f} entries/s ({best['hash']:.1f} s)")
    print(f"ratio verification / raw chaining:         {verify_rate / chain_rate:.2f}  (goal >= 0.5)")
    print(f"ratio verification / raw hashing:          {verify_rate / hash_rate:.2f}")


if __name__ == "__main__":
    main()
