"""Helpers for the ledger tests: build chains through the real append path, tamper with raw SQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from argus_plugins.core import clock
from ledger.services import append_entries

T0 = dt.datetime(2026, 11, 25, 15, 31, 17, 123456, tzinfo=dt.UTC)


def sample_record(index: int, tenant_id: Any = None) -> dict[str, Any]:
    """Varied but deterministic records: nested objects, unicode, a float, big-but-safe ints, nulls."""
    record: dict[str, Any] = {
        "execution_id": f"00000000-0000-4000-8000-{index:012d}",
        "status": "SUCCEEDED" if index % 3 else "FAILED",
        "exit_code": index % 7,
        "plugin": {"slug": "ioc-extractor", "version": f"1.{index % 5}.0", "code_sha256": f"{index:064x}"},
        "limits": {"memory_mb": 256, "cpus": 0.5, "timeout_seconds": 60},
        # Every tenth record sits at the edge of RFC 8785's integer range (and takes the reference path).
        "bytes_out": 2**53 - 1 - index if index % 10 == 0 else index * 1000,
        "note": ["Ünïcode ✓", "😂", "tab\there", None, True][index % 5],
        "outputs": [{"name": f"out-{index}.json", "sha256": f"{index * 31:064x}"}],
    }
    if tenant_id is not None:
        record["tenant_id"] = str(tenant_id)
    return record


def build_chain(count: int, tenant_id: Any = None, entry_type: str = "execution.completed") -> list:
    """Append ``count`` entries through ``append_entries`` (one lock, one bulk insert per 1000)."""
    entries = []
    with clock.frozen(T0):
        for start in range(0, count, 1000):
            batch = [
                (entry_type, sample_record(index, tenant_id), tenant_id)
                for index in range(start, min(count, start + 1000))
            ]
            entries.extend(append_entries(batch))
    return entries


def sql(statement: str, params: list[Any] | tuple[Any, ...] = ()) -> int:
    """Tamper below the ORM (which refuses updates and deletes), as an attacker with DB access would."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def forged_tree_hashes(sequence: int, data: bytes) -> bytes:
    """The subtree hashes a forger who knows the tree would store for a forged entry with preimage ``data``:
    its leaf, then one parent per trailing 1-bit of its leaf index, using the stored left siblings."""
    from ledger.merkle import leaf_hash, node_hash
    from ledger.tree import fetch_nodes

    index, level = sequence - 1, 0
    node = leaf_hash(data)
    hashes = node
    while (index >> level) & 1:
        sibling = (level, (index >> level) - 1)
        node = node_hash(fetch_nodes({sibling})[sibling], node)
        hashes += node
        level += 1
    return hashes


def rewrite_tail(count: int) -> None:
    """An insider with database access rewrites the last ``count`` entries consistently: new records, the
    chain hashes, the tree hashes and the head (hash and frontier), so that every stored hash agrees."""
    import hashlib
    import json

    from ledger.hashing import preimage, prepare_record
    from ledger.merkle import range_nodes
    from ledger.models import LedgerEntry, LedgerHead
    from ledger.tree import fetch_nodes

    size = LedgerHead.objects.get().sequence
    prev = LedgerEntry.objects.get(sequence=size - count).entry_hash
    for sequence in range(size - count + 1, size + 1):
        entry = LedgerEntry.objects.get(sequence=sequence)
        record, canonical = prepare_record({"execution_id": f"rewritten-{sequence}"})
        data = preimage(sequence, entry.entry_type, canonical, prev, entry.created_at)
        digest = hashlib.sha256(data).hexdigest()
        sql(
            "UPDATE ledger_ledgerentry SET record = %s, prev_hash = %s, entry_hash = %s, subtree_hashes = %s"
            " WHERE sequence = %s",
            [json.dumps(record), prev, digest, forged_tree_hashes(sequence, data), sequence],
        )
        prev = digest
    nodes = range_nodes(0, size)
    frontier = fetch_nodes(set(nodes))
    sql(
        "UPDATE ledger_ledgerhead SET entry_hash = %s, frontier = %s",
        [prev, b"".join(frontier[node] for node in nodes)],
    )
