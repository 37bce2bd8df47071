"""The ledger's Merkle tree as stored: roots and proofs read from O(log n) rows, never recomputed.

Leaf ``i`` is entry ``sequence = i + 1``; its leaf data is the entry's hash preimage (the RFC 8785 bytes
``entry_hash`` is the SHA-256 of). The complete subtree ``(level, index)`` ends with leaf ``(index + 1) *
2**level - 1``, so it is stored by the entry with ``sequence = (index + 1) << level`` at offset ``level``
of its ``subtree_hashes`` (written by the append, in the append's transaction). A root or proof names a
set of such nodes (``ledger.merkle``); they are fetched in one query by primary-key-like lookups on
``sequence`` (unique index) and folded in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from .merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    Node,
    ProofError,
    consistency_nodes,
    fold,
    inclusion_nodes,
    nodes_of,
    range_nodes,
    resolve,
    root_from_frontier,
)
from .models import LedgerEntry, LedgerHead


class TreeCorruptedError(RuntimeError):
    """A stored subtree hash is missing: the tree rows were tampered with or never written."""


@dataclass(frozen=True)
class TreeHead:
    size: int
    root: bytes


def current_head() -> TreeHead:
    """Size and root of the tree as committed (the head row's frontier: one row read)."""
    row = LedgerHead.objects.filter(pk=LedgerHead.SINGLETON_ID).values_list("sequence", "frontier").first()
    if row is None or row[0] == 0:
        return TreeHead(0, EMPTY_ROOT)
    size, packed = row[0], bytes(row[1])
    if len(packed) != HASH_SIZE * size.bit_count():
        raise TreeCorruptedError("the head's frontier does not match its size")
    frontier = [packed[at : at + HASH_SIZE] for at in range(0, len(packed), HASH_SIZE)]
    return TreeHead(size, root_from_frontier(frontier))


def fetch_nodes(nodes: set[Node]) -> dict[Node, bytes]:
    """The stored hashes of complete subtrees, in one query over the entries that hold them."""
    wanted: dict[int, list[int]] = {}
    for level, index in nodes:
        wanted.setdefault((index + 1) << level, []).append(level)
    if not wanted:
        return {}
    rows = LedgerEntry.objects.filter(sequence__in=list(wanted)).values_list("sequence", "subtree_hashes")
    found: dict[Node, bytes] = {}
    for sequence, packed in rows:
        packed = bytes(packed)
        for level in wanted[sequence]:
            digest = packed[level * HASH_SIZE : (level + 1) * HASH_SIZE]
            if len(digest) == HASH_SIZE:
                found[(level, (sequence >> level) - 1)] = digest
    missing = nodes - found.keys()
    if missing:
        raise TreeCorruptedError(f"{len(missing)} stored subtree hash(es) are missing, e.g. {min(missing)}")
    return found


def _check_size(size: int, field: str = "treeSize") -> None:
    head = LedgerHead.objects.filter(pk=LedgerHead.SINGLETON_ID).values_list("sequence", flat=True).first()
    if not 1 <= size <= (head or 0):
        raise ProofError(f"{field} must be between 1 and the ledger's size ({head or 0})")


def root_at(size: int) -> bytes:
    """Root of the tree of the first ``size`` entries."""
    if size == 0:
        return EMPTY_ROOT
    nodes = range_nodes(0, size)
    hashes = fetch_nodes(set(nodes))
    return fold([hashes[node] for node in nodes])


def inclusion_proof(sequence: int, tree_size: int) -> list[bytes]:
    """Audit path of entry ``sequence`` (leaf ``sequence - 1``) in the tree of ``tree_size`` entries."""
    _check_size(tree_size)
    terms = inclusion_nodes(sequence - 1, tree_size)
    return resolve(terms, fetch_nodes(nodes_of(terms)))


def consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    """Proof that the tree of ``new_size`` entries extends the tree of ``old_size`` entries."""
    _check_size(new_size, "toSize")
    terms = consistency_nodes(old_size, new_size)
    return resolve(terms, fetch_nodes(nodes_of(terms)))


def leaf_hash_of(sequence: int) -> bytes:
    return fetch_nodes({(0, sequence - 1)})[(0, sequence - 1)]
