"""Two worker nodes that share nothing but PostgreSQL, Redis and the S3 object store.

The scenario (two_nodes_check.py) needs the whole test process on PostgreSQL, so it runs in a pytest of its
own with DATABASE_URL set: pytest-django creates (and drops) a test database there, which the test, beat
and both worker nodes use.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.object_store import server_url as s3_server_url

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.docker, pytest.mark.redis, pytest.mark.worker]

ROOT = Path(__file__).resolve().parents[3]
CHECK = Path(__file__).with_name("two_nodes_check.py")


def _postgres_server_url() -> str:
    url = os.environ.get("ARGUS_TEST_POSTGRES_URL")
    if not url:
        message = "ARGUS_TEST_POSTGRES_URL is not set (scripts/test.sh sets it): the two-node test cannot run"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


def test_two_worker_nodes_on_postgres_redis_and_s3():
    server_url = _postgres_server_url()
    s3_server_url()
    name = f"argus_nodes_{uuid.uuid4().hex[:12]}"
    env = {**os.environ, "DATABASE_URL": urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", str(CHECK)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=420,
        )
    finally:
        import psycopg

        with psycopg.connect(server_url, autocommit=True) as admin:  # left behind only if the run crashed
            admin.execute(f'DROP DATABASE IF EXISTS "test_{name}" WITH (FORCE)')
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-3000:]
    assert re.search(r"^1 passed", done.stdout, re.MULTILINE), done.stdout[-2000:]
