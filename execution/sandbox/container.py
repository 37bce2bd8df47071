"""Creating, starting, killing and sweeping hardened sandbox containers (docker SDK, low-level API).

Every container gets the same hardening whether it is pre-started for the pool or created for one
job (the cold path); see ``host_config``. Each is labelled so that orphans can be found again.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import select
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.constants
import docker.errors
import requests.exceptions
from docker.transport.unixconn import UnixHTTPAdapter
from docker.types import Ulimit

from . import launcher as _launcher
from .errors import DockerUnavailable, RuntimeImageMissing
from .spec import SANDBOX_GID, SANDBOX_UID, ContainerSettings, MiB
from .workspace import Slot

LABEL_MANAGED = "org.argus.managed"
LABEL_OWNER = "org.argus.owner"
LABEL_EXECUTION = "org.argus.execution"
LABEL_SLOT = "org.argus.slot"
#: Set on the host pool's containers (the pool's id): its keeper, not ``sweep_orphans``, removes them.
LABEL_POOL = "org.argus.pool"
LAUNCHER_PATH = f"{_launcher.LAUNCHER_DIR}/launcher.py"
CONTAINER_TMP = "/tmp"  # noqa: S108 - the container's own private tmpfs, not the host's /tmp
# Imported (not run as a script) so that Python uses the pyc compiled into the image. -I: no PYTHON*
# variables, no user site, and no script or working directory (the plugin's) on sys.path. The launcher
# writes its result with os.write, so once main() returns it skips the interpreter's shutdown (a fork-mode
# plugin's SystemExit unwinds past this line and shuts its own interpreter down as any script does).
LAUNCHER_COMMAND = [
    "python3",
    "-I",
    "-S",
    "-c",
    f"import sys; sys.path.insert(0, {_launcher.LAUNCHER_DIR!r}); import launcher; code = launcher.main(); "
    "sys.stdout.flush(); sys.stderr.flush(); launcher.os._exit(code)",
]
#: Docker's default seccomp profile (engine 20.10) with what a plugin never needs taken out; see README,
#: "Sandbox hardening".
SECCOMP_PROFILE_PATH = Path(__file__).with_name("seccomp.json")
# A pre-started container whose job never comes exits by itself after this long, so a worker that
# died without cleaning up does not leave launchers waiting forever (they are swept later).
DEFAULT_IDLE_TIMEOUT_SECONDS = 3600


def _proc_start_ticks(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # Field 22 (starttime), counted after the ")" that closes the command name.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def owner_id(pid: int | None = None) -> str:
    """Identifies this worker process: host, pid and start time (so a reused pid is not "alive")."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_proc_start_ticks(pid) or 0}"


def local_owner_is_alive(owner: str) -> bool:
    """Default liveness test: owners on other hosts are presumed alive (we cannot tell)."""
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    current = _proc_start_ticks(pid)
    return current is not None and current == ticks


@contextlib.contextmanager
def docker_errors(action: str) -> Iterator[None]:
    """Turns "cannot talk to the engine" into DockerUnavailable; other API errors pass through."""
    try:
        yield
    except docker.errors.ImageNotFound as exc:
        raise RuntimeImageMissing(
            f"runtime image missing while trying to {action}: {exc.explanation or exc}; "
            "build it with `manage.py build_runtime_images`"
        ) from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError) as exc:
        raise DockerUnavailable(f"Docker engine unreachable while trying to {action}: {exc}") from exc
    except docker.errors.APIError:
        raise
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(f"Docker engine unusable while trying to {action}: {exc}") from exc


class EngineSocketAdapter(UnixHTTPAdapter):
    """docker's adapter for the engine's UNIX socket, with one connection pool for all plain API calls.

    The SDK keys its pools by the whole request URL, path included, so every call that names a new
    container (start, remove, inspect) opened a new connection to the engine and evicted an older pool:
    two of a run's four calls. Every call goes to the same socket, so one pool serves them; an attach keeps
    a pool of its own, because its connection is taken over by the container's streams for good.
    """

    SHARED_POOL_URL = "http+docker://localhost"

    def get_connection(self, url: str, proxies: Any = None) -> Any:
        if not urlsplit(url).path.endswith("/attach"):
            url = self.SHARED_POOL_URL
        return super().get_connection(url, proxies)


def connect(base_url: str | None = None, timeout: int = 30) -> docker.DockerClient:
    """A client that has answered a ping, or DockerUnavailable with a readable reason."""
    with docker_errors("connect"):
        client = (
            docker.DockerClient(base_url=base_url, timeout=timeout)
            if base_url
            else docker.from_env(timeout=timeout)
        )
        api = client.api
        # The engine is a local socket: never look for proxy settings in the environment, which
        # requests would otherwise do on every API call (a measurable share of a run's CPU).
        api.trust_env = False
        adapter = getattr(api, "_custom_adapter", None)
        if type(adapter) is UnixHTTPAdapter:
            api._custom_adapter = EngineSocketAdapter(
                f"http+unix://{adapter.socket_path}",
                adapter.timeout,
                pool_connections=docker.constants.DEFAULT_NUM_POOLS,
                max_pool_size=adapter.max_pool_size,
            )
            api.mount("http+docker://", api._custom_adapter)
            adapter.close()
        client.ping()
    return client


@functools.cache
def seccomp_security_opt(gvisor: bool = False) -> str:
    """The profile as the engine's API takes it: its JSON text (the CLI reads the file the same way).

    For gVisor, clone3 is let through to gVisor's own kernel, which answers ENOSYS (it has no clone3), so
    that glibc falls back to clone (filtered on its flags). The profile's own rule answers ENOSYS too, but
    gVisor applies an OCI profile ignoring ``errnoRet``: clone3 got EPERM, on which glibc does not fall
    back, so no thread could start (Node.js aborted at start-up, Python's threading failed).
    """
    profile = json.loads(SECCOMP_PROFILE_PATH.read_text())
    if gvisor:
        for rule in profile["syscalls"]:
            if rule["names"] == ["clone3"] and rule.get("errnoRet") == errno.ENOSYS:
                rule["action"] = "SCMP_ACT_ALLOW"
                del rule["errnoRet"]
    return "seccomp=" + json.dumps(profile, separators=(",", ":"))


#: gVisor's sandbox (its Go kernel and file proxy) lives in the container's cgroup, so the pids controller
#: counts its host threads, not the plugin's processes: measured here (runsc 20221219, ptrace platform), about
#: 42 at rest plus 5.3 for every process inside (a stub process and its threads; a thread inside costs next to
#: nothing). The cgroup gets room for that (too little hangs its start, or kills the whole sandbox, launcher
#: included, when the plugin forks up to its limit), and the plugin's own limit is RLIMIT_NPROC, which gVisor
#: enforces per uid inside the sandbox: the launcher's own uid is not counted with the plugin's. (Under runc
#: RLIMIT_NPROC would count every container of the same uid together: not used there.)
GVISOR_PIDS_BASE = 64
GVISOR_PIDS_PER_PROCESS = 8


def is_gvisor(runtime: str | None) -> bool:
    return bool(runtime) and ("runsc" in runtime or "gvisor" in runtime)


def host_config(api: docker.APIClient, settings: ContainerSettings, slot: Slot) -> dict[str, Any]:
    tmpfs_opts = "rw,noexec,nosuid,nodev"
    owned = f"uid={SANDBOX_UID},gid={SANDBOX_GID},mode=0700"
    largest_tmpfs = max(settings.tmp_mb, settings.output_tmpfs_mb, settings.artifacts_tmpfs_mb)
    ulimits = [
        Ulimit(name="nofile", soft=settings.nofile, hard=settings.nofile),
        Ulimit(name="fsize", soft=largest_tmpfs * MiB, hard=largest_tmpfs * MiB),
        Ulimit(name="core", soft=0, hard=0),
    ]
    pids_limit = settings.pids
    if is_gvisor(settings.runtime):
        pids_limit = GVISOR_PIDS_BASE + GVISOR_PIDS_PER_PROCESS * (settings.pids + 1)  # + 1: the launcher
        ulimits.append(Ulimit(name="nproc", soft=settings.pids, hard=settings.pids))
    return api.create_host_config(
        binds=slot.binds(),
        network_mode="none",
        mem_limit=settings.memory_mb * MiB,
        memswap_limit=settings.memory_mb * MiB,  # equal: no swap on top of the limit
        nano_cpus=int(settings.cpus * 1e9),
        pids_limit=pids_limit,
        read_only=True,
        tmpfs={
            CONTAINER_TMP: f"{tmpfs_opts},size={settings.tmp_mb}m,mode=1777",
            # Few inodes: bounds what the launcher may have to walk after the run.
            "/argus/output": f"{tmpfs_opts},size={settings.output_tmpfs_mb}m,nr_inodes=64,{owned}",
            "/argus/artifacts": f"{tmpfs_opts},size={settings.artifacts_tmpfs_mb}m,nr_inodes=4096,{owned}",
        },
        shm_size=settings.shm_mb * MiB,
        # Root with these two only, and just long enough for the launcher to drop to its own user and keep
        # none: the plugin then runs as another uid, which can never signal or ptrace the launcher (under
        # gVisor too, which does not shield a namespace's init). No capability survives into either process.
        cap_drop=["ALL"],
        cap_add=["SETUID", "SETGID"],
        security_opt=["no-new-privileges", seccomp_security_opt(is_gvisor(settings.runtime))],
        privileged=False,
        ipc_mode="private",
        init=False,  # the launcher must be PID 1 (see launcher.py)
        ulimits=ulimits,
        # No log driver: the launcher's stdout carries plugin output and evidence-derived data,
        # which must not be persisted in the engine's log files. Attach works without logs.
        log_config={"type": "none", "config": {}},
        runtime=settings.runtime,
    )


@dataclass
class StartedContainer:
    """A running container whose launcher waits for its job on the attached stdin."""

    id: str
    sock: Any  # the attach socket (socket.SocketIO from the SDK)
    slot: Slot
    settings: ContainerSettings
    started_at: float
    timings: dict[str, float] = field(default_factory=dict)
    pooled: bool = False  # started ahead by a ContainerPool (not for one known job)
    acquired_seconds: float = 0.0  # how long ``acquire`` took to hand it out

    @property
    def raw_socket(self) -> socket.socket:
        return self.sock._sock

    def is_healthy(self) -> bool:
        """An idle launcher never writes; readable means it exited (EOF) or misbehaved."""
        poller = select.poll()
        try:
            poller.register(self.raw_socket, select.POLLIN | select.POLLHUP | select.POLLERR)
            return not poller.poll(0)
        except (OSError, ValueError):
            return False


def start_container(
    client: docker.DockerClient,
    settings: ContainerSettings,
    slot: Slot,
    *,
    owner: str,
    execution_id: str = "",
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT_SECONDS,
    pool_id: str = "",
    attach: bool = True,
) -> StartedContainer:
    """Create, attach and start one sandbox container; removes it again if any step fails.

    ``attach=False`` (the host pool's keeper) starts it with stdin open and nobody attached: the idle
    launcher writes nothing, and the process that claims it attaches later (``attach_socket``).
    """
    api = client.api
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with docker_errors("create a sandbox container"):
        created = api.create_container(
            settings.image,
            command=LAUNCHER_COMMAND,
            hostname="sandbox",
            user="0:0",  # the launcher drops to its own user at once (see host_config's capabilities)
            working_dir=_launcher.PLUGIN_DIR,
            # LANG as the plugin's own: a plugin forked from the launcher inherits its stdio codecs.
            environment={"ARGUS_IDLE_TIMEOUT": str(idle_timeout), "LANG": "C.UTF-8"},
            stdin_open=True,  # with detach=False this also sets StdinOnce: EOF when we detach
            detach=False,
            labels={
                LABEL_MANAGED: "1",
                LABEL_OWNER: owner,
                LABEL_EXECUTION: execution_id,
                LABEL_SLOT: slot.root.name,
                **({LABEL_POOL: pool_id} if pool_id else {}),
            },
            host_config=host_config(api, settings, slot),
        )
    container_id = created["Id"]
    sock = None
    try:
        t1 = time.perf_counter()
        with docker_errors("attach to a sandbox container"):
            # Attach before start so not one byte of the launcher's output can be missed. Without a
            # TTY the engine copies stdin verbatim (no detach-key escapes), so binary headers are safe.
            sock = attach_socket(client, container_id) if attach else None
        t2 = time.perf_counter()
        with docker_errors("start a sandbox container"):
            api.start(container_id)
        t3 = time.perf_counter()
    except BaseException:
        close_attach(sock)
        with contextlib.suppress(Exception):  # keep the original error; a sweep catches leftovers
            remove_container(client, container_id)
        raise
    timings.update(create=t1 - t0, attach=t2 - t1, start=t3 - t2)
    return StartedContainer(container_id, sock, slot, settings, time.monotonic(), timings)


def attach_socket(client: docker.DockerClient, container_id: str) -> Any:
    """The container's stdin, stdout and stderr as one socket (multiplexed frames out, raw bytes in)."""
    return client.api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})


def close_attach(sock: Any) -> None:
    if sock is None:
        return
    for closer in (
        getattr(sock, "close", None),
        getattr(getattr(sock, "_sock", None), "close", None),
        getattr(getattr(sock, "_response", None), "close", None),
    ):
        if closer is not None:
            with contextlib.suppress(Exception):
                closer()


def remove_container(client: docker.DockerClient, container_id: str) -> None:
    """Force-remove (SIGKILL + delete); a container that is already gone is fine."""
    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        # 409: a removal is already in progress (e.g. the reaper got there first).
        if exc.status_code != 409:
            raise


def container_memory_bytes(container_id: str) -> int | None:
    """What a container holds now: its cgroup's memory (cgroup v1 or v2, cgroupfs or systemd driver), plus
    the proportional share (PSS) of the engine's shim process that keeps it, about as much again for a
    small idle container and outside its cgroup. None when the cgroup is unreadable."""
    for directory in (
        f"/sys/fs/cgroup/memory/docker/{container_id}",
        f"/sys/fs/cgroup/memory/system.slice/docker-{container_id}.scope",
        f"/sys/fs/cgroup/docker/{container_id}",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope",
    ):
        for name in ("memory.usage_in_bytes", "memory.current"):
            with contextlib.suppress(OSError, ValueError):
                held = int(Path(directory, name).read_text())
                return held + _shim_bytes(Path(directory, "cgroup.procs"))
    return None


def _shim_bytes(procs: Path) -> int:
    """PSS of the containerd shim above the cgroup's first process (0 when it cannot be found)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(procs.read_text().split()[0])
        for _ in range(3):  # the container's init, or a runtime's sandbox process, is the shim's child
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat[stat.rfind(")") + 2 :].split()[1])
            if Path(f"/proc/{pid}/comm").read_text().startswith("containerd-shim"):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        return int(line.split()[1]) * 1024
                return 0
    return 0


def discard(client: docker.DockerClient, container: StartedContainer) -> None:
    """Remove the container and its slot. Used on every path, so it never raises on "gone"."""
    close_attach(container.sock)
    try:
        remove_container(client, container.id)
    finally:
        container.slot.destroy()


def exit_state(
    client: docker.DockerClient, container_id: str, *, exit_wait_seconds: float = 0
) -> dict[str, Any]:
    """The engine's ``State`` of a container (empty if it cannot say). ``exit_wait_seconds``: first wait that
    long for the container to exit. The engine records ``OOMKilled`` only when it handles the exit, which can
    come well after the attach stream has ended: under gVisor the whole sandbox is the OOM killer's victim,
    and tearing it down takes the runtime several seconds on a loaded host."""
    if exit_wait_seconds:
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            client.api.wait(container_id, timeout=exit_wait_seconds)
    with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
        return client.api.inspect_container(container_id).get("State") or {}
    return {}


def engine_actions(client: docker.DockerClient, container_id: str, *, settle_seconds: float) -> set[str]:
    """The actions of the engine's recent events about a container (``kill``, ``oom``, ``die``, …), waiting
    ``settle_seconds`` for late ones. The engine keeps its last 256 events in memory: on a very busy engine an
    old event may be gone, which is why callers only ask about the last moments of a container."""
    actions: set[str] = set()
    with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
        events = client.api.events(
            since=int(time.time()) - 600,
            until=f"{time.time() + settle_seconds:.6f}",
            filters={"container": container_id},
            decode=True,
        )
        for event in events:
            actions.add(str(event.get("Action") or event.get("status") or ""))
    return actions


#: A slot directory that no container refers to is removed once untouched this long. A slot is made moments
#: before its container (by a worker's cold path or the pool keeper) and removed with it, so an old one
#: without a container was left by a process killed in between.
UNREFERENCED_SLOT_AGE_SECONDS = 3600


def sweep_unreferenced_slots(
    client: docker.DockerClient, work_dir: Path, *, min_age_seconds: float = UNREFERENCED_SLOT_AGE_SECONDS
) -> list[str]:
    """Remove the ``slot-*`` directories of ``work_dir`` that no sandbox container (of any owner, pooled or
    not, running or not) names and that are older than ``min_age_seconds``; returns their names.

    The containers are listed first: a slot made after the listing is too young to be judged.
    """
    with docker_errors("list sandbox containers"):
        containers = client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"})
    referenced = {(info.get("Labels") or {}).get(LABEL_SLOT, "") for info in containers}
    removed: list[str] = []
    try:
        entries = list(Path(work_dir).iterdir())
    except FileNotFoundError:
        return removed
    now = time.time()
    for path in entries:
        if not path.name.startswith("slot-") or path.name in referenced or path.is_symlink():
            continue
        try:
            old_enough = path.is_dir() and now - path.stat().st_mtime > min_age_seconds
        except OSError:
            continue  # removed meanwhile
        if old_enough:
            Slot(path).destroy()
            removed.append(path.name)
    return removed


def sweep_orphans(
    client: docker.DockerClient,
    live_owner_predicate: Callable[[str], bool] = local_owner_is_alive,
    *,
    work_dirs: Iterable[Path] = (),
) -> list[str]:
    """Remove managed containers whose owner process is gone; returns the removed ids.

    With ``work_dirs`` (the pool's and the cold path's), their slot directories go too.
    """
    removed = []
    with docker_errors("list sandbox containers"):
        containers = client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"})
    for info in containers:
        labels = info.get("Labels") or {}
        owner = labels.get(LABEL_OWNER, "")
        if labels.get(LABEL_POOL):
            continue  # the host pool's: its keeper (or shared_pool.sweep_pool) decides
        if owner and live_owner_predicate(owner):
            continue
        with docker_errors("remove an orphaned sandbox container"):
            remove_container(client, info["Id"])
        removed.append(info["Id"])
        slot_name = labels.get(LABEL_SLOT, "")
        if slot_name.startswith("slot-") and "/" not in slot_name:
            for work_dir in work_dirs:
                Slot(Path(work_dir) / slot_name).destroy()
    return removed
