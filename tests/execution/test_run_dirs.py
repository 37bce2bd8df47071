"""Run directories left by a worker that was killed outright are swept; a live worker's never are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from execution import worker
from execution.run_dirs import UNOWNED_RUN_DIR_AGE_SECONDS, run_dir, sweep_run_dirs
from execution.sandbox.container import owner_id


@pytest.fixture
def dead_owner() -> str:
    """The owner id of a worker-like process that has since died (killed; its pid may be reused later)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        owner = owner_id(process.pid)
    finally:
        process.kill()
        process.wait()
    return owner


@pytest.fixture
def live_child() -> Iterator[str]:
    """The owner id of another live process on this host (e.g. a sibling worker of the node)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        yield owner_id(process.pid)
    finally:
        process.kill()
        process.wait()


def _make(work_dir: Path, name: str) -> Path:
    path = work_dir / name
    path.mkdir()
    (path / "evidence").write_bytes(b"copied from the store")
    return path


def test_only_the_run_directories_of_dead_workers_are_removed(tmp_path, dead_owner, live_child):
    orphan = _make(tmp_path, f"run-{uuid.uuid4()}@{dead_owner}")
    ours = _make(tmp_path, f"run-{uuid.uuid4()}@{owner_id()}")
    sibling = _make(tmp_path, f"run-{uuid.uuid4()}@{live_child}")
    other_host = _make(tmp_path, f"run-{uuid.uuid4()}@another-host:{dead_owner.split(':', 1)[1]}")
    unrelated = [_make(tmp_path, f"slot-{uuid.uuid4().hex}"), _make(tmp_path, "pool")]
    unowned = _make(tmp_path, f"run-{uuid.uuid4()}")  # a name this scheme did not make: not ours to judge

    assert sweep_run_dirs(tmp_path) == [orphan.name]

    assert not orphan.exists()
    assert all(path.is_dir() for path in (ours, sibling, other_host, unowned, *unrelated))
    assert (ours / "evidence").read_bytes() == b"copied from the store"
    assert sweep_run_dirs(tmp_path) == []  # nothing more to do


def test_an_older_versions_unowned_run_directory_goes_once_it_is_a_day_old(tmp_path):
    """``run-<id>`` (no owner in the name) was an older version's name: no owner check can judge it, so its
    age does; a fresh one may belong to an old-version worker still finishing a run during an upgrade."""
    day_old = _make(tmp_path, f"run-{uuid.uuid4()}")
    fresh = _make(tmp_path, f"run-{uuid.uuid4()}")
    not_a_run = _make(tmp_path, "run-notes")  # not an execution id: not ours to judge, however old
    long_ago = time.time() - UNOWNED_RUN_DIR_AGE_SECONDS - 60
    for path in (day_old, not_a_run):
        os.utime(path, (long_ago, long_ago))

    assert sweep_run_dirs(tmp_path) == [day_old.name]
    assert not day_old.exists() and fresh.is_dir() and not_a_run.is_dir()


def test_a_pid_reused_by_another_process_does_not_keep_a_dead_workers_directory(tmp_path):
    """Same pid, different start time: the process that made the directory is gone."""
    host, pid, ticks = owner_id().split(":")
    orphan = _make(tmp_path, f"run-{uuid.uuid4()}@{host}:{pid}:{int(ticks) - 1}")
    assert sweep_run_dirs(tmp_path) == [orphan.name]


def test_a_missing_work_directory_is_nothing_to_sweep(tmp_path):
    assert sweep_run_dirs(tmp_path / "not-yet") == []


def test_the_worker_names_its_run_directory_after_the_run_and_itself(settings, tmp_path):
    settings.ARGUS_SANDBOX_WORK_DIR = str(tmp_path)
    execution_id = uuid.uuid4()
    assert worker._run_dir(execution_id) == run_dir(tmp_path, execution_id)
    assert worker._run_dir(execution_id).name == f"run-{execution_id}@{owner_id()}"
