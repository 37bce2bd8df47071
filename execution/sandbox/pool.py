"""Pre-started, single-use sandbox containers, and a background remover.

Starting a container is most of the cost of a cold run (the runtime's container setup), so the
pool does it ahead of time: it keeps up to ``size`` containers per ContainerSettings started,
each with its launcher blocked on stdin and its own empty slot directory mounted. ``take`` hands
one out (a job then costs one write and one read on the attach socket) and a filler thread
starts a replacement. A container runs exactly one job and is then removed by the Reaper thread,
off the job's critical path (and, with a RemovalDeferral, off the next jobs' too).

A pool belongs to one process: it holds attach sockets and threads, which do not survive fork.
Create it in each worker process (e.g. on Celery's worker_process_init), not before forking.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import docker

from .container import (
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    StartedContainer,
    container_memory_bytes,
    discard,
    owner_id,
    start_container,
)
from .spec import ContainerSettings, MiB
from .workspace import Slot, ensure_work_dir

logger = logging.getLogger(__name__)

DEFAULT_REFILL_DELAY_SECONDS = 0.25
#: While starts keep failing (e.g. the engine is down), the filler retries every second but says so at most
#: this often (per pool, that is per worker process).
FAILURE_LOG_INTERVAL_SECONDS = 60.0


class RepeatedFailureLog:
    """Logs the first of a run of failures, then at most one line per interval with the count meanwhile,
    and one line when things work again."""

    def __init__(self, interval: float = FAILURE_LOG_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self.failures = 0
        self._next_log = 0.0
        self._unlogged = 0

    def failed(self, message: str, *args: object) -> None:
        self.failures += 1
        now = time.monotonic()
        if now < self._next_log:
            self._unlogged += 1
            return
        suffix = f" ({self._unlogged} more failures since the last report)" if self._unlogged else ""
        logger.warning(message + "%s", *args, suffix)
        self._next_log, self._unlogged = now + self.interval, 0

    def succeeded(self, message: str, *args: object) -> None:
        if self.failures:
            logger.info(message + " (after %d failed attempts)", *args, self.failures)
        self.failures, self._next_log, self._unlogged = 0, 0.0, 0


@dataclass(frozen=True)
class RemovalDeferral:
    """When a used container's end may wait. Its end (the engine handling its exit, then its removal) costs
    the engine more CPU than a run's own work, so while this process runs jobs back to back it waits for
    a pause (``quiet_seconds`` without a new one), within bounds: at most ``max_waiting`` containers and
    ``max_waiting_bytes`` of memory waiting, none longer than ``max_delay_seconds``. A waiting container
    holds only its launcher, blocked until it is detached (every process of the plugin was killed before
    the result was sent), and what its tmpfs mounts still hold: one that holds more than the byte bound by
    itself is removed at once. ``flush``, ``close``, the worker's exit (its launchers see their stdin end)
    and the sweep of a dead worker's containers end them all."""

    quiet_seconds: float = 0.5
    max_waiting: int = 16
    max_waiting_bytes: int = 160 * MiB
    max_delay_seconds: float = 10.0


@dataclass(eq=False)
class _Waiting:
    """A container queued for removal: when it came, and (measured by the reaper's thread, off the run's
    path) the memory it held then."""

    container: StartedContainer
    submitted_at: float
    held: int | None = None


class Reaper:
    """Removes finished containers (and their slots) in a background thread; with a ``deferral``, at
    quiet moments (see RemovalDeferral)."""

    def __init__(
        self,
        client: docker.DockerClient,
        name: str = "argus-sandbox-reaper",
        on_removed: Callable[[StartedContainer], None] | None = None,
        deferral: RemovalDeferral | None = None,
    ) -> None:
        self._client = client
        self._on_removed = on_removed
        self._deferral = deferral
        self._queue: collections.deque[_Waiting] = collections.deque()  # oldest first
        self._cond = threading.Condition()
        self._busy = 0
        self._closed = False
        self._flushing = 0
        self._last_submit = 0.0
        self.removed = 0
        self.last_remove_seconds = 0.0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, container: StartedContainer) -> None:
        with self._cond:
            if self._closed:
                # Too late for the thread: do it inline rather than leak the container.
                self._remove(container)
                return
            self._last_submit = time.monotonic()
            self._queue.append(_Waiting(container, self._last_submit))
            self._cond.notify_all()

    def waiting(self) -> int:
        """Containers queued for removal and not yet removed."""
        with self._cond:
            return len(self._queue)

    def flush(self, timeout: float = 30.0) -> bool:
        """Remove every submitted container now (deferred or not) and wait for it; False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                while self._queue or self._busy:
                    remaining = end - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._flushing -= 1
        return True

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)
        with self._cond:
            self._closed = True
            leftovers = [waiting.container for waiting in self._queue]
            self._queue.clear()
            self._cond.notify_all()
        for container in leftovers:
            self._remove(container)
        self._thread.join(timeout=5)

    def _due_in(self, now: float) -> float:
        """Seconds until the oldest waiting removal is due (0: now). Called with the lock held."""
        deferral = self._deferral
        if (
            deferral is None
            or self._flushing
            or self._closed
            or len(self._queue) > deferral.max_waiting
            or sum(waiting.held or 0 for waiting in self._queue) > deferral.max_waiting_bytes
        ):
            return 0.0
        quiet_at = self._last_submit + deferral.quiet_seconds
        latest = self._queue[0].submitted_at + deferral.max_delay_seconds
        return max(0.0, min(quiet_at, latest) - now)

    def _measure(self) -> None:
        """The memory of every newly queued container, read here rather than on the run's path."""
        with self._cond:
            new = [waiting for waiting in self._queue if waiting.held is None]
        for waiting in new:
            held = container_memory_bytes(waiting.container.id) or 0
            with self._cond:
                waiting.held = held

    def _loop(self) -> None:
        while True:
            if self._deferral is not None:
                self._measure()
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                if any(waiting.held is None for waiting in self._queue) and self._deferral is not None:
                    continue  # measure the newcomers first
                wait = self._due_in(time.monotonic())
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                waiting = self._queue.popleft()
                self._busy += 1
            try:
                self._remove(waiting.container)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _remove(self, container: StartedContainer) -> None:
        started = time.perf_counter()
        try:
            discard(self._client, container)
        except Exception:
            logger.exception("could not remove sandbox container %s", container.id)
        else:
            if self._on_removed is not None:
                self._on_removed(container)
        self.last_remove_seconds = time.perf_counter() - started
        self.removed += 1


class ContainerPool:
    """Keeps up to ``size`` warm containers per ContainerSettings in this process."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        work_dir: Path,
        size: int = 2,
        max_idle_seconds: float = 300.0,
        idle_timeout: int = DEFAULT_IDLE_TIMEOUT_SECONDS,
        refill_delay_seconds: float = DEFAULT_REFILL_DELAY_SECONDS,
    ) -> None:
        if size < 1:
            raise ValueError("pool size must be at least 1")
        self.client = client
        self.work_dir = ensure_work_dir(Path(work_dir))
        self.size = size
        self.max_idle_seconds = max_idle_seconds
        self.refill_delay_seconds = refill_delay_seconds
        self.idle_timeout = max(idle_timeout, int(max_idle_seconds) + 60)
        self.owner = owner_id()
        self.reaper = Reaper(client)
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._ready: dict[ContainerSettings, collections.deque[StartedContainer]] = {}
        self._starting: collections.Counter[ContainerSettings] = collections.Counter()
        self._last_used: dict[ContainerSettings, float] = {}
        # When each key first fell short of ``size`` (cleared once it is full again).
        self._short_since: dict[ContainerSettings, float] = {}
        self._closed = False
        self.last_error: BaseException | None = None
        self._start_failures = RepeatedFailureLog()
        self._filler = threading.Thread(target=self._fill_loop, name="argus-sandbox-pool", daemon=True)
        self._filler.start()
        # Best effort for processes that forget close(): pre-started containers must not outlive us.
        ref = weakref.ref(self)
        atexit.register(lambda: (pool := ref()) is not None and pool.close())

    # -- public API -----------------------------------------------------------------------------

    def prewarm(self, settings: ContainerSettings) -> None:
        """Start keeping warm containers for ``settings`` (returns at once)."""
        with self._cond:
            self._touch(settings)

    def take(self, settings: ContainerSettings) -> StartedContainer | None:
        """A started container for ``settings``, or None (the caller then runs cold)."""
        if os.getpid() != self._pid:
            return None  # forked copy of the pool: its sockets belong to the parent
        with self._cond:
            if self._closed:
                return None
            self._touch(settings)
            ready = self._ready.get(settings)
            while ready:
                container = ready.popleft()
                self._short_since.setdefault(settings, time.monotonic())
                self._cond.notify_all()  # the filler starts a replacement
                if container.is_healthy():
                    return container
                self.reaper.submit(container)
        return None

    def put_back(self, container: StartedContainer) -> bool:
        """Take back a container ``take`` handed out that never received a job (its run could not be
        claimed); False when it cannot be kept (not this pool's, unhealthy, or the pool is full)."""
        if os.getpid() != self._pid or not container.pooled or not container.is_healthy():
            return False
        with self._cond:
            ready = self._ready.get(container.settings)
            if self._closed or ready is None:
                return False
            if container in ready:
                return True
            if len(ready) + self._starting[container.settings] >= self.size:
                return False
            ready.appendleft(container)
            self._cond.notify_all()
        return True

    def dispose(self, container: StartedContainer) -> None:
        """Queue a used (or unwanted) container for removal."""
        self.reaper.submit(container)

    def ready_count(self, settings: ContainerSettings) -> int:
        with self._cond:
            return len(self._ready.get(settings, ()))

    def wait_ready(
        self, settings: ContainerSettings, count: int | None = None, timeout: float = 60.0
    ) -> bool:
        """Block until ``count`` (default: size) containers are warm for ``settings``."""
        want = self.size if count is None else count
        end = time.monotonic() + timeout
        with self._cond:
            self._touch(settings)
            while len(self._ready.get(settings, ())) < want:
                remaining = end - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 60.0) -> None:
        """Remove every warm container and wait for pending removals. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            warm = [c for q in self._ready.values() for c in q]
            self._ready.clear()
            self._cond.notify_all()
        self._filler.join(timeout=timeout)
        with self._cond:
            # A start that was in flight when we closed has been handed back by the filler.
            warm += [c for q in self._ready.values() for c in q]
            self._ready.clear()
        for container in warm:
            self.reaper.submit(container)
        self.reaper.close(timeout)

    def __enter__(self) -> ContainerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- filler thread --------------------------------------------------------------------------

    def _touch(self, settings: ContainerSettings) -> None:
        now = time.monotonic()
        if settings not in self._ready:
            self._ready[settings] = collections.deque()
            self._short_since[settings] = now - self.refill_delay_seconds  # fill a new key at once
        self._last_used[settings] = now
        self._cond.notify_all()

    def _next_to_start(self, now: float) -> tuple[ContainerSettings | None, float]:
        """The key to refill first and when it may start.

        A refill waits ``refill_delay_seconds`` after a key first fell short: starting a container
        is CPU-heavy for the engine, and doing it while the job that just took a container runs
        slows that job down. Under sustained load the key stays short, so refills then follow each
        other without further delay.
        """
        best: ContainerSettings | None = None
        best_at = 0.0
        for settings, ready in self._ready.items():
            if len(ready) + self._starting[settings] >= self.size:
                self._short_since.pop(settings, None)
                continue
            at = self._short_since.setdefault(settings, now) + self.refill_delay_seconds
            if best is None or at < best_at:
                best, best_at = settings, at
        return best, best_at

    def _expire(self) -> None:
        """Drop containers idle for too long, and settings nobody asked for lately."""
        now = time.monotonic()
        for settings in list(self._ready):
            ready = self._ready[settings]
            while ready and now - ready[0].started_at > self.max_idle_seconds:
                self.reaper.submit(ready.popleft())
            if now - self._last_used.get(settings, 0) > self.max_idle_seconds:
                for container in ready:
                    self.reaper.submit(container)
                del self._ready[settings]
                self._last_used.pop(settings, None)

    def _fill_loop(self) -> None:
        not_before = 0.0  # back-off after a failed start
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    self._expire()
                    now = time.monotonic()
                    settings, start_at = self._next_to_start(now)
                    if settings is None:
                        self._cond.wait(min(self.max_idle_seconds, 30.0))
                        continue
                    start_at = max(start_at, not_before)
                    if start_at <= now:
                        break
                    self._cond.wait(start_at - now)
                self._starting[settings] += 1
            container = None
            try:
                container = self._start(settings)
                not_before = 0.0
                self._start_failures.succeeded("pre-starting containers for %s works again", settings.image)
            except Exception as exc:  # noqa: BLE001 - keep the filler alive; callers fall back to cold
                self.last_error = exc
                self._start_failures.failed("could not pre-start a container for %s: %s", settings.image, exc)
                not_before = time.monotonic() + 1.0
            finally:
                with self._cond:
                    self._starting[settings] -= 1
                    if container is not None:
                        if self._closed or settings not in self._ready:
                            self.reaper.submit(container)
                        else:
                            self._ready[settings].append(container)
                    self._cond.notify_all()

    def _start(self, settings: ContainerSettings) -> StartedContainer:
        slot = Slot.create(self.work_dir)
        try:
            container = start_container(
                self.client, settings, slot, owner=self.owner, idle_timeout=self.idle_timeout
            )
        except BaseException:
            slot.destroy()
            raise
        container.pooled = True
        return container


def close_quietly(pool: ContainerPool | None) -> None:
    if pool is not None:
        with contextlib.suppress(Exception):
            pool.close()
