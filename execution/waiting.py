"""Waiting for a run's end without polling: the use case behind ``waitForExecution``.

The request holds one thread of its web process (gunicorn's ``gthread`` workers; see
``argus_plugins/core/gunicorn_conf.py``) until the run is terminal or the timeout passes, and is woken
by ``execution.wakeups`` (a Redis pub/sub message published when the run's record commits). At most
``ARGUS_WEB_WAIT_SLOTS`` requests of one process wait at once, so the process's other threads always
serve everything else; a server whose workers handle one request at a time (``wsgi.multithread`` false:
gunicorn's sync workers, the test client) never holds one. Either way the answer is WAIT_UNAVAILABLE and
the client polls. Visibility and errors are exactly ``execution(id)``'s (``get_execution``'s, whose statement
``execution_reader`` compiles once per wait).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.validation import parse_uuid

from . import wakeups
from .error_codes import ExecutionErrorCode
from .models import Execution
from .services import execution_reader, get_execution

#: The longest wait one request may ask for: well inside nginx's upstream timeout and gunicorn's graceful
#: stop, and short enough that a client never waits long for an answer that was lost.
MAX_WAIT_SECONDS = 10

_waiting = 0
_waiting_lock = threading.Lock()


@contextlib.contextmanager
def _wait_slot() -> Iterator[None]:
    """One of this process's ARGUS_WEB_WAIT_SLOTS, or WAIT_UNAVAILABLE at once (never queued)."""
    global _waiting
    with _waiting_lock:
        if _waiting >= settings.ARGUS_WEB_WAIT_SLOTS:
            raise DomainError(
                ExecutionErrorCode.WAIT_UNAVAILABLE,
                f"All {settings.ARGUS_WEB_WAIT_SLOTS} waiting slots of this server process are taken: "
                "poll execution(id), or wait again later.",
            )
        _waiting += 1
    try:
        yield
    finally:
        with _waiting_lock:
            _waiting -= 1


def waiting_now() -> int:
    """Requests of this process waiting at the moment."""
    return _waiting


def wait_for_execution(
    user: Any,
    execution_id: Any,
    *,
    timeout_seconds: int,
    can_block: bool,
    queryset: QuerySet[Execution] | None = None,
) -> Execution:
    """The run as soon as it is terminal, or as it is when ``timeout_seconds`` have passed.

    ``can_block``: whether the calling server may hold this request (a thread of its own). An already
    terminal run, or a timeout of 0, answers at once whatever it is.
    """
    if isinstance(timeout_seconds, bool) or not 0 <= timeout_seconds <= MAX_WAIT_SECONDS:
        raise DomainError(
            CommonErrorCode.INVALID,
            f"timeoutSeconds must be between 0 and {MAX_WAIT_SECONDS}.",
            "timeoutSeconds",
        )
    if timeout_seconds == 0:
        return get_execution(user, execution_id, queryset=queryset)
    deadline = time.monotonic() + timeout_seconds
    pk = parse_uuid(execution_id)
    read = execution_reader(user, pk, queryset=queryset)
    # Watch before the first read: a run that ends in between is either read as terminal or announced.
    with wakeups.listener().watch(str(pk)) as woken:
        execution = read()
        if execution.is_terminal:
            return execution
        if not can_block:
            raise DomainError(
                ExecutionErrorCode.WAIT_UNAVAILABLE,
                "This server handles one request per process and cannot hold a waiting one: "
                "poll execution(id).",
            )
        with _wait_slot():
            while (remaining := deadline - time.monotonic()) > 0:
                if not woken.wait(remaining):
                    break
                woken.clear()
                execution = read()
                if execution.is_terminal:
                    return execution
        return read()  # the timeout: the run as it is now
