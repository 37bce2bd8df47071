"""This process's Redis clients, one per server URL, made again after a fork (sockets must not be shared).

For short request/response commands on hot paths (publishing a run's end, counting rate-limit windows):
a connection is kept and reused, and a server that does not answer within a second is an error the caller
handles, never a stall.
"""

from __future__ import annotations

import os
import threading

import redis

_clients: dict[tuple[int, str], redis.Redis] = {}
_lock = threading.Lock()


def process_client(url: str) -> redis.Redis:
    """The client of ``url`` for this process (created on first use, and again in a forked child)."""
    key = (os.getpid(), url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return client
