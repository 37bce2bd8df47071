"""Run by test_ledger_bench.py in a subprocess against a fresh database (DATABASE_URL, PostgreSQL or
SQLite): migrates, creates the append bench's plain table and prints, as JSON, the foreign keys of the
ledger's table and of the copy (from the database's own catalogue) and whether the copy refuses a row whose
tenant does not exist."""

import json
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.check_scripts import start_django  # noqa: E402

start_django(bench=True)

import ledger_bench  # noqa: E402
from django.db import IntegrityError, connection, transaction  # noqa: E402

from ledger.models import LedgerEntry  # noqa: E402

table = LedgerEntry._meta.db_table
ledger_bench.create_plain_table(connection, table)
refused = False
try:
    with transaction.atomic(), connection.cursor() as cursor:  # the key is checked at commit (deferred)
        cursor.execute(
            f"INSERT INTO {ledger_bench.PLAIN_TABLE} (id, sequence, entry_type, record, tenant_id, "  # noqa: S608
            "prev_hash, entry_hash, created_at, subtree_hashes, content_hash) "
            "VALUES (%s, 1, 'execution.completed', '{}', %s, %s, %s, %s, '', '')",
            [uuid.uuid4().hex, uuid.uuid4().hex, "0" * 64, "1" * 64, "2026-11-25T15:31:17.123456Z"],
        )
except IntegrityError:
    refused = True


def described(table_name: str) -> list[list]:
    return sorted(
        [list(columns), list(target)]
        for columns, target in ledger_bench.foreign_keys_of(connection, table_name)
    )


print(
    json.dumps(
        {
            "vendor": connection.vendor,
            "ledger": described(table),
            "plain": described(ledger_bench.PLAIN_TABLE),
            "unknown_tenant_refused": refused,
        }
    )
)
