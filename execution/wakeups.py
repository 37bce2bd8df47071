"""Waking the requests that wait for a run's end (``waitForExecution``): one Redis pub/sub message per run.

A run's id is published on one channel once its end is fully recorded: its terminal status and its ledger
entry commit together (``recording.finish``: the worker, the canceller, the sweeper, in any process on any
host), the entry pending, and whichever process links that entry into the chain a moment later publishes
it (the ledger's ``entries_linked`` hook), so a woken client reads the run with its entry's sequence. Each
web process holds ONE subscription to that channel, in a daemon thread started on the first wait, and
sets the events of the threads waiting for that id. A waiting request therefore costs a thread of a
``gthread`` web worker and an entry in a dict, no database query and no Redis connection of its own.

Nothing depends on a message arriving. A waiter reads the run from the database after registering (a run
that ended before is seen then) and again on each wake-up; when the subscription is (re)established,
every waiter is woken to read again (a message published while it was down is not lost to them); and a
wait ends at its timeout with the run's current state whatever happened to Redis. A publish that fails is
logged and costs the waiters nothing but the wait until their timeout.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings

from argus_plugins.core.redis_clients import process_client

from .models import Execution

logger = logging.getLogger(__name__)

#: The channel every finished run's id is published on (one channel: each web process subscribes once).
CHANNEL = "argus:execution-finished"
# A listener that lost Redis tries again after this long, doubling up to the maximum.
_RECONNECT_FIRST_SECONDS = 0.2
_RECONNECT_MAX_SECONDS = 5.0
# How long the listener blocks on its socket per loop; a health-check PING goes out every interval.
_LISTEN_SLICE_SECONDS = 1.0
_HEALTH_CHECK_SECONDS = 10


# ---------------------------------------------------------------------------------------------- publish

def announce_finished(execution_id: object) -> None:
    """Publish ``execution_id`` on :data:`CHANNEL` now; a failure is logged, never raised."""
    try:
        process_client(settings.REDIS_URL).publish(CHANNEL, str(execution_id))
    except redis.RedisError:
        logger.warning(
            "Could not announce the end of run %s; its waiters read it at their timeout", execution_id
        )


def announce_runs_of_linked_entries(entry_ids: list[Any]) -> None:
    """The ledger's ``entries_linked`` hook: announce the end of the runs those entries record.

    A run's terminal status and its ledger entry commit together, the entry pending; announcing once it
    is linked (a moment later, by whichever process links it) means a client woken by the announcement
    reads the run with its entry's sequence. One indexed query per linked batch, one publish per run.
    """
    for execution_id in Execution.objects.filter(ledger_entry_id__in=entry_ids).values_list("pk", flat=True):
        announce_finished(execution_id)


# ---------------------------------------------------------------------------------------------- listen


class FinishListener:
    """One subscription to :data:`CHANNEL` per process, waking the threads that watch a run's id."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self._lock = threading.Lock()
        self._watchers: dict[str, set[threading.Event]] = {}
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopping = threading.Event()
        #: Set while subscribed (tests and the bench look at it; waiters do not need it).
        self.subscribed = threading.Event()
        #: How many messages named a watched run (a measure, not a control).
        self.deliveries = 0

    @contextlib.contextmanager
    def watch(self, execution_id: str) -> Iterator[threading.Event]:
        """An event set when ``execution_id`` is announced, or when the subscription is (re)established
        (the watcher must then read the run again). Register before reading the run: nothing is missed."""
        event = threading.Event()
        with self._lock:
            self._watchers.setdefault(execution_id, set()).add(event)
        self._ensure_running()
        try:
            yield event
        finally:
            with self._lock:
                events = self._watchers.get(execution_id)
                if events is not None:
                    events.discard(event)
                    if not events:
                        del self._watchers[execution_id]

    def watching(self) -> int:
        with self._lock:
            return sum(len(events) for events in self._watchers.values())

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _ensure_running(self) -> None:
        with self._lock:
            # After a fork the thread is gone (threads do not survive it): start one in this process.
            if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self.subscribed.clear()
            self._thread = threading.Thread(target=self._run, name="argus-finish-listener", daemon=True)
            self._thread.start()

    def _wake(self, execution_id: str) -> None:
        with self._lock:
            events = list(self._watchers.get(execution_id, ()))
        if events:
            self.deliveries += 1
        for event in events:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = [event for events in self._watchers.values() for event in events]
        for event in events:
            event.set()

    def _run(self) -> None:
        delay = _RECONNECT_FIRST_SECONDS
        failing_since: float | None = None
        while not self._stopping.is_set():
            client = redis.Redis.from_url(
                self.url,
                socket_connect_timeout=2,
                socket_keepalive=True,
                health_check_interval=_HEALTH_CHECK_SECONDS,
            )
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(self.channel)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=_LISTEN_SLICE_SECONDS)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        if failing_since is not None:
                            logger.warning(
                                "Run-end subscription restored after %.0f s", time.monotonic() - failing_since
                            )
                        failing_since, delay = None, _RECONNECT_FIRST_SECONDS
                        self._wake_all()  # announcements may have been missed: every waiter reads again
                        self.subscribed.set()
                    elif message["type"] == "message":
                        self._wake(message["data"].decode())
            except (redis.RedisError, OSError, ValueError):
                self.subscribed.clear()
                if failing_since is None:
                    failing_since = time.monotonic()
                    logger.warning(
                        "Run-end subscription lost; waiters fall back to their timeouts", exc_info=True
                    )
                self._stopping.wait(delay)
                delay = min(delay * 2, _RECONNECT_MAX_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
                    client.close()
        self.subscribed.clear()


_listener: FinishListener | None = None
_listener_lock = threading.Lock()


def listener() -> FinishListener:
    """This process's listener (created on first use; its thread starts with the first watch)."""
    global _listener
    with _listener_lock:
        if _listener is None:
            _listener = FinishListener(settings.REDIS_URL)
        return _listener
