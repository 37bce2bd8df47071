"""The pool-keeper: one process per host that keeps the shared warm pool as deep as demand needs.

    python -m execution.sandbox.keeper --work-dir DIR [--memory-mb 512] [--max-per-shape 32] ...

The Celery worker's main process starts it (execution/keeper_process.py) and restarts it if it dies; the
worker processes claim its containers through the pool directory (``shared_pool.py``, which also explains
the layout). No Django here: everything comes from the command line.

Depth per container shape follows demand: enough ready containers to cover the next container start at the
current rate of takes (``rate * start latency * HEADROOM``, plus one), at least ``min_depth`` for a shape
used in the last ``idle_seconds``, and nothing for one unused longer; bounded per shape, per host, and by
the memory the idle containers hold (``memory_budget_bytes``, measured from their cgroups and shims). Bursts
are remembered: the deepest depth a shape needed lately, and one more for every take that found it empty (a
miss), stays its floor for ``burst_seconds``, then halves, so that the next burst of a recently busy shape
(a client's script, an event chain, a batch) starts on a pool as deep as the last one needed; so does the
number of takes its last burst made, plus its reserve. A take wakes the keeper at once (a datagram). During
a burst (takes less than BURST_GAP_SECONDS apart) refills start only below the shape's reserve, what lasts
through one start at the burst's pace: a container start costs the engine more CPU than a warm run, and
would slow the runs the pool is there to serve; the rest start, several in parallel, at the burst's first
pause. Shapes used lately are written to ``recent.json`` and re-warmed when a keeper starts.

Every take tells the keeper whether it hit and, if not, why (``MissReason``); ``status.json`` counts them
(``bench/execution_bench.py`` prints them per measurement). A worker's pre-claim (its next container, claimed
right after a run) is a take for the demand, counted apart (``preclaims``, ``preclaim_misses``); the run it
later serves counts as a hit (``hits_preclaimed`` too).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import enum
import json
import logging
import math
import os
import select
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import docker

from .container import connect, container_memory_bytes, owner_id, remove_container, start_container
from .pool import RepeatedFailureLog
from .shared_pool import (
    PoolLayout,
    entry_container_id,
    entry_name,
    read_entry,
    reconcile,
    settings_from_json,
    shape_key,
    write_atomically,
)
from .spec import ContainerSettings, MiB
from .workspace import Slot

logger = logging.getLogger("argus.sandbox.keeper")

#: Ready containers per (takes per second * seconds to start one): covers a burst above the recent rate.
HEADROOM = 1.5
#: Takes older than this no longer count for the rate.
RATE_WINDOW_SECONDS = 20.0
#: The rate is takes over at least this many seconds: two takes in a row are not a rate of hundreds.
MIN_RATE_SPAN_SECONDS = 1.0
#: A shape keeps more than its target this long before its surplus is removed (no start/remove churn).
SHRINK_GRACE_SECONDS = 10.0
#: Takes of a shape closer together than this belong to one burst (a client's script, an event chain, a
#: batch); a longer pause ends it.
BURST_GAP_SECONDS = 1.0
#: The takes a burst's pace is measured over.
PACE_TAKES = 5
#: What a container is assumed to hold until one has been measured.
DEFAULT_CONTAINER_BYTES = 24 * MiB
TICK_SECONDS = 0.25
RECONCILE_INTERVAL_SECONDS = 2.0


class MissReason(enum.StrEnum):
    """Why a take found no warm container, as the keeper judges it when it hears of the take."""

    #: The keeper had never heard of the shape (first use on this host, or a restart forgot it).
    NEW_SHAPE = "new_shape"
    #: Known shape, a refill was already starting: the pool was too shallow for the burst.
    REFILLING = "refilling"
    #: Known shape, nothing starting: its target was reached and still too low (or the host cap/budget).
    SHALLOW = "shallow"
    #: Entries were there, but other processes claimed them first or they had exited (idle timeout).
    RACED = "raced"


@dataclass(frozen=True)
class PoolLimits:
    min_depth: int = 1
    max_per_shape: int = 32
    max_total: int = 48
    memory_budget_bytes: int = 512 * MiB
    parallel_starts: int = 4
    idle_seconds: float = 300.0
    #: How long a shape keeps the deepest depth it needed lately (then the floor halves, and again).
    burst_seconds: float = 120.0
    #: A warm container older than this is replaced (its launcher exits by itself a little later).
    max_age_seconds: float = 1800.0


@dataclass
class ShapeDemand:
    """What the keeper knows of one container shape's demand."""

    settings: ContainerSettings
    last_take: float = 0.0  # monotonic; 0 = never (kept because recent.json says it was used)
    takes: collections.deque[float] = field(default_factory=collections.deque)
    start_seconds: float = 1.0  # moving average of the keeper's own starts
    surplus_since: float | None = None
    #: The burst-aware minimum: the deepest depth needed lately, held until ``floor_until`` (monotonic).
    floor: int = 0
    floor_until: float = 0.0
    #: Takes in the current burst (or the last one, once it is over).
    burst_takes: int = 0

    def record_take(self, now: float, limits: PoolLimits | None = None) -> None:
        if now - self.last_take > BURST_GAP_SECONDS:
            self.burst_takes = 0
        self.burst_takes += 1
        self.takes.append(now)
        self.last_take = now
        if limits is not None:
            # The next burst like this one is served from the pool without a start during it: as many
            # ready as this one took, plus what covers a start at its pace should it go on longer.
            wanted = min(limits.max_per_shape, self.burst_takes + self.reserve(now, limits))
            if wanted >= self.floor:
                self.floor, self.floor_until = wanted, now + limits.burst_seconds

    def in_burst(self, now: float) -> bool:
        return now - self.last_take <= BURST_GAP_SECONDS

    def refill_target(self, now: float, target: int, limits: PoolLimits) -> int:
        """The depth to start containers up to now. While a burst goes on, a start would take the engine's
        CPU from the very runs it serves: the pool drains towards its reserve and only then refills, and
        the rest waits for the burst's first pause."""
        return min(target, self.reserve(now, limits)) if self.in_burst(now) else target

    def reserve(self, now: float, limits: PoolLimits) -> int:
        """During a burst, the ready containers below which refills start: enough to last through one
        start at the burst's pace (the mean interval of its last takes), plus one."""
        recent = [t for t in list(self.takes)[-PACE_TAKES:] if now - t <= BURST_GAP_SECONDS * PACE_TAKES]
        if len(recent) < 2:
            return limits.min_depth
        interval = max((recent[-1] - recent[0]) / (len(recent) - 1), 0.01)
        return min(limits.max_per_shape, max(limits.min_depth, math.ceil(self.start_seconds / interval) + 1))

    def record_miss(self, now: float, limits: PoolLimits) -> None:
        """A take found the shape empty (call before ``record_take``): from now on (for ``burst_seconds``)
        it gets one more ready container than it wanted, and at least enough to cover a start at the
        burst's own pace (the time since the previous take), not the 20-second average's."""
        since_last = now - self.takes[-1] if self.takes else None
        burst_cover = math.ceil(self.start_seconds / max(since_last, 0.05) - 1e-9) + 1 if since_last else 0
        wanted = max(self.floor, self.desired(now, limits)) + 1
        self.floor = min(limits.max_per_shape, max(wanted, burst_cover))
        self.floor_until = now + limits.burst_seconds

    def rate(self, now: float) -> float:
        """Takes per second over the recent window."""
        while self.takes and now - self.takes[0] > RATE_WINDOW_SECONDS:
            self.takes.popleft()
        if len(self.takes) < 2:
            return 0.0
        return (len(self.takes) - 1) / max(now - self.takes[0], MIN_RATE_SPAN_SECONDS)

    def record_start(self, seconds: float) -> None:
        self.start_seconds = 0.7 * self.start_seconds + 0.3 * seconds

    def desired(self, now: float, limits: PoolLimits) -> int:
        if now - self.last_take > limits.idle_seconds:
            self.floor = 0
            return 0
        cover = math.ceil(self.rate(now) * self.start_seconds * HEADROOM)
        wanted = min(limits.max_per_shape, max(limits.min_depth, cover + 1 if cover else limits.min_depth))
        if wanted >= self.floor:
            self.floor, self.floor_until = wanted, now + limits.burst_seconds
        elif now > self.floor_until:  # the burst is over a while: shrink by halves, not at once
            self.floor, self.floor_until = max(wanted, self.floor // 2), now + limits.burst_seconds
        return max(wanted, self.floor)


def plan(
    desired: dict[str, int], limits: PoolLimits, container_bytes: int, order: list[str]
) -> dict[str, int]:
    """Targets per shape within the host's caps: every shape its minimum first (most recently used first),
    then one more at a time, round robin, until each has what it wants or the host cap/budget is reached."""
    room = min(limits.max_total, limits.memory_budget_bytes // max(container_bytes, 1))
    targets = dict.fromkeys(desired, 0)
    for key in order:
        if room <= 0:
            break
        give = min(desired[key], limits.min_depth, room)
        targets[key], room = give, room - give
    while room > 0:
        grew = False
        for key in order:
            if room > 0 and targets[key] < desired[key]:
                targets[key] += 1
                room -= 1
                grew = True
        if not grew:
            break
    return targets


class PoolKeeper:
    def __init__(self, client: docker.DockerClient, work_dir: Path, limits: PoolLimits) -> None:
        self.client = client
        self.layout = PoolLayout(work_dir)
        self.limits = limits
        self.owner = owner_id()
        self.stop_event = threading.Event()
        self.shapes: dict[str, ShapeDemand] = {}
        self._lock = threading.Lock()
        self._starting: collections.Counter[str] = collections.Counter()
        self._in_flight_slots: set[str] = set()
        self._starts = ThreadPoolExecutor(limits.parallel_starts, thread_name_prefix="argus-keeper-start")
        self._failures = RepeatedFailureLog()
        self._not_before = 0.0
        self._container_bytes = DEFAULT_CONTAINER_BYTES
        self._idle_bytes = 0
        self.counts = collections.Counter[str]()
        self._sock: socket.socket | None = None
        self._recent_written = ""

    # -- life -----------------------------------------------------------------------------------------

    def run(self) -> None:
        """Keep the pool until ``stop_event``. Another keeper of the same pool (a second worker on this host
        with the same work directory) holds its lock: this one stands by and takes over when it goes."""
        standing_by = False
        while not self.stop_event.is_set():
            with self.layout.keeper_lock(blocking=False) as got:
                if got:
                    self._bind()
                    try:
                        reconcile(self.client, self.layout, adopt=True)
                        self._restore_recent()
                        logger.info("pool keeper %s keeps %s", self.owner, self.layout.root)
                        self._loop()
                    finally:
                        self._shutdown()
                    return
            if not standing_by:
                logger.info("another keeper holds %s: standing by", self.layout.root)
                standing_by = True
            self.stop_event.wait(1.0)

    def stop(self) -> None:
        self.stop_event.set()

    def _bind(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.layout.socket_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(os.fspath(self.layout.socket_path))
        except OSError as exc:  # e.g. a path longer than sun_path: the keeper then only polls
            logger.warning("pool keeper: no wake-up socket (%s); polling the pool directory", exc)
            sock.close()
            return
        sock.setblocking(False)
        self._sock = sock

    def _restore_recent(self) -> None:
        now, wall = time.monotonic(), time.time()
        try:
            recent = json.loads(self.layout.recent_path.read_text())
        except (OSError, ValueError):
            recent = {}
        for key, item in recent.items():
            with contextlib.suppress(TypeError, ValueError, KeyError):
                age = wall - float(item["last_used"])
                if age <= self.limits.idle_seconds:
                    demand = ShapeDemand(settings_from_json(item["settings"]), last_take=now - age)
                    demand.start_seconds = float(item.get("start_seconds", 1.0))
                    self.shapes[key] = demand
        # Shapes a worker asked for while no keeper listened (its notice was lost): it wrote them down first.
        for path in self.layout.shapes_dir.glob("*.json"):
            with contextlib.suppress(OSError):
                age = wall - path.stat().st_mtime
                settings = self.layout.shape(path.stem)
                if path.stem not in self.shapes and settings is not None and age <= self.limits.idle_seconds:
                    self.shapes[path.stem] = ShapeDemand(settings, last_take=now - max(age, 0.0))
        if self.shapes:
            logger.info("re-warming %d recently used container shape(s)", len(self.shapes))

    def _loop(self) -> None:
        next_reconcile = time.monotonic() + RECONCILE_INTERVAL_SECONDS
        while not self.stop_event.is_set():
            self._receive(TICK_SECONDS)
            now = time.monotonic()
            if now >= next_reconcile:
                next_reconcile = now + RECONCILE_INTERVAL_SECONDS
                try:
                    reconcile(self.client, self.layout, adopt=True, in_flight=self._slots_in_flight)
                except Exception as exc:  # noqa: BLE001 - the engine may be down; try again later
                    logger.warning("pool keeper: reconciling failed: %s", exc)
                self._measure()
                self._write_recent()
                self._write_status(now)
            self._adjust(now)

    def _receive(self, timeout: float) -> None:
        """Wait up to ``timeout`` for take notices; record every one that arrived."""
        if self._sock is None:
            self.stop_event.wait(timeout)
            return
        with contextlib.suppress(InterruptedError):
            select.select([self._sock], [], [], timeout)
        now = time.monotonic()
        while True:
            try:
                data = self._sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            with contextlib.suppress(ValueError, TypeError, KeyError):
                notice = json.loads(data)
                key = str(notice["key"])
                hit = bool(notice.get("hit"))
                demand = self.shapes.get(key)
                new = demand is None
                if demand is None:
                    settings = self.layout.shape(key)
                    if settings is None or shape_key(settings) != key:
                        continue
                    demand = self.shapes[key] = ShapeDemand(settings)
                if notice.get("prewarm"):
                    demand.last_take = now
                    continue
                if notice.get("preclaimed"):
                    # A run served by its worker's pre-claim: that take was recorded when it happened.
                    self.counts["hits"] += 1
                    self.counts["hits_preclaimed"] += 1
                    demand.last_take = now
                    continue
                if notice.get("preclaim"):
                    # A worker claiming its next container ahead of the run: demand like any take, but a miss
                    # here costs no run anything (its take runs later), so it is counted apart.
                    self.counts["preclaims" if hit else "preclaim_misses"] += 1
                    if not hit:
                        demand.record_miss(now, self.limits)
                    demand.record_take(now, self.limits)
                    continue
                self.counts["hits" if hit else "misses"] += 1
                if not hit:
                    self.counts[f"miss_{self._miss_reason(key, new, bool(notice.get('raced')))}"] += 1
                    demand.record_miss(now, self.limits)
                demand.record_take(now, self.limits)

    def _miss_reason(self, key: str, new: bool, raced: bool) -> MissReason:
        if new:
            return MissReason.NEW_SHAPE
        if raced:
            return MissReason.RACED
        with self._lock:
            starting = self._starting[key]
        return MissReason.REFILLING if starting else MissReason.SHALLOW

    # -- depth ----------------------------------------------------------------------------------------

    def _adjust(self, now: float) -> None:
        ready = {key: self.layout.ready_entries(key) for key in self.shapes}
        desired = {key: demand.desired(now, self.limits) for key, demand in self.shapes.items()}
        order = sorted(self.shapes, key=lambda k: self.shapes[k].last_take, reverse=True)
        targets = plan(desired, self.limits, self._container_bytes, order)
        for key in order:
            demand, entries, target = self.shapes[key], ready[key], targets[key]
            with self._lock:
                starting = self._starting[key]
            have = len(entries) + starting
            wanted = demand.refill_target(now, target, self.limits)
            while (
                have < wanted
                and now >= self._not_before
                and self._starts_in_flight() < self.limits.parallel_starts
            ):
                self._start(key, demand.settings)
                have += 1
            surplus = len(entries) - target
            # Old containers are replaced whatever the demand.
            too_old = [e for e in entries if self._age(e) > self.limits.max_age_seconds]
            if surplus > 0:
                demand.surplus_since = demand.surplus_since or now
                if now - demand.surplus_since >= SHRINK_GRACE_SECONDS or target == 0:
                    too_old = list(dict.fromkeys([*entries[:surplus], *too_old]))
                    demand.surplus_since = None
            else:
                demand.surplus_since = None
            for entry in too_old:
                self._retire(key, entry)
        for key in [k for k, d in self.shapes.items() if desired[k] == 0 and not ready[k]]:
            with self._lock:
                idle = not self._starting[key]
            if idle and now - self.shapes[key].last_take > self.limits.idle_seconds:
                del self.shapes[key]

    @staticmethod
    def _age(entry: str) -> float:
        with contextlib.suppress(ValueError):
            return time.time() - int(entry.partition("-")[0]) / 1e9
        return 0.0

    def _slots_in_flight(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._in_flight_slots)

    def _starts_in_flight(self) -> int:
        with self._lock:
            return sum(self._starting.values())

    def _start(self, key: str, settings: ContainerSettings) -> None:
        with self._lock:
            self._starting[key] += 1
        self._starts.submit(self._start_one, key, settings)

    def _start_one(self, key: str, settings: ContainerSettings) -> None:
        slot = None
        try:
            slot = Slot.create(self.layout.work_dir)
            with self._lock:
                self._in_flight_slots.add(slot.root.name)
            began = time.perf_counter()
            container = start_container(
                self.client,
                settings,
                slot,
                owner=self.owner,
                idle_timeout=int(self.limits.max_age_seconds) + 120,
                pool_id=self.layout.pool_id,
                attach=False,
            )
            seconds = time.perf_counter() - began
        except Exception as exc:  # noqa: BLE001 - keep keeping; workers run cold meanwhile
            if slot is not None:
                slot.destroy()
            self._failures.failed("pool keeper could not start a container for %s: %s", settings.image, exc)
            self._not_before = time.monotonic() + 1.0
            with self._lock:
                self._starting[key] -= 1
                if slot is not None:
                    self._in_flight_slots.discard(slot.root.name)
            return
        self._failures.succeeded("pool keeper starts containers for %s again", settings.image)
        try:
            if self.stop_event.is_set():
                raise RuntimeError("stopping")
            shape_dir = self.layout.shape_dir(key)
            shape_dir.mkdir(mode=0o700, exist_ok=True)
            entry = entry_name(container.id)
            tmp = shape_dir / f".{entry}"
            entry_data = {"id": container.id, "slot": slot.root.name, "key": key}
            entry_data["timings"] = container.timings
            tmp.write_text(json.dumps(entry_data))
            os.rename(tmp, shape_dir / entry)  # appears complete, or not at all
            self.counts["starts"] += 1
            demand = self.shapes.get(key)
            if demand is not None:
                demand.record_start(seconds)
        except Exception:  # noqa: BLE001 - stopping, or the directory is gone: do not leak it
            with contextlib.suppress(Exception):
                remove_container(self.client, container.id)
            slot.destroy()
        finally:
            with self._lock:
                self._starting[key] -= 1
                self._in_flight_slots.discard(slot.root.name)

    def _retire(self, key: str, entry: str) -> None:
        """Remove a ready container nobody needs (claimed first, so no worker can take it meanwhile)."""
        claim = self.layout.claim(key, entry, self.owner)
        if claim is None:
            return  # a worker took it: fine
        info = read_entry(claim) or {}
        with contextlib.suppress(Exception):
            remove_container(self.client, entry_container_id(entry))
        slot_name = str(info.get("slot", ""))
        if slot_name.startswith("slot-"):
            Slot(self.layout.work_dir / slot_name).destroy()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(claim)
        self.counts["retired"] += 1

    # -- figures --------------------------------------------------------------------------------------

    def _measure(self) -> None:
        sizes = []
        for key in self.shapes:
            for entry in self.layout.ready_entries(key):
                size = container_memory_bytes(entry_container_id(entry))
                if size is not None:
                    sizes.append(size)
        self._idle_bytes = sum(sizes)
        if sizes:
            self._container_bytes = max(sum(sizes) // len(sizes), MiB)

    def _write_recent(self) -> None:
        wall, now = time.time(), time.monotonic()
        recent = {
            key: {
                "settings": asdict(demand.settings),
                "last_used": wall - (now - demand.last_take),
                "start_seconds": round(demand.start_seconds, 3),
            }
            for key, demand in self.shapes.items()
            if demand.last_take
        }
        text = json.dumps(recent, sort_keys=True)
        if text != self._recent_written:
            write_atomically(self.layout.recent_path, text.encode())
            self._recent_written = text

    def _write_status(self, now: float) -> None:
        status = {
            "keeper": self.owner,
            "ready": {key: len(self.layout.ready_entries(key)) for key in self.shapes},
            "rate_per_second": {key: round(d.rate(now), 3) for key, d in self.shapes.items()},
            "floor": {key: d.floor for key, d in self.shapes.items()},
            # During a burst refills start only below the reserve (the rest waits for its first pause).
            "in_burst": {key: d.in_burst(now) for key, d in self.shapes.items()},
            "reserve": {key: d.reserve(now, self.limits) for key, d in self.shapes.items()},
            "start_seconds": {key: round(d.start_seconds, 3) for key, d in self.shapes.items()},
            "idle_memory_bytes": self._idle_bytes,
            "container_bytes": self._container_bytes,
            "memory_budget_bytes": self.limits.memory_budget_bytes,
            "counts": dict(self.counts),
            "written_at": time.time(),
        }
        with contextlib.suppress(OSError):
            write_atomically(self.layout.status_path, json.dumps(status).encode())

    # -- end ------------------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Remove every warm container (in parallel) once the starts in flight are done."""
        self.stop_event.set()
        self._starts.shutdown(wait=True)
        with contextlib.suppress(Exception):
            self._write_recent()
        with ThreadPoolExecutor(4) as removers:
            for key_dir in list(self.layout.ready_dir.iterdir()):
                for entry in self.layout.ready_entries(key_dir.name):
                    removers.submit(self._retire, key_dir.name, entry)
        # And the claimed ones whose worker process is gone (e.g. one killed while holding its pre-claimed
        # next container): no keeper will come round to them before the next start or sweep.
        with contextlib.suppress(Exception):
            reconcile(self.client, self.layout, adopt=False)
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.layout.socket_path)


def _stop_when_orphaned(keeper: PoolKeeper, parent_pid: int) -> None:
    """The worker's main process died without stopping us (SIGKILL): clean up and go."""
    while not keeper.stop_event.wait(1.0):
        if os.getppid() != parent_pid:
            logger.warning("pool keeper: worker %d is gone: removing the warm containers", parent_pid)
            keeper.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Keep the host's shared warm sandbox pool.")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--docker-url", default=None)
    defaults = PoolLimits()
    parser.add_argument("--min-depth", type=int, default=defaults.min_depth)
    parser.add_argument("--max-per-shape", type=int, default=defaults.max_per_shape)
    parser.add_argument("--max-total", type=int, default=defaults.max_total)
    parser.add_argument("--memory-mb", type=int, default=defaults.memory_budget_bytes // MiB)
    parser.add_argument("--parallel-starts", type=int, default=defaults.parallel_starts)
    parser.add_argument("--idle-seconds", type=float, default=defaults.idle_seconds)
    parser.add_argument("--burst-seconds", type=float, default=defaults.burst_seconds)
    parser.add_argument("--parent-pid", type=int, default=0, help="stop when this process is gone")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/keeper] %(message)s")
    limits = PoolLimits(
        min_depth=args.min_depth,
        max_per_shape=args.max_per_shape,
        max_total=args.max_total,
        memory_budget_bytes=args.memory_mb * MiB,
        parallel_starts=max(1, args.parallel_starts),
        idle_seconds=args.idle_seconds,
        burst_seconds=args.burst_seconds,
    )
    client = None
    while client is None:
        try:
            client = connect(args.docker_url, timeout=60)
        except Exception as exc:  # noqa: BLE001 - wait for the engine
            logger.warning("pool keeper: engine unreachable (%s); retrying", exc)
            time.sleep(2)
    keeper = PoolKeeper(client, args.work_dir, limits)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: keeper.stop())
    if args.parent_pid:
        threading.Thread(target=_stop_when_orphaned, args=(keeper, args.parent_pid), daemon=True).start()
    keeper.run()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
