"""The append bench's baseline (bench/ledger_bench.py --appends) inserts into a table with the ledger
table's definition, foreign keys included: a plain insert pays the same tenant key check as an append."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres import run_check_script

CHECK = Path(__file__).with_name("plain_table_check.py")
TENANT_KEY = [["tenant_id"], ["tenancy_tenant", "id"]]


def check_copy(result: dict) -> None:
    assert result["ledger"] == [TENANT_KEY]
    assert result["plain"] == result["ledger"]
    assert result["unknown_tenant_refused"] is True


@pytest.mark.postgres
def test_the_plain_table_has_the_ledger_tables_foreign_keys_on_postgresql(postgres_database, tmp_path):
    check_copy(run_check_script(CHECK, postgres_database, tmp_path))


def test_the_plain_table_has_the_ledger_tables_foreign_keys_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bench.sqlite3'}",
        "ARGUS_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, str(CHECK)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "sqlite"
    check_copy(result)
