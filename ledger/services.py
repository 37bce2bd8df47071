"""Appending to the ledger, and who may read which entries.

``append_entry`` runs inside the caller's transaction: the entry commits together with whatever it records
(an execution's terminal status, a grant) or not at all. Appends are serialised by locking the single
``LedgerHead`` row: ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite every write transaction already holds
the database's write lock from its start (``transaction_mode = IMMEDIATE`` in settings), so the head read
and the insert cannot interleave with another writer's. Either way no two writers can take the same
sequence or the same predecessor, so the chain never forks, skips or repeats.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from argus_plugins.core import clock
from argus_plugins.core.errors import CommonErrorCode, DomainError
from argus_plugins.core.metrics import timed
from argus_plugins.core.prepared import PreparedQuery
from argus_plugins.core.validation import clean_text, parse_uuid
from argus_plugins.tenancy.permissions import require_authenticated, require_tenant_role

from . import metrics
from .hashing import GENESIS_HASH, check_entry_type, format_timestamp, preimage, prepare_record
from .merkle import HASH_SIZE, extend_frontier, leaf_hash
from .models import LedgerEntry, LedgerHead


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
    """Append one entry and return it. Call it inside the transaction that makes ``record`` true.

    ``record`` must be a JSON object inside the ledger's domain (see ``ledger.hashing.prepare_record``):
    a value that cannot be canonicalised raises ``NotCanonicalizable`` here, before anything is written.
    ``tenant_id`` scopes the entry to a tenant; it is also written into the record as ``tenant_id`` (if the
    record already has one, they must agree), because only the record is covered by the hash.

    ``entry_id`` is the new entry's id when the caller has already written a reference to it in this
    transaction (references to entries are foreign keys checked at commit): one UPDATE less for it.
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
def _append(prepared: list[tuple[str, dict, bytes, Any]], ids: list[uuid.UUID | None]) -> list[LedgerEntry]:
    if not prepared:
        return []
    with transaction.atomic():
        head = _lock_head()
        sequence, prev_hash = head.sequence, head.entry_hash
        frontier = _frontier_of(head)
        entries = []
        for (entry_type, record, canonical, tenant_uuid), entry_id in zip(prepared, ids, strict=True):
            created_at = format_timestamp(clock.now())
            # One preimage serves both hashes: the chain's entry_hash and the Merkle tree's leaf.
            data = preimage(sequence + 1, entry_type, canonical, prev_hash, created_at)
            digest = hashlib.sha256(data).hexdigest()
            completed: list[bytes] = []
            extend_frontier(frontier, sequence, leaf_hash(data), completed.append)
            sequence += 1
            entries.append(
                LedgerEntry(
                    id=entry_id or uuid.uuid4(),
                    sequence=sequence,
                    entry_type=entry_type,
                    record=record,
                    tenant_id=tenant_uuid,
                    prev_hash=prev_hash,
                    entry_hash=digest,
                    created_at=created_at,
                    subtree_hashes=b"".join(completed),
                )
            )
            prev_hash = digest
        LedgerEntry.objects.bulk_create(entries, batch_size=500)
        # A plain conditional UPDATE (not save()) so a concurrent head change could never be overwritten;
        # the lock makes it impossible, the condition makes it checkable.
        moved = LedgerHead.objects.filter(pk=head.pk, sequence=head.sequence).update(
            sequence=sequence, entry_hash=prev_hash, frontier=b"".join(frontier)
        )
        if moved != 1:  # pragma: no cover - only reachable if the lock does not serialise appends
            raise LedgerCorruptedError("The ledger head moved during an append.")
    return entries


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
    if head.sequence == 0 and LedgerEntry.objects.exists():
        raise LedgerCorruptedError("The ledger head row was reset although entries exist; run verify_ledger.")
    return head


def entries_visible_to(user: Any, *, tenant_id: Any = None, entry_type: Any = None) -> QuerySet[LedgerEntry]:
    """Ledger entries ``user`` may read, in sequence order.

    Staff see every entry (optionally of one tenant). Tenant members (any role) see the ``execution.*``
    entries of one tenant they belong to, which they must name; another tenant's id is NOT_FOUND.
    """
    require_authenticated(user)
    entries = LedgerEntry.objects.order_by("sequence")
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
