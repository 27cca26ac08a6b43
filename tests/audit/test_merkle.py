"""RFC 6962 trees and proofs, checked against an independent, literal transcription of the RFC."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_comply.audit import merkle


# --- an independent reference: RFC 9162 §2.1 written out directly over the raw leaves ---------
def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def ref_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


leaves_st = st.lists(st.binary(max_size=40), min_size=1, max_size=70, unique=True)


@given(leaves_st)
def test_compact_tree_root_matches_the_rfc(data: list[bytes]) -> None:
    tree = merkle.CompactTree()
    for i, item in enumerate(data):
        tree.append(item)
        assert tree.root() == ref_mth(data[: i + 1])
    assert merkle.root([merkle.leaf_hash(x) for x in data]) == ref_mth(data)


def test_empty_tree_root() -> None:
    assert merkle.CompactTree().root() == hashlib.sha256(b"").digest() == ref_mth([])


@settings(max_examples=150)
@given(leaves_st, st.data())
def test_inclusion_proofs_match_and_verify(data: list[bytes], pick: st.DataObject) -> None:
    index = pick.draw(st.integers(0, len(data) - 1))
    leaves = [merkle.leaf_hash(x) for x in data]
    proof = merkle.inclusion_proof(leaves, index)
    assert proof == ref_path(index, data)
    merkle.verify_inclusion(leaves[index], index, len(data), proof, ref_mth(data))
    # every mutation of the proof, the index or the size is rejected
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(leaves[index], index, len(data), bad, ref_mth(data))
    with pytest.raises(merkle.ProofError):
        merkle.verify_inclusion(leaves[index], index, len(data), [*proof, proof[0] if proof else b"\0" * 32],
                                ref_mth(data))
    if len(data) > 1:
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(leaves[index], (index + 1) % len(data), len(data), proof, ref_mth(data))


@settings(max_examples=150)
@given(leaves_st, st.data())
def test_consistency_proofs_match_and_verify(data: list[bytes], pick: st.DataObject) -> None:
    old = pick.draw(st.integers(1, len(data)))
    leaves = [merkle.leaf_hash(x) for x in data]
    proof = merkle.consistency_proof(leaves, old)
    assert proof == ref_subproof(old, data, True)
    merkle.verify_consistency(old, len(data), ref_mth(data[:old]), ref_mth(data), proof)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(merkle.ProofError):
            merkle.verify_consistency(old, len(data), ref_mth(data[:old]), ref_mth(data), bad)
    if old < len(data):
        with pytest.raises(merkle.ProofError):  # a different history of the same size
            merkle.verify_consistency(old, len(data), ref_mth([b"x" + data[0], *data[1:old]]), ref_mth(data), proof)
        with pytest.raises(merkle.ProofError):  # old larger than new
            merkle.verify_consistency(len(data), old, ref_mth(data), ref_mth(data[:old]), proof)


def test_frontier_state_round_trips() -> None:
    tree = merkle.CompactTree()
    tree.extend(bytes([i]) for i in range(37))
    again = merkle.CompactTree.from_state(tree.size, tree.state())
    again.append(b"next")
    tree.append(b"next")
    assert again.root() == tree.root()
    with pytest.raises(ValueError, match="frontier"):
        merkle.CompactTree.from_state(36, tree.state())


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5000), st.lists(st.binary(max_size=8), max_size=80))
def test_subtrees_append_like_the_leaves_one_by_one(start: int, data: list[bytes]) -> None:
    """A stretch of leaves placed at any tree size, as aligned subtrees, gives the tree (size,
    root and frontier) that appending the leaves one at a time gives."""
    prefix = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(start)]
    leaves = [merkle.leaf_hash(d) for d in data]
    one_by_one, by_subtree = merkle.CompactTree(), merkle.CompactTree()
    for leaf in prefix + leaves:
        one_by_one.append_leaf_hash(leaf)
    for leaf in prefix:
        by_subtree.append_leaf_hash(leaf)
    pieces = merkle.subtrees(start, leaves)
    for height, node in pieces:
        by_subtree.append_subtree(height, node)
    assert (by_subtree.size, by_subtree.root(), by_subtree.state()) == \
        (one_by_one.size, one_by_one.root(), one_by_one.state())
    assert sum(1 << height for height, _ in pieces) == len(leaves)
    assert by_subtree.root() == ref_mth([i.to_bytes(4, "big") for i in range(start)] + data)


def test_a_subtree_must_start_where_its_size_divides_the_tree() -> None:
    tree = merkle.CompactTree()
    tree.append(b"a")
    with pytest.raises(ValueError, match="does not start at size 1"):
        tree.append_subtree(1, merkle.node_hash(merkle.leaf_hash(b"b"), merkle.leaf_hash(b"c")))
    tree.append_subtree(0, merkle.leaf_hash(b"b"))
    tree.append_subtree(1, merkle.node_hash(merkle.leaf_hash(b"c"), merkle.leaf_hash(b"d")))
    assert tree.root() == ref_mth([b"a", b"b", b"c", b"d"])
    assert merkle.subtrees(6, [merkle.leaf_hash(b"x")] * 5) == [
        (1, merkle.node_hash(merkle.leaf_hash(b"x"), merkle.leaf_hash(b"x"))),
        (1, merkle.node_hash(merkle.leaf_hash(b"x"), merkle.leaf_hash(b"x"))),
        (0, merkle.leaf_hash(b"x"))]
