"""RFC 6962 / RFC 9162 Merkle trees: tree hashes, inclusion and consistency proofs. Pure.

Leaves are the audit log's line bytes exactly as stored; ``leaf_hash(d) = SHA-256(0x00 || d)``,
``node_hash(l, r) = SHA-256(0x01 || l || r)``. Verification follows RFC 9162 §2.1.3.2 (inclusion)
and §2.1.4.2 (consistency), written against adversarial input: every length and index is checked
before it is used.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Sequence

from mcp_comply.exceptions import IntegrityError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_DIGEST = operator.methodcaller("digest")


class ProofError(IntegrityError):
    """A proof does not verify (or is malformed)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes* (RFC 9162 §2.1.1)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


class CompactTree:
    """An append-only Merkle tree kept as its O(log n) right frontier (perfect subtree roots).

    Appending is amortised O(1) hashes; the root of the current size is available at any time.
    """

    __slots__ = ("_frontier", "size")

    def __init__(self) -> None:
        self._frontier: list[tuple[int, bytes]] = []  # (height, hash), strictly decreasing heights
        self.size = 0

    def append_leaf_hash(self, h: bytes) -> None:
        height = 0
        frontier = self._frontier
        while frontier and frontier[-1][0] == height:
            _, left = frontier.pop()
            h = node_hash(left, h)
            height += 1
        frontier.append((height, h))
        self.size += 1

    def append_subtree(self, height: int, h: bytes) -> None:
        """Append a perfect subtree of ``2**height`` leaves whose root is ``h`` (see :func:`subtrees`);
        the tree's size must be a multiple of ``2**height``, so it merges like a single leaf."""
        if height < 0 or self.size & ((1 << height) - 1):
            raise ValueError(f"a subtree of height {height} does not start at size {self.size}")
        frontier = self._frontier
        top = height
        while frontier and frontier[-1][0] == top:
            _, left = frontier.pop()
            h = node_hash(left, h)
            top += 1
        frontier.append((top, h))
        self.size += 1 << height

    def append(self, data: bytes) -> None:
        self.append_leaf_hash(leaf_hash(data))

    def extend(self, items: Iterable[bytes]) -> None:
        for data in items:
            self.append(data)

    def root(self) -> bytes:
        if not self._frontier:
            return EMPTY_ROOT
        acc = self._frontier[-1][1]
        for _, h in reversed(self._frontier[:-1]):
            acc = node_hash(h, acc)
        return acc

    def state(self) -> list[tuple[int, str]]:
        return [(height, h.hex()) for height, h in self._frontier]

    @classmethod
    def from_state(cls, size: int, state: Sequence[tuple[int, str]]) -> CompactTree:
        if not isinstance(size, int) or not 0 <= size < 1 << 63 or len(state) > 64:
            raise ValueError("frontier: tree size out of range")
        tree = cls()
        tree.size = size
        frontier: list[tuple[int, bytes]] = []
        for entry in state:
            height, h = entry
            if type(height) is not int or not 0 <= height < 63 or (frontier and height >= frontier[-1][0]):
                raise ValueError("frontier heights must be strictly decreasing integers below 63")
            node = bytes.fromhex(h)
            if len(node) != HASH_SIZE:
                raise ValueError("frontier hashes must be 32 bytes")
            frontier.append((height, node))
        if sum(1 << height for height, _ in frontier) != size:
            raise ValueError("frontier does not match the tree size")
        tree._frontier = frontier
        return tree


def subtrees(start: int, leaves: Sequence[bytes]) -> list[tuple[int, bytes]]:
    """The aligned perfect subtrees (height, root) that cover the leaf hashes ``leaves`` placed at
    ``start``, ``start + 1``, ... of a tree, left to right: appending them with
    :meth:`CompactTree.append_subtree` to a tree of size ``start`` equals appending the leaves one
    by one. Computed a level at a time with ``map`` (no Python frame per node), so a worker can
    hash a stretch of a log without knowing the tree before it."""
    if start < 0:
        raise ValueError("start must not be negative")
    sha256, digest, one = hashlib.sha256, _DIGEST, b"\x01".__add__
    left: list[tuple[int, bytes]] = []
    right: list[tuple[int, bytes]] = []
    level, lo, hi, height = list(leaves), start, start + len(leaves), 0
    while lo < hi:  # the nodes of this height that lie inside: indices lo .. hi-1
        if lo & 1:  # no left sibling inside: a subtree of its own
            left.append((height, level[0]))
            del level[0]
            lo += 1
        if hi & 1 and lo < hi:  # no right sibling inside
            right.append((height, level.pop()))
            hi -= 1
        if lo == hi:
            break
        level = list(map(digest, map(sha256, map(operator.add, map(one, level[0::2]), level[1::2]))))
        lo, hi, height = lo >> 1, hi >> 1, height + 1
    return left + right[::-1]


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[n]) over leaf hashes (RFC 9162 §2.1.3.1)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"index {index} outside a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(leaves[:k], index), root(leaves[k:])]
    return [*inclusion_proof(leaves[k:], index - k), root(leaves[:k])]


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(m, D[n]) over leaf hashes (RFC 9162 §2.1.4.1)."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ValueError(f"old size {old_size} must be in 1..{n}")
    return _subproof(leaves, old_size, complete=True)


def _subproof(leaves: Sequence[bytes], m: int, *, complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(leaves[:k], m, complete=complete), root(leaves[k:])]
    return [*_subproof(leaves[k:], m - k, complete=False), root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> None:
    """Raise ProofError unless ``leaf`` (a leaf hash) is at ``index`` in the tree of ``size``."""
    if not 0 <= index < size:
        raise ProofError(f"index {index} outside a tree of size {size}")
    if any(len(p) != HASH_SIZE for p in proof) or len(leaf) != HASH_SIZE:
        raise ProofError("proof hashes must be 32 bytes")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if r != expected_root:
        raise ProofError("root does not match")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> None:
    """Raise ProofError unless the tree of ``new_size`` extends the tree of ``old_size``."""
    if any(len(p) != HASH_SIZE for p in proof):
        raise ProofError("proof hashes must be 32 bytes")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("proof must be empty for equal sizes")
        if old_root != new_root:
            raise ProofError("roots differ for equal sizes")
        return
    if old_size == 0:
        if proof:
            raise ProofError("proof must be empty from the empty tree")
        return
    if not proof:
        raise ProofError("empty proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("proof is too short")
    if fr != old_root:
        raise ProofError("old root does not match")
    if sr != new_root:
        raise ProofError("new root does not match")
