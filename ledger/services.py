"""Appending to the ledger, linking pending entries, and who may read which entries.

An entry is written in the caller's transaction, so it commits together with whatever it records (an
execution's terminal status, a grant) or not at all. Giving it its place in the chain (sequence,
prev_hash, entry_hash, Merkle tree nodes) needs the one ledger head, so it is serialised: the head row is
locked (``SELECT … FOR UPDATE``, after the linkers' advisory lock on PostgreSQL; on SQLite every write
transaction already holds the database's write lock from its start, ``transaction_mode = IMMEDIATE``).
No two linkers can take the same sequence or the same predecessor, so the chain never forks, skips or
repeats. Two ways to append:

* ``append_entry_without_waiting`` (executions finishing: the hot path) never waits for the ledger's lock.
  On SQLite, whose write transactions hold the database's write lock anyway, the entry is linked in the
  caller's transaction and written once, with its place in the chain, after any entry pending before it
  (``LINK_AT_ONCE``; on request also on PostgreSQL, when ``pg_try_advisory_xact_lock`` finds the lock
  free). Otherwise the entry is written *pending*: record, ``created_at`` and ``content_hash``, no
  sequence yet, so finishing runs commit in parallel. Right after the commit (``transaction.on_commit``,
  same process) pending entries are linked: one linker at a time links every pending entry in one short
  transaction and looks again after it; the others, finding the lock taken, return at once and leave
  theirs to it (group commit). A writer that linked in its own transaction looks again after its commit
  too. The beat task ``ledger.link_pending_entries`` links as well, so an entry whose process died
  between commit and linking is linked a moment later.
* ``append_entry`` / ``append_entries`` (grants, approvals, imports: rare) link in the caller's
  transaction, holding the head's lock until it commits; pending entries visible then are linked first.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet

from argus_plugins.canonical import NotCanonicalizable
from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.hooks import run_hooks
from argus_plugins.core.metrics import timed
from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.permissions import require_authenticated, require_tenant_role

from . import metrics
from .hashing import (
    GENESIS_HASH,
    canonical_record,
    check_entry_type,
    content_hash,
    format_timestamp,
    parse_stored_record,
    preimage,
    prepare_record,
)
from .hooks import ENTRIES_LINKED
from .merkle import HASH_SIZE, extend_frontier, leaf_hash
from .models import LedgerEntry, LedgerHead

logger = logging.getLogger(__name__)

#: The PostgreSQL advisory lock that serialises linkers (the ASCII of "ARGL"), taken before the head row's
#: lock. Unlike a row lock it gives the transaction no transaction id, so a linker that finds nothing left
#: to link (another one linked its entry) commits without writing or flushing the write-ahead log.
LINK_LOCK_ID = 0x4152474C
#: Pending entries linked per transaction (more stay pending for the next one, in the same call).
LINK_BATCH = 1000
#: Whether a run's entry is linked in its own transaction when the linkers' lock is free, by database.
#: SQLite: yes, its write transactions are serialised anyway (one write transaction per run instead of
#: two). PostgreSQL: no. With finishes in parallel the lock was rarely free, and a writer holding it
#: through its commit kept the group-commit linker out: at 8 writers the bench's ratio to plain inserts
#: fell from 0.42-0.43 to 0.32-0.33 (same machine, back to back); a single writer gained (0.14 to 0.29).
LINK_AT_ONCE = {"sqlite": True, "postgresql": False}
#: A linker looks again after each batch while entries are pending; under endless load it hands over after
#: this many batches (the next commit's process, or the beat task, links on).
MAX_LINKER_ROUNDS = 100


class EntryType(enum.StrEnum):
    """Entry types written today. Any dotted lower-case name is accepted; tenant members see only
    ``execution.*`` entries of their tenant."""

    EXECUTION_COMPLETED = "execution.completed"
    GRANT_CREATED = "grant.created"
    GRANT_REVOKED = "grant.revoked"
    VERSION_APPROVED = "version.approved"


#: Entry types whose prefix tenant members may read (through GraphQL) for their own tenant.
TENANT_VISIBLE_PREFIX = "execution."


class LedgerCorruptedError(RuntimeError):
    """The ledger is in a state no append can have produced (head row missing while entries exist)."""


def append_entry(
    entry_type: str, record: dict[str, Any], *, tenant_id: Any = None, entry_id: uuid.UUID | None = None
) -> LedgerEntry:
    """Append one entry, linked, and return it. Call it inside the transaction that makes ``record`` true.

    ``record`` must be a JSON object inside the ledger's domain (see ``ledger.hashing.prepare_record``):
    a value that cannot be canonicalised raises ``NotCanonicalizable`` here, before anything is written.
    ``tenant_id`` scopes the entry to a tenant; it is also written into the record as ``tenant_id`` (if the
    record already has one, they must agree), because only the record is covered by the hash.

    ``entry_id`` is the new entry's id when the caller has already written a reference to it in this
    transaction (references to entries are foreign keys checked at commit): one UPDATE less for it.

    The head's lock is held until the caller's transaction ends: fine for rare appends; frequent ones
    (every finished run) use ``append_entry_without_waiting``.
    """
    return _append([_prepare(entry_type, record, tenant_id)], [entry_id])[0]


def append_entries(items: Iterable[tuple[str, dict[str, Any], Any]]) -> list[LedgerEntry]:
    """Append ``(entry_type, record, tenant_id)`` items as consecutive entries under one lock.

    Same rules as ``append_entry``; used for batches (imports, benchmarks) where one lock and one bulk
    INSERT are much cheaper than an append per item.
    """
    # Validate and canonicalise everything before taking the lock: a bad record fails with nothing written,
    # and the (slow) canonicalisation does not hold up other writers.
    prepared = [_prepare(entry_type, record, tenant_id) for entry_type, record, tenant_id in items]
    return _append(prepared, [None] * len(prepared))


@timed(metrics.APPEND_SECONDS)
def append_entry_without_waiting(
    entry_type: str,
    record: dict[str, Any],
    *,
    tenant_id: Any = None,
    entry_id: uuid.UUID | None = None,
    link_at_once: bool | None = None,
) -> LedgerEntry:
    """Write one entry in the caller's transaction without waiting for any other writer.

    Same arguments and refusals as ``append_entry``. If the linkers' lock is free (never waiting for it)
    the entry is linked here: the entries pending before it are linked first, then it is written once,
    with its sequence and hashes. The lock is then held until the caller's transaction ends: what the
    caller does afterwards in it must not wait for rows that another appender (``append_entry``, which
    waits for the lock) could hold. If the lock is taken, the entry is written pending (``sequence`` None,
    empty ``prev_hash`` / ``entry_hash``, its ``content_hash`` protecting it) and linked right after the
    commit (or, if the process dies first, by the beat task).

    ``link_at_once`` says whether to try linking here at all; by default ``LINK_AT_ONCE[vendor]``.
    """
    if link_at_once is None:
        link_at_once = LINK_AT_ONCE.get(connection.vendor, False)
    entry_type, plain, canonical, tenant_uuid = _prepare(entry_type, record, tenant_id)
    created_at = format_timestamp(clock.now())
    entry = LedgerEntry(
        id=entry_id or uuid.uuid4(),
        sequence=None,
        entry_type=entry_type,
        record=plain,
        tenant_id=tenant_uuid,
        prev_hash="",
        entry_hash="",
        created_at=created_at,
        content_hash=content_hash(entry_type, canonical, created_at),
    )
    # One transaction (the caller's, or its own outside one): linking and writing must commit together.
    with transaction.atomic(savepoint=False):
        locked, head = _lock_if_free() if link_at_once else (False, None)
        if locked:
            if head is None:
                # Entries that committed pending before this one keep their turn.
                _link_pending(LINK_BATCH)
                head = _lock_head()
            _chain(head, [(entry, canonical)])
            LedgerEntry.objects._write(entry)
            linked_ids = [entry.id]
            transaction.on_commit(lambda: run_hooks(ENTRIES_LINKED, linked_ids), robust=True)
            # Writers that found the lock taken while this transaction held it left their entries to it.
            transaction.on_commit(_link_left_pending, robust=True)
        else:
            LedgerEntry.objects._write(entry)
            # robust: a failure to link (e.g. the database went away) must not fail the committed run; the
            # beat task links the entry later.
            transaction.on_commit(_link_after_commit, robust=True)
    return entry


def _lock_if_free() -> tuple[bool, LedgerHead | None]:
    """Take the linkers' lock for this transaction if it is free, never waiting. Returns whether it was taken
    and, when no entry is pending (the usual case), the head, locked: one fixed query instead of three (the
    lock, the pending entries' read, the head's lock). The head is None when entries are pending or the
    head row needs ``_lock_head``'s care (at sequence 0, or missing after a test flush; on PostgreSQL the
    lock is then reported not taken, and the entry is linked after the commit).

    On PostgreSQL the lock is taken in the query's WHERE clause, after the query's snapshot: a pending
    entry committed in between is missed by EXISTS, but its writer found the lock taken and left the entry
    to this transaction, which looks again after its commit (``_link_left_pending``). The head row is read
    ``FOR UPDATE``, which returns its latest committed version whatever the snapshot (READ COMMITTED).
    On SQLite the write transaction already excludes every other writer.
    """
    entries, head = (connection.ops.quote_name(model._meta.db_table) for model in (LedgerEntry, LedgerHead))
    query = (
        f"SELECT sequence, entry_hash, frontier, "  # noqa: S608
        f"EXISTS (SELECT 1 FROM {entries} WHERE sequence IS NULL) FROM {head} WHERE id = %s"
    )
    params: list[Any] = [LedgerHead.SINGLETON_ID]
    if connection.vendor == "postgresql":
        query += " AND pg_try_advisory_xact_lock(%s) FOR UPDATE"
        params.append(LINK_LOCK_ID)
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        row = cursor.fetchone()
    if row is None:  # PostgreSQL: the lock is taken (or the head row missing); SQLite: the row is missing
        return connection.vendor != "postgresql", None
    sequence, entry_hash, frontier, pending = row
    if pending or sequence == 0:
        return True, None
    return True, LedgerHead(
        id=LedgerHead.SINGLETON_ID, sequence=sequence, entry_hash=entry_hash, frontier=bytes(frontier)
    )


def _link_left_pending() -> None:
    """After a commit that linked in its transaction: link what other writers left pending meanwhile."""
    if connection.vendor != "postgresql":
        return  # no other writer could write while this transaction held SQLite's write lock
    if _anything_pending(set()):
        _link_after_commit()


def _anything_pending(refused: set[uuid.UUID]) -> bool:
    """Whether an entry other than ``refused`` ones is pending. Fixed SQL: every linking round asks it (the
    ORM's ``exists()`` compiled its query each time: about a sixth of a one-entry round's CPU)."""
    if refused:  # rare: an entry altered while pending
        return LedgerEntry.objects.pending().exclude(pk__in=refused).exists()
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {table} WHERE sequence IS NULL LIMIT 1")  # noqa: S608
        return cursor.fetchone() is not None


def _link_after_commit() -> None:
    """Right after a commit that wrote pending entries: link them, and whatever else is pending.

    On PostgreSQL this is group commit without waiting: the first process to take the linkers' lock
    (``pg_try_advisory_lock``, never waiting) becomes the linker, links every pending entry in one short
    transaction, releases the lock and looks again, until nothing is pending. A process that finds the
    lock taken returns at once: the holder looks again after its commit, which is after this one's, so it
    links this entry too. On SQLite writers are serialised by the database anyway: it just links.
    """
    if connection.vendor != "postgresql":
        link_pending_entries()
        return
    refused: set[uuid.UUID] = set()
    for _ in range(MAX_LINKER_ROUNDS):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LINK_LOCK_ID])
            if not cursor.fetchone()[0]:
                return  # another linker is at work and will look again after its commit
        try:
            with transaction.atomic():
                refused |= _link_pending(LINK_BATCH)[2]
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LINK_LOCK_ID])
        if not _anything_pending(refused):
            return
    logger.warning("Ledger entries pending after %d linker rounds: beat links them.", MAX_LINKER_ROUNDS)


@timed(metrics.LINK_SECONDS)
def link_pending_entries() -> int:
    """Link every pending entry (oldest first) into the chain; return how many were linked.

    Each batch is one short transaction: lock (waiting for it), read the pending entries, hash and chain
    them, one UPDATE for them and one for the head, commit; then it looks again (a process that found the
    lock taken relies on that), until nothing is pending. An entry whose stored content no longer matches
    its ``content_hash`` is not linked (it was tampered with while pending): it is logged, stays pending
    and verification reports it.
    """
    linked, refused = 0, set()
    for _ in range(MAX_LINKER_ROUNDS):
        with transaction.atomic():
            _serialise_linkers()
            _read, chained, newly_refused = _link_pending(LINK_BATCH)
        linked, refused = linked + chained, refused | newly_refused
        if not _anything_pending(refused):
            break
    return linked


def ensure_linked(entry: LedgerEntry) -> LedgerEntry:
    """``entry`` with its place in the chain: a pending one is linked now (with every other pending entry)
    and its sequence and hashes re-read.

    For readers that need the place right after the change's commit (a run's entry is linked a moment
    after its terminal status commits): they never see a finished run whose entry has no sequence, even if
    the writer's process died before linking it. An entry refused by the linker (altered while pending)
    stays pending, and this instance is not linked again: its three GraphQL fields ask once between them.
    """
    if entry.sequence is None and not getattr(entry, "_link_tried", False):
        link_pending_entries()
        entry.refresh_from_db(fields=["sequence", "prev_hash", "entry_hash", "subtree_hashes"])
        entry._link_tried = True
    return entry


@timed(metrics.APPEND_SECONDS)
def _append(prepared: list[tuple[str, dict, bytes, Any]], ids: list[uuid.UUID | None]) -> list[LedgerEntry]:
    if not prepared:
        return []
    with transaction.atomic():
        _serialise_linkers()
        # Entries that committed pending before this one keep their turn.
        _link_pending(LINK_BATCH)
        head = _lock_head()
        entries = []
        for entry_type, record, canonical, tenant_uuid in prepared:
            created_at = format_timestamp(clock.now())
            entry = LedgerEntry(
                entry_type=entry_type,
                record=record,
                tenant_id=tenant_uuid,
                created_at=created_at,
                content_hash=content_hash(entry_type, canonical, created_at),
            )
            entries.append((entry, canonical))
        for (entry, _), entry_id in zip(entries, ids, strict=True):
            entry.id = entry_id or uuid.uuid4()
        _chain(head, entries)
        LedgerEntry.objects.bulk_create([entry for entry, _ in entries], batch_size=500)
        # Processes that found the linkers' lock taken meanwhile left their entries to this holder.
        transaction.on_commit(_link_after_commit, robust=True)
    return [entry for entry, _ in entries]


def _serialise_linkers() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LINK_LOCK_ID])


def _link_pending(limit: int) -> tuple[int, int, set[uuid.UUID]]:
    """Under the linkers' lock: link up to ``limit`` pending entries; return (read, linked, refused ids)."""
    rows = _pending_rows(limit)
    if not rows:
        return 0, 0, set()
    entries, refused = [], set()
    for entry_id, entry_type, record_text, created_at, stored_content_hash in rows:
        try:
            canonical = canonical_record(*parse_stored_record(record_text))
        except (NotCanonicalizable, ValueError, TypeError):  # incl. JSON and encoding errors
            canonical = None
        if canonical is None or content_hash(entry_type, canonical, created_at) != stored_content_hash:
            logger.error(
                "Pending ledger entry %s does not match its content_hash (tampered with?): not linked; "
                "run verify_ledger.",
                entry_id,
            )
            refused.add(entry_id)
            continue
        entries.append((LedgerEntry(id=entry_id, entry_type=entry_type, created_at=created_at), canonical))
    if entries:
        _chain(_lock_head(), entries)
        LedgerEntry.objects._link([entry for entry, _ in entries])
        linked_ids = [entry.id for entry, _ in entries]
        # robust: a reaction that fails (e.g. Redis down for execution's announcements) must not undo or
        # hide a committed link.
        transaction.on_commit(lambda: run_hooks(ENTRIES_LINKED, linked_ids), robust=True)
    return len(rows), len(entries), refused


def _pending_rows(limit: int) -> list[tuple[uuid.UUID, str, str, str, str]]:
    """The oldest ``limit`` pending entries as (id, entry_type, record as stored text, created_at,
    content_hash): ``LedgerEntry.objects.pending()``'s order, in fixed SQL (the ORM compiled the query on
    every linking round: about a quarter of a one-entry round's CPU)."""
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, entry_type, CAST(record AS text), created_at, content_hash FROM {table} "  # noqa: S608
            "WHERE sequence IS NULL ORDER BY created_at, id LIMIT %s",
            [limit],
        )
        rows = cursor.fetchall()
    # psycopg returns UUIDs; SQLite the 32 hex digits Django stores there.
    return [
        (entry_id if isinstance(entry_id, uuid.UUID) else uuid.UUID(entry_id), *rest)
        for entry_id, *rest in rows
    ]


def _chain(head: LedgerHead, entries: list[tuple[LedgerEntry, bytes]]) -> None:
    """Give ``(entry, canonical record)`` pairs the next places after ``head`` and move the head past them.

    Called with the head locked. Fills in sequence, prev_hash, entry_hash and subtree_hashes.
    """
    sequence, prev_hash = head.sequence, head.entry_hash
    frontier = _frontier_of(head)
    for entry, canonical in entries:
        # One preimage serves both hashes: the chain's entry_hash and the Merkle tree's leaf.
        data = preimage(sequence + 1, entry.entry_type, canonical, prev_hash, entry.created_at)
        digest = hashlib.sha256(data).hexdigest()
        completed: list[bytes] = []
        extend_frontier(frontier, sequence, leaf_hash(data), completed.append)
        sequence += 1
        entry.sequence, entry.prev_hash, entry.entry_hash = sequence, prev_hash, digest
        entry.subtree_hashes = b"".join(completed)
        prev_hash = digest
    # A conditional UPDATE: the lock makes a concurrent head change impossible, the condition checkable.
    moved = LedgerHead.objects._move(
        head, sequence=sequence, entry_hash=prev_hash, frontier=b"".join(frontier)
    )
    if moved != 1:  # pragma: no cover - only reachable if the lock does not serialise appends
        raise LedgerCorruptedError("The ledger head moved during an append.")
    head.sequence, head.entry_hash, head.frontier = sequence, prev_hash, b"".join(frontier)


def _frontier_of(head: LedgerHead) -> list[bytes]:
    packed = bytes(head.frontier)  # memoryview on PostgreSQL
    if len(packed) != HASH_SIZE * head.sequence.bit_count():
        raise LedgerCorruptedError("The ledger head's Merkle frontier does not match its size.")
    return [packed[at : at + HASH_SIZE] for at in range(0, len(packed), HASH_SIZE)]


def _prepare(entry_type: str, record: dict[str, Any], tenant_id: Any) -> tuple[str, dict, bytes, Any]:
    check_entry_type(entry_type)
    if not isinstance(record, dict):
        prepare_record(record)  # raises NotCanonicalizable with the standard message
    tenant_uuid = _tenant_of(record, tenant_id)
    if tenant_uuid is not None and "tenant_id" not in record:
        record = {**record, "tenant_id": str(tenant_uuid)}
    plain, canonical = prepare_record(record)
    return entry_type, plain, canonical, tenant_uuid


def _tenant_of(record: dict[str, Any], tenant_id: Any) -> uuid.UUID | None:
    in_record = record.get("tenant_id")
    record_uuid = None
    if in_record is not None:
        try:
            record_uuid = uuid.UUID(in_record) if isinstance(in_record, str) else None
        except ValueError:
            record_uuid = None
        # The hashed record and the tenant column must spell the id one way: lower-case with hyphens.
        if record_uuid is None or str(record_uuid) != in_record:
            raise ValueError("record['tenant_id'] must be a lower-case UUID string (str(uuid)) or absent")
    given = uuid.UUID(str(tenant_id)) if tenant_id is not None else None
    if record_uuid is not None and given is not None and record_uuid != given:
        raise ValueError(f"tenant_id {given} does not match record['tenant_id'] {record_uuid}")
    return given or record_uuid


_LOCKED_HEAD = PreparedQuery(
    lambda: LedgerHead.objects.select_for_update().filter(pk=LedgerHead.SINGLETON_ID).order_by()
)


def _lock_head() -> LedgerHead:
    head = _LOCKED_HEAD.first()
    if head is None:
        # The migration creates the row; it is missing only after a test flush. Concurrent creators race
        # here: the conflicting insert waits for the winner's commit and is ignored (ON CONFLICT DO NOTHING
        # / INSERT OR IGNORE), then everyone locks the same row.
        LedgerHead.objects.bulk_create(
            [LedgerHead(id=LedgerHead.SINGLETON_ID, sequence=0, entry_hash=GENESIS_HASH)],
            ignore_conflicts=True,
        )
        head = LedgerHead.objects.select_for_update().get(pk=LedgerHead.SINGLETON_ID)
    if head.sequence == 0 and LedgerEntry.objects.linked().exists():
        raise LedgerCorruptedError("The ledger head row was reset although entries exist; run verify_ledger.")
    return head


def entries_visible_to(user: Any, *, tenant_id: Any = None, entry_type: Any = None) -> QuerySet[LedgerEntry]:
    """Ledger entries ``user`` may read, in sequence order; pending entries (no sequence yet) last.

    Staff see every entry (optionally of one tenant). Tenant members (any role) see the ``execution.*``
    entries of one tenant they belong to, which they must name; another tenant's id is NOT_FOUND.
    """
    require_authenticated(user)
    entries = LedgerEntry.objects.order_by(F("sequence").asc(nulls_last=True), "created_at", "id")
    if entry_type is not None:
        entries = entries.filter(entry_type=clean_text(entry_type, field="entryType", max_length=64))
    if user.is_staff:
        if tenant_id is not None:
            entries = entries.filter(tenant_id=parse_uuid(tenant_id, field="tenantId"))
        return entries
    if tenant_id is None:
        raise DomainError(
            CommonErrorCode.REQUIRED, "Give the tenant whose ledger entries to list.", "tenantId"
        )
    membership = require_tenant_role(user, tenant_id, field="tenantId")
    return entries.filter(tenant_id=membership.tenant_id, entry_type__startswith=TENANT_VISIBLE_PREFIX)
