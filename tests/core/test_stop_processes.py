"""Stopping the platform's processes: the leader of each process group is asked, then the group is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from argus_plugins.core.web_tier import stop_processes

# A leader like Celery's main process: it has a child in its process group, and on SIGTERM stops that child
# itself (SIGUSR1 here) before it exits. The child notes a SIGTERM it receives directly: what made Celery's
# pool processes die mid-task when the whole group was sent SIGTERM.
LEADER = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    from pathlib import Path

    marks = Path(sys.argv[1])
    child = subprocess.Popen([sys.executable, "-c", '''
    import signal, sys, time
    from pathlib import Path
    marks = Path(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: (marks / "child-got-sigterm").touch())
    signal.signal(signal.SIGUSR1, lambda *_: sys.exit(0))
    (marks / "child-ready").touch()
    while True:
        time.sleep(0.05)
    ''', str(marks)])
    if sys.argv[2] == "obliging":
        def stop(*_):
            child.send_signal(signal.SIGUSR1)
            child.wait()
            (marks / "leader-stopped-its-child").touch()
            sys.exit(0)
        signal.signal(signal.SIGTERM, stop)
    else:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (marks / "child-pid").write_text(str(child.pid))
    while True:
        time.sleep(0.05)
    """
)


def start_leader(marks: Path, behaviour: str) -> tuple[subprocess.Popen, int]:
    leader = subprocess.Popen([sys.executable, "-c", LEADER, str(marks), behaviour], start_new_session=True)
    deadline = time.monotonic() + 30
    while not ((marks / "child-ready").exists() and (marks / "child-pid").exists()):
        assert time.monotonic() < deadline and leader.poll() is None, "the leader did not start"
        time.sleep(0.05)
    return leader, int((marks / "child-pid").read_text())


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"


def test_only_the_leader_is_asked_and_it_stops_its_children_itself(tmp_path):
    leader, child = start_leader(tmp_path, "obliging")
    stop_processes([leader], timeout=20)
    assert leader.returncode == 0
    assert (tmp_path / "leader-stopped-its-child").exists()
    assert not (tmp_path / "child-got-sigterm").exists()
    assert not is_alive(child)


def test_a_leader_that_does_not_stop_in_time_is_killed_with_its_group(tmp_path):
    leader, child = start_leader(tmp_path, "stubborn")
    started = time.monotonic()
    stop_processes([leader], timeout=1)
    assert leader.returncode == -9 and time.monotonic() - started < 15
    deadline = time.monotonic() + 10
    while is_alive(child):
        assert time.monotonic() < deadline, "the leader's child survived its group's SIGKILL"
        time.sleep(0.05)
