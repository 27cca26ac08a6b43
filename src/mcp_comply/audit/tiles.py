"""Merkle hash tiles in the C2SP tlog-tiles layout, written as the log grows and read for proofs.

    tiles = TileWriter(checkpoint_dir / "chain-0")
    for line in lines:
        tiles.append(leaf_hash(line))     # a full tile file every 256 hashes of a level
    tiles.flush()                         # the partial tiles, when a checkpoint is written
    TileReader(checkpoint_dir / "chain-0").inclusion_proof(5, tiles.size)

Layout (https://c2sp.org/tlog-tiles): ``tile/<L>/<N>`` holds 256 hashes of level ``L`` (level 0:
leaf hashes; level L+1: the tree hashes of full level-L tiles), ``N`` written in three-digit path
elements, all but the last prefixed with ``x``; the rightmost tiles of a tree are partial,
``tile/<L>/<N>.p/<W>`` with ``W`` < 256 hashes. A proof reads at most two tiles per 8 tree levels,
so it costs O(log n) hashes however long the log is.

Tiles are derived data: the writer writes them without fsync (atomic renames only) and checks
them against the signed tree when it starts again (:func:`open_tiles`), rebuilding them from the
log when they do not reproduce it. Readers check every proof against a signed checkpoint anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from mcp_comply._files import open_regular, read_regular, write_atomic
from mcp_comply.audit import _format as fmt
from mcp_comply.audit._checkpoints import LATEST
from mcp_comply.audit.merkle import EMPTY_ROOT, HASH_SIZE, CompactTree, leaf_hash, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
TILE_DIR = "tile"
_FULL_BYTES = TILE_WIDTH * HASH_SIZE
_MISMATCH_DIR = "tile.mismatch"


class TileMissing(LookupError):
    """A tile a proof needs is not there (not written yet, or written for a smaller tree)."""


def tile_path(level: int, index: int, width: int = TILE_WIDTH) -> str:
    """``<L>/<N>[.p/<W>]`` below ``tile/``: index 1234067 is ``x001/x234/067``."""
    parts = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        parts.append(f"x{index % 1000:03d}")
        index //= 1000
    path = f"{level}/{'/'.join(reversed(parts))}"
    return path if width == TILE_WIDTH else f"{path}.p/{width}"


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2), as RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The tree hash over a power-of-two number of hashes (node_hash inlined: this is most of
    what a tile costs the writer)."""
    sha256 = hashlib.sha256
    level = list(hashes)
    while len(level) > 1:
        level = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def _hashes_of(data: bytes) -> list[bytes]:
    return [data[i:i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _read_tile(tiles: Path, level: int, index: int, need: int) -> bytes | None:
    """At least ``need`` hashes of tile (level, index): the full tile, else the smallest partial
    tile wide enough (a wider partial tile starts with the narrower one). None when there is none."""
    path = tiles / tile_path(level, index)
    try:  # read_regular: a FIFO there would block a plain open for good; it is no tile
        data = read_regular(path, _FULL_BYTES + 1)
        if len(data) == _FULL_BYTES:
            return data
    except OSError:
        pass
    try:
        names = os.listdir(f"{path}.p")
    except OSError:
        return None
    widths = sorted(int(n) for n in names if n.isdigit() and n[0] != "0" and need <= int(n) < TILE_WIDTH)
    for width in widths:
        try:
            data = read_regular(Path(f"{path}.p/{width}"), _FULL_BYTES)
        except OSError:
            continue
        if len(data) == width * HASH_SIZE:
            return data
    return None


def _write_unsynced(path: Path, data: bytes) -> None:
    write_atomic(path, data, sync=False)


class TileWriter:
    """Fed every leaf hash of one chain in order; writes its tiles under ``<directory>/tile``.

    Per leaf a list append; per 256 hashes of a level one tile file and 255 node hashes. It never
    raises for I/O: the first failure is kept in :attr:`error` and no more files are written (the
    next start checks the tiles and rebuilds what is missing)."""

    __slots__ = ("_dirs", "_flushed", "_partials", "_pending", "_write", "directory", "error", "size")

    def __init__(self, directory: Path, *, write: Callable[[Path, bytes], None] | None = None) -> None:
        self.directory = directory
        self.size = 0
        self.error: str | None = None
        self._pending: list[list[bytes]] = [[]]
        """Per level, the hashes of the rightmost (partial) tile: fewer than 256."""
        self._flushed: list[int] = [0]
        """Per level, the width of the partial tile last written (it is not written twice)."""
        self._partials: list[bool] = [False]
        """Per level, whether the rightmost tile may have partial tiles on disk (to remove once full)."""
        self._dirs: set[Path] = set()
        """Folders known to exist (a mkdir per tile costs more than the tile's hashing)."""
        self._write = write or _write_unsynced

    def append(self, leaf: bytes) -> None:
        pending = self._pending[0]
        pending.append(leaf)
        self.size += 1
        if len(pending) == TILE_WIDTH:
            self._complete(0)

    def _complete(self, level: int) -> None:
        hashes = self._pending[level]
        index = (self.size >> (TILE_HEIGHT * (level + 1))) - 1
        self._store(tile_path(level, index), b"".join(hashes))
        if self._partials[level]:
            self._remove_partials(level, index)
        self._pending[level], self._flushed[level], self._partials[level] = [], 0, False
        if level + 1 == len(self._pending):
            self._pending.append([])
            self._flushed.append(0)
            self._partials.append(False)
        above = self._pending[level + 1]
        above.append(_perfect_root(hashes))
        if len(above) == TILE_WIDTH:
            self._complete(level + 1)

    def flush(self) -> bool:
        """Write the partial tiles of the tree as it is now (before its checkpoint note, so a
        checkpoint's tiles exist when the note does). False when tiles could not be written."""
        for level, hashes in enumerate(self._pending):
            if hashes and len(hashes) != self._flushed[level]:
                index = self.size >> (TILE_HEIGHT * (level + 1))
                self._store(tile_path(level, index, len(hashes)), b"".join(hashes))
                self._flushed[level], self._partials[level] = len(hashes), True
        return self.error is None

    def root(self) -> bytes:
        """The tree hash of the leaves appended so far, from the partial tiles alone."""
        frontier: list[bytes] = []  # perfect subtree roots, left to right
        for level in reversed(range(len(self._pending))):
            hashes, start = self._pending[level], 0
            for bit in reversed(range(TILE_HEIGHT)):
                if len(hashes) >> bit & 1:
                    frontier.append(_perfect_root(hashes[start:start + (1 << bit)]))
                    start += 1 << bit
        if not frontier:
            return EMPTY_ROOT
        acc = frontier[-1]
        for h in reversed(frontier[:-1]):
            acc = node_hash(h, acc)
        return acc

    def _store(self, relative: str, data: bytes) -> None:
        if self.error is not None:
            return
        path = self.directory / TILE_DIR / relative
        try:
            if path.parent not in self._dirs:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._dirs.add(path.parent)
            self._write(path, data)
        except OSError as exc:
            self.error = f"tile {relative} could not be written: {exc.strerror or exc}"

    def _remove_partials(self, level: int, index: int) -> None:
        """The partial tiles of a tile that is now full (the spec allows it; readers fall back to
        the full tile)."""
        if self.error is not None:
            return
        partial = self.directory / TILE_DIR / f"{tile_path(level, index)}.p"
        try:
            names = os.listdir(partial)
        except OSError:
            return
        try:
            for name in names:
                (partial / name).unlink(missing_ok=True)
            partial.rmdir()
        except OSError:
            return  # only untidy: readers take the full tile first
        self._dirs.discard(partial)

    @classmethod
    def resume(cls, directory: Path, size: int, tail: Callable[[int], list[bytes] | None]) -> TileWriter | None:
        """A writer at ``size`` from the tiles on disk: level 0 from its partial tile (else the
        last leaves of the log, ``tail(count)``), each level above from the full tiles below it,
        which are so checked to exist. None when something needed is missing. The caller compares
        :meth:`root` with the signed tree before trusting it."""
        tiles = directory / TILE_DIR
        writer = cls(directory)
        writer.size = size
        pending: list[list[bytes]] = []
        level = 0
        while size >> (TILE_HEIGHT * level):
            width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
            index = size >> (TILE_HEIGHT * (level + 1))
            hashes: list[bytes] | None
            if level == 0:
                data = _read_tile(tiles, 0, index, width) if width else b""
                hashes = _hashes_of(data)[:width] if data is not None else tail(width)
            else:
                hashes = []
                for below in range(index * TILE_WIDTH, index * TILE_WIDTH + width):
                    full = _read_tile(tiles, level - 1, below, TILE_WIDTH)
                    if full is None or len(full) != _FULL_BYTES:
                        return None
                    hashes.append(_perfect_root(_hashes_of(full)))
            if hashes is None or len(hashes) != width:
                return None
            pending.append(hashes)
            level += 1
        writer._pending = pending or [[]]
        writer._flushed = [0] * len(writer._pending)
        writer._partials = [True] * len(writer._pending)  # written before the restart, maybe
        return writer


def _link_checkpoint(directory: Path) -> None:
    """``checkpoint``, where tlog-tiles clients look for the signed tree head, links to ``latest.note``.
    A folder restored from a copy that followed links holds a file there instead, which would go
    stale as the writer continues: it is replaced by the link (atomically)."""
    checkpoint = directory / "checkpoint"
    if checkpoint.is_symlink() and os.readlink(checkpoint) == LATEST:
        return
    if checkpoint.is_dir() and not checkpoint.is_symlink():
        raise OSError(f"{checkpoint} is a folder, not the link to {LATEST}")
    temporary = directory / ".checkpoint.link"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(LATEST)
    os.replace(temporary, checkpoint)


def open_tiles(directory: Path, tree: CompactTree, segments: Sequence[Path]) -> tuple[TileWriter | None, str]:
    """The tile writer a (re)starting chain continues with, and what was done: ``resumed`` (the
    tiles on disk reproduce the tree), ``rebuilt`` (from the log's records), ``new`` (an empty
    chain), or ``unavailable`` (no tiles: the log lacks records, e.g. removed by retention, to
    rebuild them). Tiles that do not reproduce the tree are moved to ``tile.mismatch``, never used.
    Also links ``checkpoint`` to ``latest.note``, the name tlog-tiles clients fetch."""
    tiles = directory / TILE_DIR
    expected = tree.root()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _link_checkpoint(directory)
    if tree.size == 0:
        _move_aside(directory)
        return TileWriter(directory), "new"
    if tiles.is_dir():
        writer = TileWriter.resume(directory, tree.size, lambda count: tail_leaf_hashes(segments, count))
        if writer is not None and writer.root() == expected:
            return writer, "resumed"
        _move_aside(directory)
    writer = TileWriter(directory)
    for leaf in log_leaf_hashes(segments):
        writer.append(leaf)
        if writer.size > tree.size or writer.error is not None:
            break
    if writer.size == tree.size and writer.error is None and writer.root() == expected:
        return writer, "rebuilt"
    _move_aside(directory)
    return None, "unavailable"


def _move_aside(directory: Path) -> None:
    """Keep tiles that did not reproduce the signed tree as evidence (only the latest such set)."""
    tiles, aside = directory / TILE_DIR, directory / _MISMATCH_DIR
    if not tiles.exists():
        return
    if aside.exists():
        doomed = directory / f".{_MISMATCH_DIR}.{time.time_ns()}"
        aside.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    tiles.rename(aside)


def log_leaf_hashes(segments: Sequence[Path]) -> Iterator[bytes]:
    """The leaf hash of every complete line of the segments, in order."""
    for path in segments:
        with open_regular(path) as fh:  # (a FIFO named like a segment would block a plain open)
            for raw in fmt.read_lines(fh):
                if isinstance(raw, fmt.LongLine):
                    if raw.complete:
                        yield raw.leaf
                elif raw.endswith(b"\n"):
                    yield leaf_hash(raw)


def tail_lines(segments: Sequence[Path], count: int, chunk: int = 1 << 20) -> list[bytes] | None:
    """The last ``count`` lines of the log, newline included, read backwards (the writer has cut
    off any torn tail before). None when the log has fewer lines or ends in an incomplete one."""
    lines: list[bytes] = []
    for path in reversed(segments):
        if len(lines) >= count:
            break
        with open_regular(path) as fh:
            pos = fh.seek(0, os.SEEK_END)
            buf = b""
            while pos > 0 and buf.count(b"\n") <= count - len(lines):
                step = min(chunk, pos)
                pos -= step
                fh.seek(pos)
                buf = fh.read(step) + buf
        if buf and not buf.endswith(b"\n"):
            return None
        found = buf.split(b"\n")[:-1]
        if pos > 0:
            found = found[1:]  # the first piece may be the end of an earlier line
        lines[:0] = [line + b"\n" for line in found[max(0, len(found) - (count - len(lines))):]]
    return lines if len(lines) >= count else None


def tail_leaf_hashes(segments: Sequence[Path], count: int, chunk: int = 1 << 20) -> list[bytes] | None:
    """The leaf hashes of the last ``count`` lines of the log (None when it has fewer)."""
    lines = tail_lines(segments, count, chunk)
    return None if lines is None else [leaf_hash(line) for line in lines]


def chain_size(segments: Sequence[Path]) -> int | None:
    """The number of records of a chain, from its last record's ``seq`` (None when the log does not
    end in a readable record)."""
    lines = tail_lines(segments, 1)
    if not lines:
        return None
    try:
        seq = json.loads(lines[0]).get("seq")
    except (ValueError, AttributeError):
        return None
    return seq + 1 if type(seq) is int and seq >= 0 else None


class TileReader:
    """Tree hashes and RFC 9162 proofs of a chain from its tiles: O(log n) tile reads, cached.

    Raises :class:`TileMissing` when a needed tile is not there."""

    def __init__(self, directory: Path) -> None:
        self._tiles = directory / TILE_DIR
        self._cache: dict[tuple[int, int], bytes] = {}

    def _hashes(self, level: int, index: int, need: int) -> bytes:
        data = self._cache.get((level, index))
        if data is None or len(data) < need * HASH_SIZE:
            data = _read_tile(self._tiles, level, index, need)
            if data is None:
                raise TileMissing(f"no tile {TILE_DIR}/{tile_path(level, index)} with {need} hashes")
            self._cache[level, index] = data
        return data

    def node(self, height: int, index: int) -> bytes:
        """The hash of the perfect subtree over leaves [index * 2**height, (index + 1) * 2**height)."""
        level, rest = divmod(height, TILE_HEIGHT)
        tile, offset = divmod(index << rest, TILE_WIDTH)
        data = self._hashes(level, tile, offset + (1 << rest))
        return _perfect_root(_hashes_of(data[offset * HASH_SIZE:(offset + (1 << rest)) * HASH_SIZE]))

    def leaf(self, index: int) -> bytes:
        return self.node(0, index)

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range of the RFC 9162 recursion (``lo`` aligned to its size)."""
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and lo % n == 0:
            return self.node(n.bit_length() - 1, lo // n)
        k = _split(n)
        return node_hash(self.subtree(lo, lo + k), self.subtree(lo + k, hi))

    def root(self, size: int) -> bytes:
        return self.subtree(0, size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """PATH(index, D[size]) (RFC 9162 §2.1.3.1)."""
        if not 0 <= index < size:
            raise ValueError(f"index {index} outside a tree of size {size}")
        proof: list[bytes] = []
        lo, hi = 0, size
        while hi - lo > 1:
            k = _split(hi - lo)
            if index < lo + k:
                proof.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree(lo, lo + k))
                lo += k
        proof.reverse()
        return proof

    def consistency_proof(self, old_size: int, size: int) -> list[bytes]:
        """PROOF(old_size, D[size]) (RFC 9162 §2.1.4.1)."""
        if not 0 < old_size <= size:
            raise ValueError(f"old size {old_size} must be in 1..{size}")
        proof: list[bytes] = []
        lo, hi, complete = 0, size, True
        while old_size != hi:
            k = _split(hi - lo)
            if old_size <= lo + k:
                proof.append(self.subtree(lo + k, hi))
                hi = lo + k
            else:
                proof.append(self.subtree(lo, lo + k))
                lo, complete = lo + k, False
        if not complete:
            proof.append(self.subtree(lo, hi))
        proof.reverse()
        return proof


__all__ = ["TILE_WIDTH", "TileMissing", "TileReader", "TileWriter", "chain_size", "log_leaf_hashes",
           "open_tiles", "tail_leaf_hashes", "tail_lines", "tile_path"]
