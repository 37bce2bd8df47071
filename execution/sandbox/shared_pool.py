"""The host's warm pool as the worker processes see it: claim a pre-started container, attach, run, remove.

One pool per host (per sandbox work directory), kept by one pool-keeper process (``keeper.py``) and shared
by every worker process. Its state is a directory, so that a claim is one atomic ``rename`` that survives
the death of any party:

    <work_dir>/pool/ready/<shape key>/<entry>     a started container nobody has claimed (JSON: id, slot)
    <work_dir>/pool/claimed/<entry>@<owner>       claimed by the worker process ``owner`` (host:pid:start)
    <work_dir>/pool/shapes/<shape key>.json       the ContainerSettings behind a key
    <work_dir>/pool/keeper.lock                   flock()ed by the live keeper (one per pool)
    <work_dir>/pool/keeper.sock                   datagrams: "a take happened" (wakes the keeper at once)
    <work_dir>/pool/recent.json, status.json      shapes used lately (re-warmed after a restart); figures

``<entry>`` is ``<start time ns>-<container id>``. A container is started with stdin open and nobody
attached; the launcher waits for its job and writes nothing meanwhile. Whoever renames ``ready/…/<entry>``
into ``claimed/`` owns the container (a second rename of the same entry fails: no container runs twice),
attaches to it and sends the job. Used containers are removed, never returned (single use).

A worker process may claim and attach its NEXT container ahead of time (``SharedPool.preclaim``, right after
a run, for the shape it just used), so that the claim and the attach are off the next run's critical path.
A pre-claimed container is claimed like any other (its claim file names the process: if the process dies,
the keeper or the sweep removes it), is handed to at most one take, and each process holds at most one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker
import docker.errors

from .container import (
    LABEL_POOL,
    LABEL_SLOT,
    StartedContainer,
    attach_socket,
    docker_errors,
    local_owner_is_alive,
    owner_id,
    remove_container,
)
from .errors import DockerUnavailable
from .pool import Reaper, RemovalDeferral
from .spec import ContainerSettings
from .workspace import Slot, ensure_work_dir

logger = logging.getLogger(__name__)

POOL_DIR_NAME = "pool"
#: A claimed container given back unused (its run was not claimed, e.g. its tenant at its cap) is held by its
#: process for the run's retry this long, then removed.
HELD_SECONDS = 60.0
#: A container pre-claimed for the next run of its shape is used by a take within this long, else removed at
#: the next take (well within the launcher's idle timeout, the keeper's max age plus two minutes).
PRECLAIM_SECONDS = 600.0
#: A take of the shape being pre-claimed waits this long at most for that pre-claim (a rename and an attach).
PRECLAIM_WAIT_SECONDS = 2.0
CLAIM_SEPARATOR = "@"


def shape_key(settings: ContainerSettings) -> str:
    text = json.dumps(dataclasses.asdict(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_from_json(data: dict[str, Any]) -> ContainerSettings:
    fields = {f.name for f in dataclasses.fields(ContainerSettings)}
    return ContainerSettings(**{k: v for k, v in data.items() if k in fields})


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class PoolLayout:
    """The pool directory's paths, and the moves everyone makes in it."""

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = ensure_work_dir(Path(work_dir))
        self.root = self.work_dir / POOL_DIR_NAME
        self.ready_dir = self.root / "ready"
        self.claimed_dir = self.root / "claimed"
        self.shapes_dir = self.root / "shapes"
        self.lock_path = self.root / "keeper.lock"
        self.socket_path = self.root / "keeper.sock"
        self.recent_path = self.root / "recent.json"
        self.status_path = self.root / "status.json"
        for directory in (self.root, self.ready_dir, self.claimed_dir, self.shapes_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
        # Names the pool's containers (label), unique per host and work directory.
        where = f"{socket.gethostname()}:{self.root.resolve()}"
        self.pool_id = hashlib.sha256(where.encode()).hexdigest()[:16]

    def shape_dir(self, key: str) -> Path:
        return self.ready_dir / key

    def remember_shape(self, key: str, settings: ContainerSettings) -> None:
        """Written down (and touched at each take) before the keeper is told: a keeper that was not listening
        finds the shapes used lately here when it starts."""
        path = self.shapes_dir / f"{key}.json"
        try:
            os.utime(path)
        except FileNotFoundError:
            write_atomically(path, json.dumps(dataclasses.asdict(settings)).encode())

    def shape(self, key: str) -> ContainerSettings | None:
        try:
            return settings_from_json(json.loads((self.shapes_dir / f"{key}.json").read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def ready_entries(self, key: str) -> list[str]:
        """Oldest first (their launchers have surely finished booting)."""
        try:
            return sorted(name for name in os.listdir(self.shape_dir(key)) if not name.startswith("."))
        except FileNotFoundError:
            return []

    def claim(self, key: str, entry: str, owner: str) -> Path | None:
        """Move ``entry`` from ready to claimed by ``owner``: the claim file, or None if someone was first."""
        claimed = self.claimed_dir / f"{entry}{CLAIM_SEPARATOR}{owner}"
        try:
            os.rename(self.shape_dir(key) / entry, claimed)
        except FileNotFoundError:
            return None
        return claimed

    def claims(self) -> Iterator[tuple[Path, str, str]]:
        """(claim file, container id, claimer) of every claimed container."""
        for name in os.listdir(self.claimed_dir):
            if name.startswith("."):
                continue
            entry, _, owner = name.partition(CLAIM_SEPARATOR)
            yield self.claimed_dir / name, entry_container_id(entry), owner

    @contextlib.contextmanager
    def keeper_lock(self, blocking: bool) -> Iterator[bool]:
        """Held by the live keeper for its whole life; True when this process got it."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                got = True
            except BlockingIOError:
                got = False
            yield got
        finally:
            os.close(fd)  # releases the lock


def entry_name(container_id: str) -> str:
    return f"{time.time_ns():020d}-{container_id}"


def entry_container_id(entry: str) -> str:
    return entry.partition("-")[2]


def read_entry(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class SharedPool:
    """A worker process's handle on the host pool: ``take``, ``put_back``, ``dispose`` as ContainerPool's,
    for ``runner.acquire``/``run_job``. Creating one starts no container: the keeper does that."""

    def __init__(
        self, client: docker.DockerClient, *, work_dir: Path, removals: RemovalDeferral | None = None
    ) -> None:
        self.client = client
        self.layout = PoolLayout(work_dir)
        self.work_dir = self.layout.work_dir
        self.owner = owner_id()
        self.reaper = Reaper(
            client,
            name="argus-sandbox-shared-reaper",
            on_removed=lambda c: self.forget_claim(c.id),
            deferral=removals,
        )
        self._pid = os.getpid()
        self._claims: dict[str, Path] = {}
        self._held: dict[ContainerSettings, list[tuple[float, StartedContainer]]] = {}
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._notify.setblocking(False)
        # The pre-claim: at most one container per process, claimed by a thread of its own.
        self._lock = threading.Lock()
        self._preclaimed: tuple[float, StartedContainer] | None = None
        self._preclaiming: tuple[str, Future[None]] | None = None
        self._preclaimer: ThreadPoolExecutor | None = None
        self._closed = False
        self.hits = 0
        self.misses = 0
        self.preclaimed_hits = 0

    def take(self, settings: ContainerSettings) -> StartedContainer | None:
        """A claimed, attached warm container for ``settings``, or None (the caller then runs cold)."""
        if os.getpid() != self._pid:
            return None
        key = shape_key(settings)
        self.layout.remember_shape(key, settings)
        container = self._take_preclaimed(key, settings)
        if container is not None:
            # It left the pool when it was pre-claimed (the keeper counted that take): a hit, not a new take.
            self._tell_keeper(key, hit=True, preclaimed=True)
            self.hits += 1
            self.preclaimed_hits += 1
            return container
        container = self._take_held(settings)
        entries = [] if container is not None else self.layout.ready_entries(key)
        for entry in entries:
            claim = self.layout.claim(key, entry, self.owner)
            if claim is None:
                continue  # another worker process was first
            container = self._attach(claim, entry, settings)
            if container is not None:
                break
        # Never waits for the keeper: a datagram, and the caller starts its own container on a miss.
        self._tell_keeper(key, hit=container is not None, raced=bool(entries))
        if container is None:
            self.misses += 1
        else:
            self.hits += 1
        return container

    def put_back(self, container: StartedContainer) -> bool:
        """Hold a container ``take`` handed out that never received a job, for this process's next take of
        its shape (within HELD_SECONDS). It cannot go back to the host pool: detaching closes the launcher's
        stdin, so a claimed container is used by its claimer or removed. False when it cannot be kept."""
        if os.getpid() != self._pid or not container.pooled or not container.is_healthy():
            return False
        self._expire_held()
        self._held.setdefault(container.settings, []).append((time.monotonic(), container))
        return True

    def held(self, settings: ContainerSettings) -> list[StartedContainer]:
        return [container for _, container in self._held.get(settings, [])]

    def preclaim(self, settings: ContainerSettings) -> Future[None] | None:
        """Claim and attach a warm container for this process's next take of ``settings``, in the background
        (returns at once; the future is for tests). Replaces (removes) a pre-claimed container of another
        shape: a process holds one at most. None when there is nothing to do."""
        if os.getpid() != self._pid:
            return None
        key = shape_key(settings)
        with self._lock:
            if self._closed:
                return None
            if self._preclaiming is not None and not self._preclaiming[1].done():
                return None  # one at a time; the next run's end tries again
            if self._preclaimed is not None and self._preclaimed[1].settings == settings:
                return None  # already holding one for this shape
            if self._preclaimer is None:
                self._preclaimer = ThreadPoolExecutor(1, thread_name_prefix="argus-sandbox-preclaim")
            future = self._preclaimer.submit(self._preclaim, key, settings)
            self._preclaiming = (key, future)
        return future

    def preclaimed(self) -> StartedContainer | None:
        """The container this process holds for its next take, if any."""
        with self._lock:
            return self._preclaimed[1] if self._preclaimed is not None else None

    def _preclaim(self, key: str, settings: ContainerSettings) -> None:
        entries = self.layout.ready_entries(key)
        container = None
        for entry in entries:
            claim = self.layout.claim(key, entry, self.owner)
            if claim is None:
                continue
            container = self._attach(claim, entry, settings)
            if container is not None:
                break
        self._tell_keeper(key, hit=container is not None, raced=bool(entries), preclaim=True)
        if container is None:
            return
        with self._lock:
            replaced = self._preclaimed
            if self._closed:
                replaced, container = (0.0, container), None
            else:
                self._preclaimed = (time.monotonic(), container)
        if replaced is not None:
            self.dispose(replaced[1])

    def _take_preclaimed(self, key: str, settings: ContainerSettings) -> StartedContainer | None:
        """The pre-claimed container if it is of this shape, fresh and healthy (each is handed out once).
        A pre-claim of this shape in flight is waited for (it is a rename and an attach)."""
        with self._lock:
            pending = self._preclaiming
        if pending is not None and pending[0] == key:
            with contextlib.suppress(Exception):
                pending[1].result(timeout=PRECLAIM_WAIT_SECONDS)
        with self._lock:
            held = self._preclaimed
            if held is None:
                return None
            at, container = held
            stale = time.monotonic() - at > PRECLAIM_SECONDS
            if container.settings != settings and not stale:
                return None  # kept for a take of its own shape; the next pre-claim replaces it
            self._preclaimed = None
        if not stale and container.is_healthy():
            return container
        self.dispose(container)
        return None

    def prewarm(self, settings: ContainerSettings) -> None:
        """Tell the keeper this shape is wanted (as a take would), without taking anything."""
        key = shape_key(settings)
        self.layout.remember_shape(key, settings)
        self._tell_keeper(key, prewarm=True)

    def wait_ready(self, settings: ContainerSettings, count: int = 1, timeout: float = 60.0) -> bool:
        """Block until the host pool holds ``count`` warm containers for ``settings`` (tests, benches)."""
        key = shape_key(settings)
        deadline = time.monotonic() + timeout
        while len(self.layout.ready_entries(key)) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def _take_held(self, settings: ContainerSettings) -> StartedContainer | None:
        self._expire_held()
        held = self._held.get(settings, [])
        while held:
            _, container = held.pop(0)
            if container.is_healthy():
                return container
            self.dispose(container)
        return None

    def _expire_held(self) -> None:
        now = time.monotonic()
        for held in self._held.values():
            while held and now - held[0][0] > HELD_SECONDS:
                self.dispose(held.pop(0)[1])

    def dispose(self, container: StartedContainer) -> None:
        self.reaper.submit(container)

    def close(self, timeout: float = 60.0) -> None:
        with self._lock:
            self._closed = True
            preclaimer = self._preclaimer
        if preclaimer is not None:
            preclaimer.shutdown(wait=True)
        with self._lock:
            preclaimed, self._preclaimed = self._preclaimed, None
        if preclaimed is not None:
            self.dispose(preclaimed[1])
        for held in self._held.values():
            for _, container in held:
                self.dispose(container)
        self._held.clear()
        self.reaper.close(timeout)
        self._notify.close()

    def _attach(self, claim: Path, entry: str, settings: ContainerSettings) -> StartedContainer | None:
        info = read_entry(claim)
        container_id = entry_container_id(entry)
        slot = Slot(self.work_dir / str((info or {}).get("slot", "")))
        # The keeper's create and start times, for the metrics (the run's own timings leave them out).
        timings = {k: float(v) for k, v in ((info or {}).get("timings") or {}).items()}
        started = StartedContainer(container_id, None, slot, settings, time.monotonic(), timings, pooled=True)
        self._claims[container_id] = claim
        try:
            with docker_errors("attach to a warm sandbox container"):
                started.sock = attach_socket(self.client, container_id)
        except (DockerUnavailable, docker.errors.APIError) as exc:
            logger.info("warm container %s could not be attached (%s): removing it", container_id[:12], exc)
            self.dispose(started)
            return None
        if info is None or not started.is_healthy():
            self.dispose(started)  # it exited meanwhile (idle timeout, engine restart): next one
            return None
        return started

    def _tell_keeper(
        self,
        key: str,
        *,
        hit: bool = False,
        raced: bool = False,
        prewarm: bool = False,
        preclaim: bool = False,
        preclaimed: bool = False,
    ) -> None:
        """``raced``: a miss although ready entries were listed (claimed by others first, or exited).
        ``preclaim``: a take ahead of the run; ``preclaimed``: a run served by such a take."""
        notice = {"key": key, "hit": hit, "raced": raced, "prewarm": prewarm}
        if preclaim or preclaimed:
            notice.update(preclaim=preclaim, preclaimed=preclaimed)
        message = json.dumps(notice).encode()
        with contextlib.suppress(OSError):  # no keeper (yet, or any more): it reads the directory on start
            self._notify.sendto(message, os.fspath(self.layout.socket_path))

    def forget_claim(self, container_id: str) -> None:
        claim = self._claims.pop(container_id, None)
        if claim is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(claim)


def sweep_pool(client: docker.DockerClient, work_dir: Path) -> list[str]:
    """What the sweep task does for a pool whose keeper is gone: remove its warm containers and the
    claimed ones whose worker process died; a container claimed by a live worker is left to it.
    Does nothing while a keeper holds the pool (it reconciles by itself). Returns the removed ids."""
    layout = PoolLayout(work_dir)
    with layout.keeper_lock(blocking=False) as got:
        if not got:
            return []
        return reconcile(client, layout, adopt=False)


def reconcile(
    client: docker.DockerClient,
    layout: PoolLayout,
    *,
    adopt: bool,
    in_flight: Callable[[], Collection[str]] = frozenset,
) -> list[str]:
    """Make the engine and the pool directory agree (the caller holds the keeper lock).

    Removed: claimed containers whose claimer is dead, every container of this pool without an entry
    (unless its slot is in ``in_flight()``: being started by the caller), ready ones that are not running,
    and with ``adopt=False`` every ready one. Returns the removed ids.
    """
    listed_at = time.time_ns()
    with docker_errors("list the pool's sandbox containers"):
        infos = client.api.containers(all=True, filters={"label": f"{LABEL_POOL}={layout.pool_id}"})
    state = {info["Id"]: info.get("State") for info in infos}
    removed: list[str] = []

    def remove(container_id: str, entry_path: Path | None, slot_name: str | None) -> None:
        if container_id in state:
            with docker_errors("remove a pool sandbox container"):
                remove_container(client, container_id)
            removed.append(container_id)
        if slot_name and slot_name.startswith("slot-") and "/" not in slot_name:
            Slot(layout.work_dir / slot_name).destroy()
        if entry_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry_path)

    known: set[str] = set()
    # Ready first, claimed second: an entry renamed in between is then seen twice, never missed.
    for key_dir in list(layout.ready_dir.iterdir()):
        for entry in layout.ready_entries(key_dir.name):
            container_id = entry_container_id(entry)
            known.add(container_id)
            # Running, or written after the listing above (the next round judges it): kept.
            if adopt and (state.get(container_id) == "running" or entry > f"{listed_at:020d}"):
                continue
            # Claim it first: a worker may be taking it this very moment.
            claim = layout.claim(key_dir.name, entry, owner_id())
            if claim is not None:
                remove(container_id, claim, (read_entry(claim) or {}).get("slot"))
    for claim, container_id, claimer in list(layout.claims()):
        known.add(container_id)
        if not local_owner_is_alive(claimer):
            remove(container_id, claim, (read_entry(claim) or {}).get("slot"))
    unknown = [info for info in infos if info["Id"] not in known]
    if unknown:
        # Started after the listings above? A start leaves in_flight only once its entry exists, so looking
        # at in_flight first and at the entries again second cannot miss one.
        starting = set(in_flight())
        entries = {cid for _, cid, _ in layout.claims()}
        for key_dir in list(layout.ready_dir.iterdir()):
            entries.update(entry_container_id(entry) for entry in layout.ready_entries(key_dir.name))
        for info in unknown:
            slot_name = (info.get("Labels") or {}).get(LABEL_SLOT)
            if info["Id"] not in entries and slot_name not in starting:
                remove(info["Id"], None, slot_name)
    return removed
