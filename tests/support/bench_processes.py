"""Processes the benches start (gunicorn, Celery workers): each in its own session, stopped as a whole with
every child it had, and Ctrl-C / SIGTERM turned into KeyboardInterrupt so that a bench always cleans up."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_bytes()
            ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
            parents[ppid].append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Proc:
    """A subprocess in its own session, stopped as a whole process group."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.known_pids: set[int] = {self.process.pid}

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def remember_children(self) -> None:
        if self.alive():
            self.known_pids |= descendants(self.process.pid)

    def stop(self, timeout: float = 20.0) -> None:
        if self.alive():
            self.remember_children()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Pool children of a killed group may linger briefly; make sure none survives (only processes
        # still in our group: a pid reused by someone else's process is left alone).
        for pid in self.known_pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(pid) == self.process.pid:
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def interrupt_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Also SIGINT: a shell starts background jobs with SIGINT ignored, which Python would inherit.
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, action in previous.items():
            signal.signal(sig, action)
