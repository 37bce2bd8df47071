"""The PostgreSQL-only paths (full-text search, percentile_cont) against a real server."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from .test_analytics import percentile


@pytest.fixture
def postgres_url():
    server_url = os.environ.get("ARGUS_TEST_POSTGRES_URL")
    if not server_url:
        message = "ARGUS_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    import psycopg

    name = f"argus_marketplace_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_full_text_search_and_percentile_cont_on_postgresql(postgres_url, tmp_path):
    script = Path(__file__).with_name("postgres_check.py")
    env = {**os.environ, "DATABASE_URL": postgres_url, "ARGUS_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["vendor"] == "postgresql"
    assert result["p50"] == pytest.approx(percentile(result["durations"], 0.5))
    assert result["p95"] == pytest.approx(percentile(result["durations"], 0.95))
    assert result["by_day_p95"] == [pytest.approx(result["p95"])]
    assert result["search_first"] == "plugin-00000" and result["search_ranked"] is True
    assert result["tagline_hits"] == 60 and result["nothing"] == 0
