"""A real Argus web server for tests that speak HTTP from outside (graphql-http audits, schemathesis).

gunicorn (the platform's gthread workers) on a free loopback port, its own SQLite database and data directory, its own Celery queue name
(nothing it might enqueue mixes with other tests' workers; the queue is deleted afterwards), rate limits
off (these tests send requests as fast as they can on purpose), and an API token for a staff user.
"""

from __future__ import annotations

import os
import socket
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

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LiveServer:
    url: str  # the GraphQL endpoint
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    port = _free_port()
    log = directory / "gunicorn.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "argus_plugins.wsgi:application",
                *GUNICORN_CONFIG_OPTIONS,
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "2",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:  # any answer will do: the server is up
                requests.post(
                    f"http://127.0.0.1:{port}/graphql/", json={"query": "{ __typename }"}, timeout=10
                )
                break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the live server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LiveServer(url=f"http://127.0.0.1:{port}/graphql/", token=token, log=log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        redis.Redis.from_url(env.get("REDIS_URL", "redis://127.0.0.1:6379/0")).delete(queue)
