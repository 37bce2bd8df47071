"""Verify the whole ledger: stream it in sequence order, recompute every hash, check every link.

Memory is constant whatever the length: rows are streamed with ``QuerySet.iterator(chunk_size=…)`` (a
server-side cursor on PostgreSQL) as plain tuples, and the record is read as its stored JSON text so it is
parsed exactly once. Verification stops at the first break and explains it; the extra queries that tell
a deletion from a reordering or an insertion run only then.

What a hash chain can and cannot show: any change to stored entries is detected unless the tamperer also
recomputes every later hash *and* the head row. Publishing the head hash elsewhere (the report's
``head_hash``) closes that gap: compare it later with ``--head`` of the standalone verifier.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

from django.db.models import CharField, Subquery, TextField
from django.db.models.functions import Cast

from argus_plugins.canonical import NotCanonicalizable

from .hashing import GENESIS_HASH, canonical_record, content_hash, parse_stored_record, stored_preimage
from .merkle import root_from_frontier
from .models import LedgerCheckpoint, LedgerEntry, LedgerHead
from .notes import b64

DEFAULT_CHUNK_SIZE = 2000
DEFAULT_PROGRESS_EVERY = 100_000

#: ``progress(entries_checked, total)``; total is the head's sequence (None without a head row).
ProgressCallback = Callable[[int, int | None], None]


class BreakReason(enum.StrEnum):
    #: An entry's stored fields no longer hash to its entry_hash (an altered field).
    HASH_MISMATCH = "HASH_MISMATCH"
    #: An entry hashes correctly but its prev_hash is not the previous entry's hash.
    BROKEN_LINK = "BROKEN_LINK"
    #: Sequence numbers are missing: entries were deleted (in the middle or at the tail).
    GAP = "GAP"
    #: Entries are stored at other positions than the ones they were hashed at (e.g. swapped).
    REORDERED = "REORDERED"
    #: An entry that was never appended sits in the chain (or beyond the head).
    INSERTED = "INSERTED"
    #: The tenant column disagrees with the record's tenant_id (which the hash covers).
    TENANT_MISMATCH = "TENANT_MISMATCH"
    #: The head row is missing or does not match the last entry.
    HEAD_MISMATCH = "HEAD_MISMATCH"
    #: The stored Merkle tree hashes (an entry's subtree hashes, the head's frontier) differ from the
    #: ones the entries imply: proofs served from them would be wrong.
    TREE_MISMATCH = "TREE_MISMATCH"
    #: A stored signed checkpoint's root differs from the root the entries imply at its size: the history
    #: it signed was rewritten since.
    CHECKPOINT_MISMATCH = "CHECKPOINT_MISMATCH"
    #: A pending entry (written, not linked yet) no longer matches its content_hash, or its tenant column
    #: disagrees with its record: it was altered while it waited to be linked.
    PENDING_MISMATCH = "PENDING_MISMATCH"


@dataclass(frozen=True)
class VerificationReport:
    ok: bool
    #: Entries verified intact, from sequence 1 on (all of them when ok).
    entries_checked: int
    #: Hash of the last intact entry (of the whole chain when ok); 64 zeros for an empty ledger.
    head_hash: str
    #: The first sequence at which the chain is broken (None when ok, or when only the head row is bad).
    broken_sequence: int | None = None
    reason: BreakReason | None = None
    detail: str = ""
    #: Root of the Merkle tree of the verified entries (base64); empty when broken.
    root_hash: str = ""
    #: Pending entries (not linked yet) checked against their content_hash; not part of the chain or tree.
    pending_checked: int = 0

    def summary(self) -> str:
        if self.ok:
            pending = f" (+{self.pending_checked} pending, intact)" if self.pending_checked else ""
            return (
                f"Ledger OK: {self.entries_checked} entries, head {self.head_hash}, root {self.root_hash}"
                f"{pending}"
            )
        where = f"sequence {self.broken_sequence}" if self.broken_sequence is not None else "the head row"
        if self.reason == BreakReason.PENDING_MISMATCH:
            where = "a pending entry"
        return f"Ledger BROKEN at {where}: {self.reason}: {self.detail}"


class _Break(Exception):
    def __init__(self, sequence: int | None, reason: BreakReason, detail: str) -> None:
        super().__init__(detail)
        self.sequence, self.reason, self.detail = sequence, reason, detail


def verify_chain(
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressCallback | None = None,
    progress_every: int = DEFAULT_PROGRESS_EVERY,
) -> VerificationReport:
    """Verify every entry and the head row; report the first break, if any."""
    # Read the head first and verify up to it: entries appended while we stream are not half-seen.
    head = (
        LedgerHead.objects.filter(pk=LedgerHead.SINGLETON_ID)
        .values_list("sequence", "entry_hash", "frontier")
        .first()
    )
    # Every signed root, by size, to compare with the root recomputed when the stream reaches that size.
    checkpoint_roots = dict(LedgerCheckpoint.objects.values_list("tree_size", "root_hash"))
    rows = LedgerEntry.objects.linked().order_by("sequence")
    if head is not None:
        rows = rows.filter(sequence__lte=head[0])
    rows = rows.values_list(
        "sequence",
        "entry_type",
        Cast("record", output_field=TextField()),
        "prev_hash",
        "created_at",
        "entry_hash",
        # As text: Django's per-row UUID conversion would cost more than hashing the entry.
        Cast("tenant_id", output_field=CharField()),
        "subtree_hashes",
    )
    total = head[0] if head is not None else None
    expected, prev = 1, GENESIS_HASH
    frontier: list[bytes] = []
    prev_before = GENESIS_HASH  # hash of entry expected-2, to recognise an inserted entry
    next_report = progress_every if progress is not None else -1
    tenant_spelling: dict[str, str] = {}  # stored tenant id -> str(UUID), per distinct tenant
    try:
        for (
            sequence,
            entry_type,
            text,
            prev_hash,
            created_at,
            stored_hash,
            tenant,
            stored_nodes,
        ) in rows.iterator(chunk_size=chunk_size):
            if sequence != expected:
                _explain_misplaced(sequence, expected, prev)
            try:
                record, data = stored_preimage(sequence, entry_type, text, prev_hash, created_at)
                computed, problem = sha256(data).hexdigest(), ""
            except (NotCanonicalizable, ValueError, TypeError) as exc:  # incl. JSON and encoding errors
                record, computed, problem = None, None, f"the stored entry cannot be hashed ({exc})"
            if computed != stored_hash:
                _explain_mismatch(sequence, prev_hash, prev, prev_before, problem)
            if prev_hash != prev:
                _explain_link(sequence, prev_hash, prev_before)
            # The Merkle tree (ledger.merkle.extend_frontier, inlined: it runs once per entry): the leaf, then
            # one parent per trailing 1-bit of the tree's size before this entry.
            node = sha256(b"\x00" + data).digest()
            completed, size = node, sequence - 1
            while size & 1:
                node = sha256(b"\x01" + frontier.pop() + node).digest()
                completed += node
                size >>= 1
            frontier.append(node)
            if stored_nodes != completed:
                raise _Break(
                    sequence,
                    BreakReason.TREE_MISMATCH,
                    "its stored Merkle tree hashes are not the ones its entry implies",
                )
            if (
                sequence in checkpoint_roots
                and b64(root_from_frontier(frontier)) != checkpoint_roots[sequence]
            ):
                raise _Break(
                    sequence,
                    BreakReason.CHECKPOINT_MISMATCH,
                    f"the signed checkpoint of {sequence} entries has another root: the entries up to "
                    f"{sequence} were rewritten after it was signed",
                )
            record_tenant = record.get("tenant_id") if isinstance(record, dict) else None
            column_tenant = tenant_spelling.get(tenant)
            if column_tenant is None and tenant is not None:
                column_tenant = tenant_spelling[tenant] = _uuid_spelling(tenant)
            if record_tenant != column_tenant:
                raise _Break(
                    sequence,
                    BreakReason.TENANT_MISMATCH,
                    f"the tenant column ({tenant}) differs from the record's tenant_id ({record_tenant})",
                )
            prev_before, prev = prev, stored_hash
            expected += 1
            if expected - 1 == next_report:
                progress(expected - 1, total)  # type: ignore[misc]
                next_report += progress_every
        _check_head(head, expected - 1, prev, frontier)
        beyond = [size for size in checkpoint_roots if size >= expected]
        if beyond:
            raise _Break(
                expected,
                BreakReason.CHECKPOINT_MISMATCH,
                f"a signed checkpoint covers {max(beyond)} entries but the ledger has only {expected - 1}",
            )
        pending = _check_pending(chunk_size)
    except _Break as broken:
        checked = (broken.sequence - 1) if broken.sequence is not None else expected - 1
        return VerificationReport(
            ok=False,
            entries_checked=checked,
            head_hash=_hash_of(checked),
            broken_sequence=broken.sequence,
            reason=broken.reason,
            detail=broken.detail,
        )
    if progress is not None and (expected == 1 or (expected - 1) % progress_every):
        progress(expected - 1, total)  # the final count, unless it was just reported
    return VerificationReport(
        ok=True,
        entries_checked=expected - 1,
        head_hash=prev,
        root_hash=b64(root_from_frontier(frontier)),
        pending_checked=pending,
    )


def _check_pending(chunk_size: int) -> int:
    """Check the entries waiting to be linked (normally none, or the last moment's) against their
    content_hash and their tenant column; return how many there are."""
    rows = LedgerEntry.objects.pending().values_list(
        "id",
        "entry_type",
        Cast("record", output_field=TextField()),
        "created_at",
        "content_hash",
        Cast("tenant_id", output_field=CharField()),
        "prev_hash",
        "entry_hash",
        "subtree_hashes",
    )
    count = 0
    for entry_id, entry_type, text, created_at, stored, tenant, prev_hash, digest, nodes in rows.iterator(
        chunk_size=chunk_size
    ):
        try:
            record, fast = parse_stored_record(text)
            computed = content_hash(entry_type, canonical_record(record, fast), created_at)
        except (NotCanonicalizable, ValueError, TypeError):
            record, computed = None, None
        if computed != stored or prev_hash or digest or bytes(nodes):
            raise _Break(
                None,
                BreakReason.PENDING_MISMATCH,
                f"pending entry {entry_id} does not hash to its content_hash (a field was altered)",
            )
        record_tenant = record.get("tenant_id") if isinstance(record, dict) else None
        column_tenant = _uuid_spelling(tenant) if tenant is not None else None
        if record_tenant != column_tenant:
            raise _Break(
                None,
                BreakReason.PENDING_MISMATCH,
                f"pending entry {entry_id}: the tenant column ({tenant}) differs from the record's "
                f"tenant_id ({record_tenant})",
            )
        count += 1
    return count


def _uuid_spelling(stored: str) -> str:
    try:
        return str(uuid.UUID(stored))
    except ValueError:
        return f"<not a UUID: {stored!r}>"


# --- Explaining a break (only ever runs once, so it may query freely) --------------------------------------


def _successor_of(prev: str, exclude_sequence: int | None = None) -> tuple[int, str, str] | None:
    """The entry hashed right after the entry whose hash is ``prev``, wherever it is stored now."""
    rows = LedgerEntry.objects.filter(prev_hash=prev)
    if exclude_sequence is not None:
        rows = rows.exclude(sequence=exclude_sequence)
    return rows.order_by("sequence").values_list("sequence", "entry_hash", "prev_hash").first()


def _explain_misplaced(sequence: int, expected: int, prev: str) -> None:
    if sequence < expected:
        raise _Break(
            expected,
            BreakReason.REORDERED,
            f"sequence {sequence} appears again after sequence {expected - 1}",
        )
    successor = _successor_of(prev)
    if successor is not None:
        raise _Break(
            expected,
            BreakReason.HASH_MISMATCH,
            f"entry {expected} is stored under sequence {successor[0]} (its sequence number was altered)",
        )
    missing = f"{expected}" if sequence == expected + 1 else f"{expected} to {sequence - 1}"
    raise _Break(expected, BreakReason.GAP, f"entries {missing} are missing (deleted)")


def _explain_mismatch(sequence: int, prev_hash: str, prev: str, prev_before: str, problem: str) -> None:
    successor = _successor_of(prev, exclude_sequence=sequence)
    if successor is not None:
        moved_to, successor_hash, _ = successor
        if prev_hash == successor_hash or moved_to != sequence + 1:
            raise _Break(
                sequence,
                BreakReason.REORDERED,
                f"the entry hashed as {sequence} is stored under sequence {moved_to}; "
                f"another entry took its place",
            )
        raise _Break(
            sequence,
            BreakReason.INSERTED,
            f"an entry that was never appended sits at {sequence}; the original moved to {moved_to}",
        )
    if prev_hash != prev and prev_hash == prev_before and sequence > 1:
        _raise_inserted(sequence - 1)
    raise _Break(
        sequence,
        BreakReason.HASH_MISMATCH,
        problem or "its stored fields do not hash to its entry_hash (a field was altered)",
    )


def _explain_link(sequence: int, prev_hash: str, prev_before: str) -> None:
    if prev_hash == prev_before and sequence > 1:
        _raise_inserted(sequence - 1)
    raise _Break(
        sequence,
        BreakReason.BROKEN_LINK,
        f"its prev_hash is not the hash of entry {sequence - 1} (an earlier entry was replaced)",
    )


def _raise_inserted(sequence: int) -> None:
    raise _Break(
        sequence,
        BreakReason.INSERTED,
        f"entry {sequence} was never appended: entry {sequence + 1} links to entry {sequence - 1}",
    )


def _check_head(
    head: tuple[int, str, bytes] | None, last: int, last_hash: str, frontier: list[bytes]
) -> None:
    if head is None:
        if last:
            raise _Break(None, BreakReason.HEAD_MISMATCH, "the head row is missing although entries exist")
        return
    head_sequence, head_hash, head_frontier = head
    if last < head_sequence:
        successor = _successor_of(last_hash)
        if successor is not None:
            raise _Break(
                last + 1,
                BreakReason.HASH_MISMATCH,
                f"entry {last + 1} is stored under sequence {successor[0]} (its sequence number was altered)",
            )
        missing = f"{last + 1}" if head_sequence == last + 1 else f"{last + 1} to {head_sequence}"
        raise _Break(
            last + 1,
            BreakReason.GAP,
            f"entries {missing} are missing (the head records {head_sequence} entries)",
        )
    if head_hash != last_hash:
        raise _Break(
            None,
            BreakReason.HEAD_MISMATCH,
            f"the head records hash {head_hash} for entry {head_sequence}, which hashes to {last_hash}",
        )
    if bytes(head_frontier) != b"".join(frontier):
        raise _Break(
            None,
            BreakReason.TREE_MISMATCH,
            "the head's Merkle frontier is not the one the entries imply: new checkpoints would be wrong",
        )
    # One statement, so an append committing meanwhile (entry and head together) is never half-seen.
    beyond = LedgerEntry.objects.filter(
        sequence__gt=Subquery(LedgerHead.objects.filter(pk=LedgerHead.SINGLETON_ID).values("sequence")[:1])
    )
    extra = beyond.order_by("sequence").values_list("sequence", flat=True).first()
    if extra is not None:
        raise _Break(
            extra,
            BreakReason.INSERTED,
            f"entry {extra} lies beyond the head: it was not appended through the ledger",
        )


def _hash_of(sequence: int) -> str:
    if sequence <= 0:
        return GENESIS_HASH
    digest = LedgerEntry.objects.filter(sequence=sequence).values_list("entry_hash", flat=True).first()
    return digest or GENESIS_HASH
