"""Starts the host's pool-keeper (execution/sandbox/keeper.py) beside a Celery worker, and restarts it if it
dies (README, "Warm pool").

The keeper is a process of its own, not a thread of the worker's main process: the main process forks the
pool's children (also later, to replace one), and a thread holding the engine's sockets and locks at that
moment is what fork must not copy. It is started with ``worker_init`` (in the main process, before the pool
forks) and stopped with ``worker_shutdown``; the keeper also stops by itself when its parent disappears.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from django.conf import settings

from . import runtime

logger = logging.getLogger(__name__)

RESTART_DELAY_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 30.0


def keeper_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "execution.sandbox.keeper",
        "--work-dir", str(runtime.work_dir()),
        "--docker-url", settings.DOCKER_BASE_URL,
        "--min-depth", str(settings.ARGUS_SANDBOX_POOL_SIZE),
        "--max-per-shape", str(settings.ARGUS_SANDBOX_POOL_MAX_PER_SHAPE),
        "--max-total", str(settings.ARGUS_SANDBOX_POOL_MAX_TOTAL),
        "--memory-mb", str(settings.ARGUS_SANDBOX_POOL_MEMORY_MB),
        "--parallel-starts", str(settings.ARGUS_SANDBOX_POOL_PARALLEL_STARTS),
        "--idle-seconds", str(settings.ARGUS_SANDBOX_POOL_IDLE_SECONDS),
        "--burst-seconds", str(settings.ARGUS_SANDBOX_POOL_BURST_SECONDS),
        "--parent-pid", str(os.getpid()),
    ]  # fmt: skip


class KeeperSupervisor:
    """Runs the keeper and starts it again (after a second) whenever it dies, until ``stop``. A keeper that
    exits with 0 was told to stop (SIGTERM/SIGINT: e.g. the whole process group at a node's shutdown, which
    reaches the keeper before the worker's own ``worker_shutdown``), so it is not started again."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="argus-keeper-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self.process = subprocess.Popen(self.command, cwd=settings.BASE_DIR)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self.process
            code = process.wait() if process is not None else None
            if code == 0:
                logger.info("the sandbox pool keeper stopped")
                return
            if self._stopping.wait(RESTART_DELAY_SECONDS):
                return
            logger.warning("the sandbox pool keeper exited (%s): starting it again", code)
            self.restarts += 1
            self._spawn()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


_supervisor: KeeperSupervisor | None = None


def start() -> None:
    global _supervisor
    if settings.ARGUS_SANDBOX_POOL_SIZE <= 0 or _supervisor is not None:
        return
    _supervisor = KeeperSupervisor(keeper_command())
    _supervisor.start()


def stop() -> None:
    global _supervisor
    if _supervisor is not None:
        _supervisor.stop()
        _supervisor = None
