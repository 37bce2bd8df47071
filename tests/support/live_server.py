"""A real Argus web server for tests that speak HTTP from outside (graphql-http audits, schemathesis).

gunicorn (the platform's gthread workers) on a free loopback port, its own SQLite database and data directory, its own Celery queue name
(nothing it might enqueue mixes with other tests' workers; the queue is deleted afterwards), rate limits
off (these tests send requests as fast as they can on purpose), and an API token for a staff user.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import requests

from argus_plugins.core.web_tier import GUNICORN_CONFIG_OPTIONS
from tests.support.private_redis import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    url: str  # the GraphQL endpoint
    token: str
    log: Path


@contextmanager
def gunicorn_server(
    env: dict[str, str], log: Path, *options: str, start_seconds: float, stop_seconds: float
) -> Iterator[str]:
    """The platform's WSGI app under gunicorn (its gthread workers) on a free loopback port, with ``env`` and
    extra gunicorn ``options``; yields its base URL once it answers HTTP at all, stops it on the way out."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "gunicorn", "argus_plugins.wsgi:application", *GUNICORN_CONFIG_OPTIONS),
        *("--bind", f"127.0.0.1:{port}", *options),
    ]
    with log.open("wb") as log_file:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:  # any answer will do: the server is up
                requests.post(f"{url}/graphql/", json={"query": "{ __typename }"}, timeout=10)
                break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def live_server(directory: Path) -> Iterator[LiveServer]:
    queue = f"live-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "ARGUS_DATA_DIR": str(directory),
        "DATABASE_URL": f"sqlite:///{directory / 'live.sqlite3'}",
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "RATELIMIT_ENABLE": "false",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=300)
    created = subprocess.run(
        [*manage, "create_api_token", "live-staff", "--create-user", "--staff"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    log = directory / "gunicorn.log"
    try:
        options = ("--workers", "2", "--timeout", "60")
        with gunicorn_server(env, log, *options, start_seconds=60, stop_seconds=20) as url:
            yield LiveServer(url=f"{url}/graphql/", token=token, log=log)
    finally:
        redis.Redis.from_url(env.get("REDIS_URL", "redis://127.0.0.1:6379/0")).delete(queue)
