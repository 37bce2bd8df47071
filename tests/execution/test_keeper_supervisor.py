"""The keeper's supervisor starts a keeper that died again, and leaves one that was told to stop alone."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from execution.keeper_process import KeeperSupervisor


def _supervise(tmp_path: Path, exit_code: int) -> tuple[KeeperSupervisor, Path]:
    starts = tmp_path / "starts"
    # Each start leaves a line, then the "keeper" ends with the given code.
    command = [
        sys.executable,
        "-c",
        f"import sys; open({str(starts)!r}, 'a').write('x\\n'); sys.exit({exit_code})",
    ]
    supervisor = KeeperSupervisor(command)
    supervisor.start()
    return supervisor, starts


def _starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_a_keeper_that_died_is_started_again(tmp_path: Path) -> None:
    supervisor, starts = _supervise(tmp_path, exit_code=1)  # a crash
    try:
        deadline = time.monotonic() + 30
        while _starts(starts) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _starts(starts) >= 2 and supervisor.restarts >= 1
    finally:
        supervisor.stop()


def test_a_keeper_that_stopped_cleanly_is_not_started_again(tmp_path: Path) -> None:
    supervisor, starts = _supervise(tmp_path, exit_code=0)
    try:
        deadline = time.monotonic() + 30
        while _starts(starts) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        supervisor._thread.join(timeout=30)  # the watcher returns once it has seen the clean exit
        assert not supervisor._thread.is_alive()
        assert _starts(starts) == 1 and supervisor.restarts == 0
    finally:
        supervisor.stop()
