"""RFC 9162 section 2.1 Merkle tree hashing, proofs and their verification (no Django imports).

Leaf hash = SHA-256(0x00 || leaf data), node hash = SHA-256(0x01 || left || right); the root of a tree of
``n`` leaves splits it at the largest power of two below ``n``. Proofs are built from the hashes of
*complete subtrees*: the node at ``(level, index)`` covers leaves ``[index * 2**level, (index + 1) *
2**level)``. The ledger stores each such hash with the entry that completes it (see ``ledger.tree``), so
a proof needs only the O(log n) nodes named by ``inclusion_nodes`` / ``consistency_nodes``: every proof
element is one complete node or the fold of a few of them along the tree's right edge.

The verifiers implement RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally (checked against the
transparency-dev/merkle test vectors), plus the edge cases those vectors pin: equal sizes need an empty
proof and equal roots; a consistency proof from size 0 is refused, even to size 0 (it proves nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

HASH_SIZE = 32
#: Root of the empty tree: SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A complete subtree: (level, index), covering leaves [index << level, (index + 1) << level).
Node = tuple[int, int]
#: One proof element: the complete subtrees (left to right) whose fold is that element's hash.
Term = tuple[Node, ...]


class ProofError(ValueError):
    """A proof, root or size that does not verify."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly below ``size`` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> Term:
    """The complete subtrees that make up leaves [start, end), largest first.

    ``start`` must be aligned as in the tree's own recursion (a multiple of the largest power of two not
    above ``end - start``), which every range a proof asks for is.
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append((level, start >> level))
        start += 1 << level
    return tuple(nodes)


def fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its complete subtrees (largest first): they nest to the right."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_nodes(index: int, size: int) -> list[Term]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]), bottom-up, as the subtrees of each element."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    terms: list[Term] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            terms.append(range_nodes(start + k, end))
            end = start + k
        else:
            terms.append(range_nodes(start, start + k))
            start += k
    terms.reverse()
    return terms


def consistency_nodes(old_size: int, new_size: int) -> list[Term]:
    """RFC 9162 2.1.4.1 PROOF(old_size, D[0:new_size]), bottom-up, as the subtrees of each element."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    terms: list[Term] = []
    start, end, m, complete = 0, new_size, old_size, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                terms.append(range_nodes(start, end))
            break
        k = _split(n)
        if m <= k:
            terms.append(range_nodes(start + k, end))
            end = start + k
        else:
            terms.append(range_nodes(start, start + k))
            start, m, complete = start + k, m - k, False
    terms.reverse()
    return terms


def resolve(terms: list[Term], hashes: Mapping[Node, bytes]) -> list[bytes]:
    return [fold([hashes[node] for node in term]) for term in terms]


def nodes_of(terms: list[Term]) -> set[Node]:
    return {node for term in terms for node in term}


class MemoryTree:
    """A whole tree held in memory: the reference generator for tests and the standalone verifier's twin."""

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for data in leaves:
            self.append_hash(leaf_hash(data))

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append_hash(self, digest: bytes) -> None:
        self.levels[0].append(digest)
        level, index = 0, len(self.levels[0]) - 1
        while index & 1:
            if len(self.levels) == level + 1:
                self.levels.append([])
            parent = node_hash(self.levels[level][index - 1], self.levels[level][index])
            self.levels[level + 1].append(parent)
            level, index = level + 1, index >> 1

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def _get(self, terms: list[Term]) -> list[bytes]:
        return [fold([self.node(*node) for node in term]) for term in terms]

    def root(self, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return fold([self.node(*node) for node in range_nodes(0, size)]) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self._get(inclusion_nodes(index, size))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._get(consistency_nodes(old_size, new_size))


def root_from_frontier(frontier: Sequence[bytes]) -> bytes:
    """Root of a tree from its frontier (the complete subtrees along the right edge, largest first)."""
    return fold(frontier) if frontier else EMPTY_ROOT


def extend_frontier(frontier: list[bytes], size: int, leaf: bytes, on_node: Callable[[bytes], None]) -> None:
    """Append ``leaf`` to a tree of ``size`` leaves given its frontier (updated in place).

    ``on_node`` receives the hashes of the complete subtrees the new leaf completes, level 0 upwards: the
    leaf itself, then one parent per trailing 1-bit of ``size``.
    """
    digest = leaf
    on_node(digest)
    while size & 1:
        digest = node_hash(frontier.pop(), digest)
        on_node(digest)
        size >>= 1
    frontier.append(digest)


# --- Verification ------------------------------------------------------------------------------------


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that ``proof`` implies for ``leaf`` at ``index``."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, result = index, size - 1, leaf
    for element in proof:
        _check_hash(element, "a proof hash")
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return result


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless ``proof`` shows ``leaf`` at ``index`` in the tree of ``size`` with ``root``."""
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 2.1.4.2: raise ProofError unless the tree of ``new_size`` extends the one of ``old_size``."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {old_size} cannot grow into size {new_size}")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty proof")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots: the log forked")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    for element in (*proof, old_root, new_root):
        _check_hash(element, "a hash")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the trees are deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(element, fr), node_hash(element, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, element)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the proof is shorter than the trees are deep")
    if fr != old_root:
        raise ProofError("the proof does not lead to the old root: the new tree does not extend it")
    if sr != new_root:
        raise ProofError("the proof does not lead to the new root")
