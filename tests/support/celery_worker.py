"""Start real Celery worker processes (real Redis, real prefork pool) for integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from argus_plugins.celery import app as celery_app
from argus_plugins.celery import housekeeping_queues

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CeleryProcess:
    """A Celery process started by a test (its own session: killing the group kills its pool children)."""

    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """Kill the whole process group as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class WorkerProcess(CeleryProcess):
    queue: str = ""


BeatProcess = CeleryProcess


@contextlib.contextmanager
def _running(
    started: CeleryProcess, *, ready_marker: str, what: str, ready_timeout: float
) -> Iterator[CeleryProcess]:
    """Wait until ``ready_marker`` is in the log, yield, then stop the process (SIGTERM, then SIGKILL)."""
    process = started.process
    try:
        deadline = time.monotonic() + ready_timeout
        while ready_marker not in started.log():
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited early:\n{started.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} not ready after {ready_timeout}s:\n{started.log()}")
            time.sleep(0.1)
        yield started
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                started.kill()


def _start(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextlib.contextmanager
def running_worker(
    tmp_path: Path,
    *,
    queue: str | None = None,
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
    node: str | None = None,
) -> Iterator[WorkerProcess]:
    """A worker consuming ``queue`` (and its housekeeping queues); ``node`` names it when several workers
    share one queue (Celery node names must differ)."""
    queue = queue or f"test-{uuid.uuid4().hex[:12]}"
    node = node or queue
    log_path = tmp_path / f"worker-{node}.log"
    env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": queue, **(extra_env or {})}
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "argus_plugins",
        "worker",
        "-Q",
        ",".join((queue, *housekeeping_queues(queue))),
        "-c",
        str(concurrency),
        "-n",
        f"{node}@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]
    worker = WorkerProcess(process=_start(command, env, log_path), log_path=log_path, queue=queue)
    with _running(worker, ready_marker=" ready.", what="Celery worker", ready_timeout=ready_timeout):
        yield worker


def _reset_publisher_pools() -> None:
    """Celery keeps a connection pool and a producer pool per broker URL: drop them so the next publish
    connects to the broker now configured."""
    if celery_app._pool is not None:
        with contextlib.suppress(Exception):
            celery_app._pool.force_close_all()
    celery_app._pool = None
    with contextlib.suppress(AttributeError, KeyError):
        celery_app.__dict__["amqp"]._producer_pool = None


@contextlib.contextmanager
def publishing_to(broker_url: str, queue: str) -> Iterator[None]:
    """Tasks published by the test process go to ``broker_url``'s ``queue`` meanwhile (e.g. a private Redis
    that the test's own workers consume)."""
    previous = celery_app.conf.broker_url, celery_app.conf.task_default_queue
    _reset_publisher_pools()
    celery_app.conf.broker_url, celery_app.conf.task_default_queue = broker_url, queue
    try:
        yield
    finally:
        _reset_publisher_pools()
        celery_app.conf.broker_url, celery_app.conf.task_default_queue = previous


@contextlib.contextmanager
def running_beat(
    tmp_path: Path, *, extra_env: dict[str, str] | None = None, ready_timeout: float = 60.0
) -> Iterator[BeatProcess]:
    """Celery beat (the DatabaseScheduler, on the test database) sending the platform's periodic tasks."""
    log_path = tmp_path / f"beat-{uuid.uuid4().hex[:8]}.log"
    env = {**os.environ, **(extra_env or {})}
    command = [sys.executable, "-m", "celery", "-A", "argus_plugins", "beat", "-l", "INFO", "--max-interval", "1"]
    beat = BeatProcess(process=_start(command, env, log_path), log_path=log_path)
    with _running(beat, ready_marker="Sending due task", what="Celery beat", ready_timeout=ready_timeout):
        yield beat
