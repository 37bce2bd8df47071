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

from argus_plugins.celery import housekeeping_queues

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WorkerProcess:
    queue: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """Kill the whole worker (main process and pool children) as a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def running_worker(
    tmp_path: Path,
    *,
    queue: str | None = None,
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    ready_timeout: float = 60.0,
) -> Iterator[WorkerProcess]:
    queue = queue or f"test-{uuid.uuid4().hex[:12]}"
    log_path = tmp_path / f"worker-{queue}.log"
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
        f"{queue}@%h",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(queue=queue, process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while " ready." not in worker.log():
            if process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early:\n{worker.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery worker not ready after {ready_timeout}s:\n{worker.log()}")
            time.sleep(0.1)
        yield worker
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


@dataclass
class BeatProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextlib.contextmanager
def running_beat(
    tmp_path: Path, *, extra_env: dict[str, str] | None = None, ready_timeout: float = 60.0
) -> Iterator[BeatProcess]:
    """Celery beat (the DatabaseScheduler, on the test database) sending the platform's periodic tasks."""
    log_path = tmp_path / f"beat-{uuid.uuid4().hex[:8]}.log"
    env = {**os.environ, **(extra_env or {})}
    command = [sys.executable, "-m", "celery", "-A", "argus_plugins", "beat", "-l", "INFO", "--max-interval", "1"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    beat = BeatProcess(process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + ready_timeout
        while "Sending due task" not in beat.log():
            if process.poll() is not None:
                raise RuntimeError(f"Celery beat exited early:\n{beat.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Celery beat sent nothing after {ready_timeout}s:\n{beat.log()}")
            time.sleep(0.1)
        yield beat
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                beat.kill()
