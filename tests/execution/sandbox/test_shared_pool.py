"""The host's shared warm pool (keeper + claims) against the real engine, and its depth policy.

Each test keeps its own pool (its own work directory, so its own pool id and container label) and removes
every container of that pool at the end, whatever happened: other checkouts' containers are never touched.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from execution.sandbox import Outcome, run_job
from execution.sandbox.container import (
    LABEL_OWNER,
    LABEL_POOL,
    local_owner_is_alive,
    owner_id,
    remove_container,
)
from execution.sandbox.keeper import PoolKeeper, PoolLimits, ShapeDemand, plan
from execution.sandbox.shared_pool import (
    PoolLayout,
    SharedPool,
    entry_container_id,
    shape_key,
    sweep_pool,
)
from execution.sandbox.spec import ContainerSettings, MiB, SandboxLimits

ROOT = Path(__file__).resolve().parents[3]
HELLO = 'import json\nprint(json.dumps({"hello": "world"}))\n'


def wait_until(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# -- depth policy (no engine) ------------------------------------------------------------------------------


def test_depth_follows_the_rate_of_takes_times_the_start_latency() -> None:
    limits = PoolLimits(min_depth=1, max_per_shape=8)
    demand = ShapeDemand(ContainerSettings(image="x"), start_seconds=2.0)
    demand.record_take(100.0)
    assert demand.desired(100.0, limits) == 1  # one take is no rate: the minimum
    for i in range(1, 5):
        demand.record_take(100.0 + i * 0.5)  # 2 takes per second
    # 2/s * 2 s * 1.5 headroom = 6, plus one.
    assert demand.desired(102.0, limits) == 7
    demand.start_seconds = 10.0
    assert demand.desired(102.0, limits) == 8  # the cap per shape
    # Idle: the rate window passes, but the burst's depth is held for burst_seconds, then halved, and
    # halved again; after the idle time, nothing.
    assert demand.desired(130.0, limits) == 8
    assert demand.desired(102.0 + limits.burst_seconds + 1, limits) == 4
    assert demand.desired(102.0 + 2 * limits.burst_seconds + 2, limits) == 2
    assert demand.desired(102.0 + limits.idle_seconds + 1, limits) == 0


def test_every_miss_deepens_the_shape_for_the_next_burst() -> None:
    limits = PoolLimits(min_depth=1, max_per_shape=4, burst_seconds=60.0)
    demand = ShapeDemand(ContainerSettings(image="x"), start_seconds=0.5)
    demand.record_take(100.0)
    assert demand.desired(100.0, limits) == 1
    demand.record_miss(110.0, limits)  # a take found the pool empty: one more next time
    demand.record_take(110.0)
    assert demand.desired(110.0, limits) == 2
    demand.record_miss(120.0, limits)
    demand.record_take(120.0)
    assert demand.desired(120.0, limits) == 3
    demand.record_miss(130.0, limits)
    demand.record_miss(140.0, limits)
    assert demand.desired(140.0, limits) == 4  # never above the cap per shape
    assert demand.desired(140.0 + 60.0 + 1, limits) == 2  # the burst is over: halved


def test_a_miss_in_a_fast_burst_covers_a_start_at_the_burst_s_pace() -> None:
    limits = PoolLimits(min_depth=1, max_per_shape=8)
    demand = ShapeDemand(ContainerSettings(image="x"), start_seconds=0.9)
    demand.record_take(100.0)
    demand.record_miss(100.3, limits)  # a take every 0.3 s, a start takes 0.9 s: 3 in flight, plus one
    assert demand.desired(100.3, limits) == 4


def test_a_burst_drains_the_pool_to_its_reserve_before_any_refill_starts() -> None:
    limits = PoolLimits(min_depth=1, max_per_shape=32)
    demand = ShapeDemand(ContainerSettings(image="x"), start_seconds=0.3)
    for i in range(6):
        demand.record_take(100.0 + i * 0.1, limits)  # a take every 0.1 s
    now = 100.5
    assert demand.in_burst(now)
    # A start takes 0.3 s: 3 takes at this pace, plus one.
    assert demand.reserve(now, limits) == 4
    assert demand.refill_target(now, 20, limits) == 4  # refill only below the reserve while it lasts
    # The first pause ends the burst: everything the target asks for may start.
    assert not demand.in_burst(now + 1.5)
    assert demand.refill_target(now + 1.5, 20, limits) == 20


def test_a_shape_keeps_as_many_ready_as_its_last_burst_took_plus_its_reserve() -> None:
    limits = PoolLimits(min_depth=1, max_per_shape=32, burst_seconds=60.0)
    demand = ShapeDemand(ContainerSettings(image="x"), start_seconds=0.3)
    for i in range(20):
        demand.record_take(100.0 + i * 0.1, limits)
    # 20 takes, and a reserve of 4 at their pace: the next burst like it needs no start while it runs.
    assert demand.desired(103.0, limits) == 24
    capped = PoolLimits(min_depth=1, max_per_shape=16)
    other = ShapeDemand(ContainerSettings(image="x"), start_seconds=0.3)
    for i in range(20):
        other.record_take(100.0 + i * 0.1, capped)
    assert other.desired(103.0, capped) == 16  # never above the cap per shape
    # A later, separate take starts a new burst count; the floor of the big one is held, then halves.
    demand.record_take(110.0, limits)
    assert demand.burst_takes == 1
    assert demand.desired(110.0, limits) == 24
    assert demand.desired(110.0 + 61.0, limits) == 12


def test_targets_respect_the_host_cap_and_the_memory_budget_minimum_first() -> None:
    limits = PoolLimits(min_depth=1, max_total=16, memory_budget_bytes=100 * MiB)
    # 20 MiB per idle container: the budget holds 5, although 8 + 3 + 1 are wanted.
    targets = plan({"a": 8, "b": 3, "c": 1}, limits, 20 * MiB, order=["a", "b", "c"])
    assert targets == {"a": 2, "b": 2, "c": 1}
    assert sum(targets.values()) * 20 * MiB <= limits.memory_budget_bytes
    roomy = PoolLimits(min_depth=1, max_total=6, memory_budget_bytes=1 << 40)
    assert plan({"a": 8, "b": 3, "c": 1}, roomy, 20 * MiB, order=["a", "b", "c"]) == {"a": 3, "b": 2, "c": 1}
    assert plan({"a": 0}, roomy, 20 * MiB, order=["a"]) == {"a": 0}


# -- against the engine -------------------------------------------------------------------------------------


@pytest.fixture
def pool_dir(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Path]:
    work = tmp_path / f"pool-{uuid.uuid4().hex[:8]}"
    layout = PoolLayout(work)
    yield work
    for info in docker_client.api.containers(all=True, filters={"label": f"{LABEL_POOL}={layout.pool_id}"}):
        remove_container(docker_client, info["Id"])


def pool_containers(client: docker.DockerClient, work: Path) -> list[dict]:
    pool_id = PoolLayout(work).pool_id
    return client.api.containers(all=True, filters={"label": f"{LABEL_POOL}={pool_id}"})


@pytest.fixture
def keeper_thread(docker_client: docker.DockerClient, pool_dir: Path) -> Iterator[PoolKeeper]:
    keeper = PoolKeeper(docker_client, pool_dir, PoolLimits(min_depth=2, max_per_shape=4, max_total=6))
    thread = threading.Thread(target=keeper.run, daemon=True)
    thread.start()
    keeper.thread = thread  # type: ignore[attr-defined]
    wait_until(lambda: keeper.layout.socket_path.exists(), what="the keeper to listen")
    yield keeper
    keeper.stop()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert not pool_containers(docker_client, pool_dir), "the keeper left warm containers behind"


def start_keeper_process(work: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "execution.sandbox.keeper", "--work-dir", str(work), *extra]
    return subprocess.Popen(command, cwd=ROOT, start_new_session=True)


def test_a_miss_teaches_the_keeper_the_shape_and_a_claimed_container_runs_exactly_one_job(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, keeper_thread: PoolKeeper, exists
) -> None:
    pool = SharedPool(docker_client, work_dir=pool_dir)
    job = make_job(HELLO)
    settings = job.container_settings()
    key = shape_key(settings)
    assert pool.take(settings) is None  # nothing warm yet: the caller runs cold, the keeper hears of it
    wait_until(lambda: len(pool.layout.ready_entries(key)) >= 2, what="two warm containers")
    # And why it missed: new_shape, or (when the take came while the keeper was still reading the pool
    # directory on start, which lists the shapes written down by takes) shallow.
    reasons = {k: v for k, v in keeper_thread.counts.items() if k.startswith("miss_")}
    assert keeper_thread.counts["misses"] == 1 and sum(reasons.values()) == 1, keeper_thread.counts
    assert set(reasons) <= {"miss_new_shape", "miss_shallow"}
    container = pool.take(settings)
    assert container is not None and container.pooled
    claims = [owner for _, cid, owner in pool.layout.claims() if cid == container.id]
    assert claims == [pool.owner]
    result = run_job(docker_client, job, pool=pool, container=container)
    assert result.outcome == Outcome.COMPLETED and result.path == "pool"
    assert b'"hello": "world"' in result.stdout
    assert pool.reaper.flush(30)
    assert not exists(
        docker_client, container.id
    )  # single use: removed after its job, never back in the pool
    assert not any(cid == container.id for _, cid, _ in pool.layout.claims())
    assert container.id not in {e.partition("-")[2] for e in pool.layout.ready_entries(key)}
    # What the keeper makes of the shape's bursts is there for operators (pool/status.json).
    status_path = pool.layout.status_path

    def status() -> dict:
        return json.loads(status_path.read_text()) if status_path.exists() else {}

    wait_until(lambda: key in status().get("reserve", {}), what="the keeper's status of the shape")
    assert status()["reserve"][key] >= 1 and isinstance(status()["in_burst"][key], bool)
    pool.close()


def _claim_all(work: str, key: str, queue: multiprocessing.Queue) -> None:
    layout = PoolLayout(Path(work))
    won = []
    for _ in range(50):
        for entry in layout.ready_entries(key):
            if layout.claim(key, entry, owner_id()) is not None:
                won.append(entry)
    queue.put(won)


def test_concurrent_claims_from_several_processes_hand_each_container_to_one(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, keeper_thread: PoolKeeper
) -> None:
    pool = SharedPool(docker_client, work_dir=pool_dir)
    settings = make_job(HELLO).container_settings()
    key = shape_key(settings)
    pool.take(settings)
    wait_until(lambda: len(pool.layout.ready_entries(key)) >= 2, what="two warm containers")
    entries = pool.layout.ready_entries(key)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    racers = [context.Process(target=_claim_all, args=(str(pool_dir), key, queue)) for _ in range(4)]
    for racer in racers:
        racer.start()
    won = [entry for _ in racers for entry in queue.get(timeout=60)]
    for racer in racers:
        racer.join(timeout=30)
    assert len(won) == len(set(won))  # no container went to two processes
    assert set(entries) <= set(
        won
    )  # and every one that was ready went to one (the keeper refilled meanwhile)
    keeper_thread.stop()
    keeper_thread.thread.join(timeout=60)
    # The racers exited without running anything: their claims are dead, and the pool's sweep removes them
    # (or the keeper's own reconcile did, if it came round before it stopped).
    sweep_pool(docker_client, pool_dir)
    assert not list(pool.layout.claims())
    left = {info["Id"] for info in pool_containers(docker_client, pool_dir)}
    assert not left & {entry_container_id(entry) for entry in won}
    pool.close()


CLAIM_AND_HANG = """
import sys, time
from pathlib import Path
from execution.sandbox import connect
from execution.sandbox.shared_pool import SharedPool, settings_from_json
import json
pool = SharedPool(connect(), work_dir=Path(sys.argv[1]))
container = pool.take(settings_from_json(json.loads(sys.argv[2])))
print(container.id if container else "", flush=True)
time.sleep(600)
"""


def test_a_worker_killed_between_take_and_job_leaves_no_container(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, keeper_thread: PoolKeeper, exists
) -> None:
    import dataclasses
    import json

    settings = make_job(HELLO).container_settings()
    key = shape_key(settings)
    pool = SharedPool(docker_client, work_dir=pool_dir)
    pool.take(settings)
    wait_until(lambda: len(pool.layout.ready_entries(key)) >= 1, what="a warm container")
    worker = subprocess.Popen(
        [sys.executable, "-c", CLAIM_AND_HANG, str(pool_dir), json.dumps(dataclasses.asdict(settings))],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    claimed = worker.stdout.readline().strip()
    assert claimed, "the worker claimed nothing"
    assert exists(docker_client, claimed)
    worker.kill()
    worker.wait(timeout=30)
    wait_until(lambda: not exists(docker_client, claimed), timeout=30, what="the keeper to remove it")
    wait_until(
        lambda: not any(cid == claimed for _, cid, _ in pool.layout.claims()), timeout=10, what="its claim"
    )
    pool.close()


def test_a_preclaimed_container_serves_one_take_only_and_runs_one_job(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, keeper_thread: PoolKeeper, exists
) -> None:
    pool = SharedPool(docker_client, work_dir=pool_dir)
    job = make_job(HELLO)
    settings = job.container_settings()
    key = shape_key(settings)
    pool.prewarm(settings)
    wait_until(lambda: len(pool.layout.ready_entries(key)) >= 2, what="two warm containers")
    future = pool.preclaim(settings)
    assert future is not None
    future.result(timeout=60)
    held = pool.preclaimed()
    assert held is not None and held.pooled
    # Claimed by this process like any take: not in ready/ any more, its claim names us.
    assert held.id not in {entry_container_id(e) for e in pool.layout.ready_entries(key)}
    assert [owner for _, cid, owner in pool.layout.claims() if cid == held.id] == [pool.owner]
    assert pool.preclaim(settings) is None  # one per process: it already holds one of this shape
    # Another shape's take leaves it alone; the take of its shape gets it, once.
    other = make_job(HELLO, limits=SandboxLimits(memory_mb=96)).container_settings()
    assert other != settings
    assert pool.take(other) is None and pool.preclaimed() is held
    first = pool.take(settings)
    assert first is held and pool.preclaimed() is None
    second = pool.take(settings)
    assert second is None or second.id != held.id  # from ready/ (or a miss), never the same container
    result = run_job(docker_client, job, pool=pool, container=first)
    assert result.outcome == Outcome.COMPLETED and result.path == "pool"
    if second is not None:
        pool.dispose(second)
    assert pool.reaper.flush(30)
    assert not exists(docker_client, held.id)  # single use: gone after its one job
    assert not any(cid == held.id for _, cid, _ in pool.layout.claims())
    wait_until(lambda: keeper_thread.counts["hits_preclaimed"] == 1, timeout=10, what="the keeper's count")
    assert keeper_thread.counts["preclaims"] == 1
    pool.close()


def test_closing_a_pool_removes_its_preclaimed_container(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, keeper_thread: PoolKeeper, exists
) -> None:
    pool = SharedPool(docker_client, work_dir=pool_dir)
    settings = make_job(HELLO).container_settings()
    pool.prewarm(settings)
    wait_until(lambda: len(pool.layout.ready_entries(shape_key(settings))) >= 1, what="a warm container")
    pool.preclaim(settings).result(timeout=60)  # type: ignore[union-attr]
    held = pool.preclaimed()
    assert held is not None
    pool.close()
    assert not exists(docker_client, held.id)
    assert not any(cid == held.id for _, cid, _ in pool.layout.claims())


PRECLAIM_AND_HANG = """
import sys, time
from pathlib import Path
from execution.sandbox import connect
from execution.sandbox.shared_pool import SharedPool, settings_from_json
import json
pool = SharedPool(connect(), work_dir=Path(sys.argv[1]))
pool.preclaim(settings_from_json(json.loads(sys.argv[2]))).result(timeout=60)
held = pool.preclaimed()
print(held.id if held else "", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("cleaner", ["keeper", "sweep"])
def test_a_worker_killed_holding_a_preclaimed_container_leaves_nothing_behind(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, exists, cleaner: str
) -> None:
    """The pre-claim is an ordinary claim naming its process: when that process dies, the keeper's reconcile
    or, with no keeper, the sweep task's ``sweep_pool`` removes the container and its claim."""
    import dataclasses
    import json

    settings = make_job(HELLO).container_settings()
    key = shape_key(settings)
    keeper = PoolKeeper(docker_client, pool_dir, PoolLimits(min_depth=1, max_per_shape=2, max_total=2))
    thread = threading.Thread(target=keeper.run, daemon=True)
    thread.start()
    pool = SharedPool(docker_client, work_dir=pool_dir)
    try:
        wait_until(lambda: keeper.layout.socket_path.exists(), what="the keeper to listen")
        pool.prewarm(settings)
        wait_until(lambda: len(pool.layout.ready_entries(key)) >= 1, what="a warm container")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-c",
                PRECLAIM_AND_HANG,
                str(pool_dir),
                json.dumps(dataclasses.asdict(settings)),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        held = worker.stdout.readline().strip()
        assert held, "the worker pre-claimed nothing"
        assert exists(docker_client, held)
        if cleaner == "sweep":
            keeper.stop()
            thread.join(timeout=60)
            assert exists(docker_client, held)  # a claimed container is its claimer's, not the keeper's
        worker.kill()
        worker.wait(timeout=30)
        if cleaner == "sweep":
            sweep_pool(docker_client, pool_dir)
        # The claim goes last (after the container and its slot): wait for both, not for the first.
        wait_until(
            lambda: not exists(docker_client, held) and not any(cid == held for _, cid, _ in pool.layout.claims()),
            timeout=30,
            what="its removal and its claim's",
        )
    finally:
        keeper.stop()
        thread.join(timeout=60)
        pool.close()
    assert not pool_containers(docker_client, pool_dir)


def test_a_dead_keeper_leaves_running_jobs_alone_and_its_successor_rewarms_recent_shapes(
    make_job, docker_client: docker.DockerClient, pool_dir: Path, exists
) -> None:
    job = make_job(HELLO)
    settings = job.container_settings()
    key = shape_key(settings)
    pool = SharedPool(docker_client, work_dir=pool_dir)
    keeper = start_keeper_process(pool_dir, "--min-depth", "2")
    try:
        wait_until(lambda: pool.layout.socket_path.exists(), what="the keeper's socket")
        pool.take(settings)
        wait_until(lambda: len(pool.layout.ready_entries(key)) >= 2, what="two warm containers")
        wait_until(lambda: pool.layout.recent_path.exists(), what="recent.json")
        container = pool.take(settings)
        assert container is not None
        os.killpg(keeper.pid, signal.SIGKILL)
        keeper.wait(timeout=30)
        # Its containers are owned by a dead process now, but the ordinary orphan sweep leaves pool containers
        # to the pool's own sweep, which spares the one a live worker claimed.
        removed = sweep_pool(docker_client, pool_dir)
        assert removed and container.id not in removed
        result = run_job(docker_client, job, pool=pool, container=container)
        assert result.outcome == Outcome.COMPLETED and result.path == "pool"
        assert pool.reaper.flush(30)
        # A keeper killed in the middle of a start may have a create request the engine completes after the
        # sweep's listing: the next sweep removes that one (sweeps run periodically), so nothing stays.
        wait_until(
            lambda: not sweep_pool(docker_client, pool_dir) and not pool_containers(docker_client, pool_dir),
            timeout=30,
            what="the pool's sweeps to leave no container",
        )

        # The next keeper re-warms the shape used lately, before anyone asks for it again.
        keeper = start_keeper_process(pool_dir, "--min-depth", "1")
        wait_until(lambda: len(pool.layout.ready_entries(key)) >= 1, what="the re-warmed shape")
        owners = {
            (i.get("Labels") or {}).get(LABEL_OWNER, "") for i in pool_containers(docker_client, pool_dir)
        }
        assert owners and all(local_owner_is_alive(owner) for owner in owners)
    finally:
        if keeper.poll() is None:
            os.killpg(keeper.pid, signal.SIGTERM)
            keeper.wait(timeout=60)
        pool.close()
    # Stopped: it removed its warm containers on the way out.
    assert not pool_containers(docker_client, pool_dir)


def test_a_shape_asked_for_while_no_keeper_listened_is_warmed_when_one_starts(
    make_job, docker_client: docker.DockerClient, pool_dir: Path
) -> None:
    pool = SharedPool(docker_client, work_dir=pool_dir)
    settings = make_job(HELLO).container_settings()
    assert pool.take(settings) is None  # nobody listens: the notice is lost, the shape is written down
    keeper = PoolKeeper(docker_client, pool_dir, PoolLimits(min_depth=1))
    thread = threading.Thread(target=keeper.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: pool.layout.ready_entries(shape_key(settings)), what="the shape to be warmed")
    finally:
        keeper.stop()
        thread.join(timeout=60)
        pool.close()
    assert not pool_containers(docker_client, pool_dir)
