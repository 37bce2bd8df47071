"""The run queue held in the database, and the dispatcher that releases it fairly to the broker.

A new run is recorded QUEUED and *held* (``released_at`` is NULL): no task message exists for it yet.
The dispatcher publishes messages only for as many runs as there are free worker slots
(``ARGUS_DISPATCH_SLOTS`` minus the runs in flight, i.e. released and not yet finished), picking them
round-robin across tenants: the tenant served least recently goes first, each tenant's own runs go in
submission order, and no tenant gets more runs in flight than its concurrency cap. Everything else waits
in the database, not in the broker's FIFO list, so a flood from one tenant puts at most the runs already
in flight ahead of another tenant's next run.

The dispatcher runs with every enqueue (inside the enqueue's own transaction when it can take its lock at
once, else after that commit), after every finished run (after its commit) and from the periodic sweeper;
serialised by a lock (a PostgreSQL advisory lock; on SQLite every transaction takes the database's write lock
at its start, ``transaction_mode=IMMEDIATE``). Messages are published after the commit. A failed publish
(Redis down) puts the run back in the held queue, and the sweeper re-publishes a released run whose message
was lost (``ARGUS_QUEUED_STALE_SECONDS``): nothing is lost either way, and the worker's conditional claim
makes a duplicate message harmless.
"""

from __future__ import annotations

import datetime as dt
import heapq
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q

from argus_plugins.core import clock, publishing
from argus_plugins.tenancy.models import TenantPolicy

from .limits import tenant_concurrency_cap, tenant_policy
from .models import Execution, ExecutionStatus

logger = logging.getLogger(__name__)

#: The PostgreSQL advisory lock that serialises dispatchers (the ASCII of "ARGD").
DISPATCH_LOCK_ID = 0x41524744
#: Runs released to the broker and not finished: each holds (or is about to hold) a worker slot.
IN_FLIGHT = Q(status=ExecutionStatus.RUNNING) | Q(status=ExecutionStatus.QUEUED, released_at__isnull=False)
HELD = Q(status=ExecutionStatus.QUEUED, released_at__isnull=True)
_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(order=True)
class _Turn:
    """A tenant waiting for a slot; turns sort by who was served least recently, then who waited longest."""

    last_released: dt.datetime
    oldest_queued: dt.datetime
    tenant_key: str
    tenant_id: Any = field(compare=False)
    room: int = field(compare=False)  # runs it may still put in flight (its cap minus its runs in flight)
    held: list[Any] | None = field(default=None, compare=False)  # its next runs, oldest first (loaded once)


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DISPATCH_LOCK_ID])


def _try_lock() -> bool:
    """The dispatcher's lock if nobody holds it, without waiting (SQLite: the transaction's write lock)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [DISPATCH_LOCK_ID])
        return bool(cursor.fetchone()[0])


def _waiting_turns() -> list[_Turn]:
    """One turn per tenant that has held runs and room under its concurrency cap."""
    held = Execution.objects.filter(HELD).values("tenant_id").annotate(oldest=Min("queued_at")).order_by()
    waiting = {row["tenant_id"]: row["oldest"] for row in held}
    if not waiting:
        return []
    in_flight = {
        row["tenant_id"]: row["runs"]
        for row in Execution.objects.filter(IN_FLIGHT, tenant_id__in=waiting)
        .values("tenant_id")
        .annotate(runs=Count("pk"))
        .order_by()
    }
    policies = {policy.tenant_id: policy for policy in TenantPolicy.objects.filter(tenant_id__in=waiting)}
    turns = []
    for tenant_id, oldest in waiting.items():
        room = tenant_concurrency_cap(policies.get(tenant_id)) - in_flight.get(tenant_id, 0)
        if room <= 0:
            continue
        # The tenant's latest release (an index lookup on (tenant, released_at)) is its place in the round.
        last = (
            Execution.objects.filter(tenant_id=tenant_id, released_at__isnull=False)
            .order_by("-released_at")
            .values_list("released_at", flat=True)
            .first()
        )
        turns.append(_Turn(last or _NEVER, oldest, str(tenant_id), tenant_id, room))
    return turns


def _choose(turns: list[_Turn], free: int, now: dt.datetime) -> list[tuple[Any, dt.datetime]]:
    """Up to ``free`` (run id, release time) pairs, one tenant's turn at a time."""
    heapq.heapify(turns)
    chosen: list[tuple[Any, dt.datetime]] = []
    while turns and len(chosen) < free:
        turn = heapq.heappop(turns)
        if turn.held is None:
            turn.held = list(
                Execution.objects.filter(HELD, tenant_id=turn.tenant_id)
                .order_by("queued_at", "id")
                .values_list("pk", flat=True)[: min(turn.room, free)]
            )
        if not turn.held:
            continue
        # Distinct, increasing release times keep the order of this round for the next one.
        released_at = now + dt.timedelta(microseconds=len(chosen))
        chosen.append((turn.held.pop(0), released_at))
        turn.room -= 1
        turn.last_released = released_at
        if turn.room > 0 and turn.held:
            heapq.heappush(turns, turn)
    return chosen


def _release(*, locked: bool = False) -> list[str]:
    if not locked:
        _lock()
    held = list(Execution.objects.filter(HELD).order_by().values_list("pk", "tenant_id")[:2])
    if not held:
        return []
    now = clock.now()
    if len(held) == 1:  # most often: the run just queued, alone in the queue
        chosen = _choose_only_held(*held[0], now)
    else:
        free = settings.ARGUS_DISPATCH_SLOTS - Execution.objects.filter(IN_FLIGHT).count()
        turns = _waiting_turns() if free > 0 else []
        chosen = _choose(turns, free, now) if turns else []
    released = []
    for execution_id, released_at in chosen:
        # Conditional: a run cancelled meanwhile stays as it is.
        if Execution.objects.filter(HELD, pk=execution_id).update(released_at=released_at, enqueued_at=now):
            released.append(str(execution_id))
    return released


def _choose_only_held(execution_id: Any, tenant_id: Any, now: dt.datetime) -> list[tuple[Any, dt.datetime]]:
    """What ``_choose`` decides when one run is held (its tenant's turn is the only one), in two reads: the
    runs in flight, all and the tenant's, and the tenant's policy."""
    in_flight = Execution.objects.filter(IN_FLIGHT).aggregate(
        total=Count("pk"), tenant=Count("pk", filter=Q(tenant_id=tenant_id))
    )
    if in_flight["total"] >= settings.ARGUS_DISPATCH_SLOTS:
        return []
    if in_flight["tenant"] >= tenant_concurrency_cap(tenant_policy(tenant_id)):
        return []
    return [(execution_id, now)]


def release_queued_runs() -> list[str]:
    """Release held runs into the free worker slots, fairly; returns the ids released.

    The messages are published after the dispatcher's transaction commits.
    """
    with transaction.atomic():
        released = _release()
        if released:
            transaction.on_commit(lambda: publish(released))
    return released


def publish(execution_ids: Sequence[str]) -> int:
    """Publish a task message per released run; on a broker failure put the unsent ones back on hold."""
    for sent, execution_id in enumerate(execution_ids):
        try:
            publishing.publish("execution.run", execution_id)
        except Exception:
            logger.exception("Could not publish execution %s; it goes back to the held queue", execution_id)
            unsent = list(execution_ids[sent:])
            try:
                Execution.objects.filter(pk__in=unsent, status=ExecutionStatus.QUEUED).update(
                    released_at=None
                )
            except Exception:  # the sweeper re-publishes them once they look stale
                logger.exception("Could not put executions %s back in the queue", unsent)
            return sent
    return len(execution_ids)


def _release_safely() -> None:
    try:
        if connection.vendor == "sqlite" and not Execution.objects.filter(HELD).exists():
            # Nothing is held, and nothing can be on its way: SQLite runs one write transaction at a time
            # (each takes the write lock at its start), so an enqueue that held a run because this one was
            # still in flight committed before this run's finish, and is visible here. Skipping saves a
            # write transaction that would queue behind (and delay) the next run's enqueue. (PostgreSQL's
            # transactions overlap: there the dispatcher's lock is what waits for such an enqueue.)
            return
        release_queued_runs()
    except Exception:  # never fail the caller, whose work has committed: the sweeper releases later
        logger.exception("Releasing queued executions failed; the sweeper will release them")


def release_after_commit() -> None:
    """Run the dispatcher once the current transaction commits (a run was queued or has finished).

    Once per transaction: a run that finishes and starts the next (an event chain) asks twice."""
    if not _release_pending():
        transaction.on_commit(_release_safely)


def _release_pending() -> bool:
    # Callbacks of a rolled-back savepoint are dropped from this list, so one found here will run.
    return any(callback is _release_safely for _, callback, _ in connection.run_on_commit)


def release_in_transaction() -> None:
    """Run the dispatcher now, inside the caller's transaction (a run was just queued in it), publishing
    after its commit; this saves the dispatcher's own transaction (a commit) on the way to the worker.

    The lock is only tried: waiting for it here, where the caller may already hold other locks (the ledger's
    head, in a transaction that records a refused run), could deadlock with a dispatcher. When it is taken,
    or the release fails, the dispatcher runs after the commit instead, as ``release_after_commit``."""
    if not connection.in_atomic_block:
        release_after_commit()
        return
    try:
        with transaction.atomic():  # a savepoint: a failure here must not break the caller's transaction
            if not _try_lock():
                release_after_commit()
                return
            released = _release(locked=True)
            if released:
                transaction.on_commit(lambda: publish(released))
    except Exception:
        logger.exception("Releasing queued executions in the transaction failed; trying after its commit")
        release_after_commit()
