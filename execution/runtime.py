"""Per-process sandbox resources of a worker: one Docker client and (optionally) its handle on the host's
shared warm pool (kept by the pool-keeper process, see execution/keeper_process.py).

Created lazily in each worker process (clients hold sockets and threads, which do not survive fork)
and closed when the process exits.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import docker
from django.conf import settings

from .sandbox import connect
from .sandbox.pool import RemovalDeferral
from .sandbox.shared_pool import SharedPool

_lock = threading.Lock()
_state: dict[str, object] = {}


def work_dir() -> Path:
    path = Path(settings.ARGUS_SANDBOX_WORK_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def docker_client() -> docker.DockerClient:
    with _lock:
        if _state.get("pid") != os.getpid():
            _state.clear()
            _state["pid"] = os.getpid()
        if "client" not in _state:
            _state["client"] = connect(settings.DOCKER_BASE_URL, timeout=settings.DOCKER_TIMEOUT_SECONDS)
        return _state["client"]  # type: ignore[return-value]


def container_pool() -> SharedPool | None:
    """This process's handle on the host's warm pool (None when ARGUS_SANDBOX_POOL_SIZE is 0)."""
    if settings.ARGUS_SANDBOX_POOL_SIZE <= 0:
        return None
    client = docker_client()
    with _lock:
        if "pool" not in _state:
            removals = RemovalDeferral() if settings.ARGUS_SANDBOX_DEFER_REMOVALS else None
            _state["pool"] = SharedPool(client, work_dir=work_dir(), removals=removals)
        return _state["pool"]  # type: ignore[return-value]


def close() -> None:
    with _lock:
        pool = _state.pop("pool", None)
        client = _state.pop("client", None)
    if pool is not None:
        pool.close()  # type: ignore[attr-defined]
    if client is not None:
        client.close()  # type: ignore[attr-defined]


def hostname() -> str:
    """Names this worker process on the run it claims (``host:pid``); see ``worker_is_alive``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_alive(worker_hostname: str) -> bool | None:
    """Whether the worker process named by ``hostname()`` still exists: None when it ran on another host
    (only its heartbeat can tell then). A zombie is dead (a killed worker's pool children may wait a while for
    whoever inherits them to reap them). A pid reused since is taken for alive: the heartbeat decides then."""
    host, _, pid = worker_hostname.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return False
    except OSError:
        return None
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]  # the field after the command name
    return state not in (b"Z", b"X")
