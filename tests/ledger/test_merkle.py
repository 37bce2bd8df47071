"""The Merkle tree code against the RFC 6962 test vectors and random sizes (both verifiers, the generator)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle, standalone_verify

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("ARGUS_TESTDATA_DIR", REPO / "tests" / "data")) / "rfc6962"
#: The reference tree of the vectors (folders 0-4), and its roots by size (README of the vectors).
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")] + [
    bytes.fromhex("606162636465666768696a6b6c6d6e6f")
]
ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
VERIFIERS = {"project": merkle, "standalone": standalone_verify}


def vectors(kind: str) -> list[tuple[str, dict]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [(str(path.relative_to(VECTORS)), json.loads(path.read_text())) for path in files]


def decode(values):
    return [base64.b64decode(value) for value in values or []]


def test_the_vectors_are_there():
    assert len(vectors("inclusion")) > 50 and len(vectors("consistency")) > 50


def test_reference_roots():
    tree = merkle.MemoryTree(LEAVES)
    for size, root in ROOTS.items():
        assert tree.root(size).hex() == root
        builder = standalone_verify.TreeBuilder()
        for leaf in LEAVES[:size]:
            builder.append(merkle.leaf_hash(leaf))
        assert builder.root().hex() == root


@pytest.mark.parametrize("verifier", VERIFIERS)
@pytest.mark.parametrize(
    ("name", "vector"), vectors("inclusion"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_inclusion_vectors(verifier, name, vector):
    module = VERIFIERS[verifier]
    args = (
        vector["leafIdx"],
        vector["treeSize"],
        base64.b64decode(vector["leafHash"]),
        decode(vector["proof"]),
    )
    if vector["wantErr"]:
        with pytest.raises(module.ProofError):
            module.verify_inclusion(*args, base64.b64decode(vector["root"]))
    else:
        module.verify_inclusion(*args, base64.b64decode(vector["root"]))


@pytest.mark.parametrize("verifier", VERIFIERS)
@pytest.mark.parametrize(
    ("name", "vector"), vectors("consistency"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_consistency_vectors(verifier, name, vector):
    module = VERIFIERS[verifier]
    args = (
        vector["size1"],
        vector["size2"],
        base64.b64decode(vector["root1"]),
        base64.b64decode(vector["root2"]),
        decode(vector["proof"]),
    )
    if vector["wantErr"]:
        with pytest.raises(module.ProofError):
            module.verify_consistency(*args)
    else:
        module.verify_consistency(*args)


def reference_tree_vectors(kind):
    """The wantErr:false vectors over the reference tree (folders 0-4): the generator must reproduce them."""
    return [(name, v) for name, v in vectors(kind) if not v["wantErr"] and name.split("/")[1] in "01234"]


@pytest.mark.parametrize(
    ("name", "vector"), reference_tree_vectors("inclusion"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_generator_reproduces_inclusion_proofs(name, vector):
    tree = merkle.MemoryTree(LEAVES)
    assert tree.inclusion_proof(vector["leafIdx"], vector["treeSize"]) == decode(vector["proof"])
    assert merkle.leaf_hash(LEAVES[vector["leafIdx"]]) == base64.b64decode(vector["leafHash"])


@pytest.mark.parametrize(
    ("name", "vector"), reference_tree_vectors("consistency"), ids=lambda v: v if isinstance(v, str) else ""
)
def test_generator_reproduces_consistency_proofs(name, vector):
    tree = merkle.MemoryTree(LEAVES)
    assert tree.consistency_proof(vector["size1"], vector["size2"]) == decode(vector["proof"])
    assert tree.root(vector["size2"]) == base64.b64decode(vector["root2"])


def test_reference_vectors_cover_every_reference_pair():
    assert len(reference_tree_vectors("inclusion")) >= 5
    assert len(reference_tree_vectors("consistency")) >= 5


# --- Properties for random sizes ----------------------------------------------------------------------------

SIZES = st.integers(min_value=1, max_value=300)


def tree_of(size: int) -> merkle.MemoryTree:
    return merkle.MemoryTree([b"leaf %d" % index for index in range(size)])


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 MTH, written as the recursion itself."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


@settings(max_examples=60, deadline=None)
@given(size=SIZES, data=st.data())
def test_inclusion_proofs_verify_and_pin_the_leaf(size, data):
    tree = tree_of(size)
    assert tree.root() == naive_root(tree.levels[0])
    index = data.draw(st.integers(0, size - 1))
    root, leaf = tree.root(), tree.node(0, index)
    proof = tree.inclusion_proof(index, size)
    assert len(proof) <= size.bit_length()
    for module in VERIFIERS.values():
        module.verify_inclusion(index, size, leaf, proof, root)
        # Another leaf, another index or a changed proof element does not verify.
        with pytest.raises(module.ProofError):
            module.verify_inclusion(index, size, merkle.leaf_hash(b"forged"), proof, root)
        if size > 1:
            other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
            with pytest.raises(module.ProofError):
                module.verify_inclusion(other, size, leaf, proof, root)
            position = data.draw(st.integers(0, len(proof) - 1))
            tampered = list(proof)
            tampered[position] = bytes([tampered[position][0] ^ 1]) + tampered[position][1:]
            with pytest.raises(module.ProofError):
                module.verify_inclusion(index, size, leaf, tampered, root)


@settings(max_examples=60, deadline=None)
@given(new_size=SIZES, data=st.data())
def test_consistency_proofs_verify_and_detect_a_rewrite(new_size, data):
    old_size = data.draw(st.integers(1, new_size))
    tree = tree_of(new_size)
    proof = tree.consistency_proof(old_size, new_size)
    assert len(proof) <= 2 * new_size.bit_length()
    old_root, new_root = tree.root(old_size), tree.root(new_size)
    # A history rewritten anywhere inside the old tree: the old root no longer follows.
    changed = data.draw(st.integers(0, old_size - 1))
    rewritten = merkle.MemoryTree()
    for index in range(new_size):
        rewritten.append_hash(merkle.leaf_hash(b"forged") if index == changed else tree.node(0, index))
    for module in VERIFIERS.values():
        module.verify_consistency(old_size, new_size, old_root, new_root, proof)
        if old_size < new_size:
            with pytest.raises(module.ProofError):
                module.verify_consistency(
                    old_size,
                    new_size,
                    old_root,
                    rewritten.root(),
                    rewritten.consistency_proof(old_size, new_size),
                )
        with pytest.raises(module.ProofError):
            module.verify_consistency(old_size, new_size, rewritten.root(old_size), new_root, proof)


@settings(max_examples=40, deadline=None)
@given(size=SIZES)
def test_frontier_and_node_decomposition_agree_with_the_whole_tree(size):
    tree = tree_of(size)
    frontier: list[bytes] = []
    nodes: list[bytes] = []
    for index in range(size):
        completed: list[bytes] = []
        merkle.extend_frontier(frontier, index, tree.node(0, index), completed.append)
        nodes.extend(completed)
        # The nodes leaf ``index`` completes are exactly its ancestors whose range ends at it.
        assert completed == [
            tree.node(level, (index + 1) // (1 << level) - 1) for level in range(len(completed))
        ]
    assert merkle.root_from_frontier(frontier) == tree.root()
    assert len(nodes) == sum(1 for level in tree.levels for _ in level)
