"""Block scanning for ``verify``: a byte range of a segment checked a block at a time. Pure but for reading it.

Most records are ordinary (``call``, ``intent``, ``gap``, ``clock_jump``) and well formed, and checking them
one at a time costs Python calls per line. Here a block of lines is checked with a few calls that loop in
C: one regex pass reads every header, ``map`` runs the SHA-256s, list comparisons check the links and the
sequence numbers, and the Merkle subtrees are built a level at a time. A stretch of lines that passes every
check the verifier's per-line path makes (all but those that depend on what came before the stretch)
becomes a :class:`Run`: what the verifier needs to move past it. Anything else becomes :class:`Lines`, a
byte range the verifier reads line by line as it always did, so every finding comes from that one code
path. The same function runs in worker processes, each on its own range of a file.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
from itertools import accumulate, pairwise, repeat
from typing import IO, NamedTuple

from mcp_comply._files import NotRegularFile, open_regular
from mcp_comply.audit import _format as fmt
from mcp_comply.audit.merkle import subtrees

PLAIN_KINDS = frozenset({fmt.KIND_CALL, fmt.KIND_INTENT, fmt.KIND_GAP, fmt.KIND_CLOCK_JUMP})
"""Kinds with no chain-level meaning: the verifier only links, counts and hashes them."""
BLOCK = 1 << 20
MAX_BLOCK_LINES = 4096
_FIND = 1 << 16
_HEX, _DIGEST, _SECOND = operator.methodcaller("hexdigest"), operator.methodcaller("digest"), operator.itemgetter(1)
_LEAF = b"\x00".__add__


class Run(NamedTuple):
    """Consecutive ordinary lines, each well formed and linked to the one before it."""

    start: int
    end: int
    lines: int
    first_seq: int
    first_prev: str
    last_hash: str
    """Hex SHA-256 of the last line (what the next record's ``prev`` must be)."""
    first_ts: str
    leaf_index: int
    """The tree size the subtrees assume before the first line: its seq, or the ``align`` asked for."""
    subtrees: list[tuple[int, bytes]]


class Lines(NamedTuple):
    """A byte range the verifier reads line by line."""

    start: int
    end: int


class Unread(NamedTuple):
    """A task's range the scan could not open by name: the file was swapped or is gone since the
    verifier listed it (retention may remove a segment the verifier is reading). The verifier scans it
    from the file it has open itself (:func:`scan_open`), or its own open reports what is there."""

    start: int
    stop: int


Item = Run | Lines | Unread


class Task(NamedTuple):
    path: str
    start: int
    stop: int
    """Lines that start before this offset are the task's (the last one may end after it)."""
    size: int
    """The file as the verifier saw it: nothing at or past this offset is read."""
    chain: str
    strict: bool
    block: int = BLOCK
    align: int | None = None
    """Leaf index of the range's first line (None: every run assumes its first seq)."""
    cuts: frozenset[int] = frozenset()
    """Leaf indices where a run must end (tree sizes whose root the verifier needs)."""


@functools.lru_cache(maxsize=64)
def _headers(chain: str) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """The header of an ordinary record of this chain, after a newline (for a whole block) and at the
    start of a line. None when the chain's name cannot appear in a header unescaped."""
    if any(c in chain for c in '"\\\n'):
        return None
    body = (r'\{"v":1,"seq":([0-9]{1,19}),"ts":"([0-9T:.Z-]{27})","chain":"' + re.escape(chain)
            + r'","kind":"([a-z_]+)","prev":"([0-9a-f]{64})"[,}]')
    return re.compile("\n" + body), re.compile(body)


def _after_newline(fh: IO[bytes], pos: int, end: int) -> int | None:
    """Offset just after the first newline in ``[pos, end)``, None if there is none."""
    fh.seek(pos)
    while pos < end:
        chunk = fh.read(min(_FIND, end - pos))
        if not chunk:
            break
        found = chunk.find(b"\n")
        if found >= 0:
            return pos + found + 1
        pos += len(chunk)
    return None


def scan(task: Task) -> list[Item]:
    """:func:`scan_open` on ``task.path``, opened here; :class:`Unread` when it is not a regular file
    or is gone."""
    try:
        fh = open_regular(task.path)
    except (NotRegularFile, FileNotFoundError):
        return [Unread(task.start, task.stop)]
    with fh:
        return list(scan_open(fh, task))


def scan_open(fh: IO[bytes], task: Task) -> list[Run | Lines]:
    """The runs and line ranges of the lines that start in ``[task.start, task.stop)`` of the open
    file ``fh`` (``task.path`` names it), in order and covering them without a gap."""
    out: list[Run | Lines] = []
    stop = min(task.stop, task.size)
    # the first line that starts in the range follows a newline before stop (a range inside one
    # long line has none: each range reads only its own bytes, so a long line costs one pass)
    first = 0 if task.start == 0 else _after_newline(fh, task.start - 1, stop - 1)
    pos = stop if first is None else first
    index = 0
    while pos < stop:
        fh.seek(pos)
        data = fh.read(min(task.block, task.size - pos))
        if not data:
            break
        limit = task.stop - pos
        cut = data.rfind(b"\n") + 1
        if len(data) >= limit:  # the line holding the last byte before stop is the last one ours
            found = data.find(b"\n", limit - 1)
            cut = found + 1 if found >= 0 else cut
        if cut == 0:  # a line longer than a block, or the unterminated end of the file
            after = _after_newline(fh, pos, task.size)
            end = task.size if after is None else after
            _add(out, Lines(pos, end))
            index, pos = index + 1, end
            continue
        if data.count(b"\n", 0, cut) > MAX_BLOCK_LINES:  # tiny lines: bound the lists a block makes
            cut = len(data) - len(data.split(b"\n", MAX_BLOCK_LINES)[-1])
        index += _block(data if cut == len(data) else data[:cut], pos, index, task, out)
        pos += cut
    return out


def _add(out: list[Run | Lines], item: Run | Lines) -> None:
    if isinstance(item, Lines) and out and isinstance(out[-1], Lines) and out[-1].end == item.start:
        out[-1] = Lines(out[-1].start, item.end)
    else:
        out.append(item)


def _block(data: bytes, base: int, index: int, task: Task, out: list[Run | Lines]) -> int:
    """Classify the complete lines of ``data`` (found at offset ``base``, after ``index`` lines of the
    range) into runs and line ranges; returns the number of lines."""
    lines = data.splitlines(keepends=True) if b"\r" not in data else [x + b"\n" for x in data.split(b"\n")[:-1]]
    n = len(lines)
    patterns = _headers(task.chain)
    if patterns is None:
        _add(out, Lines(base, base + len(data)))
        return n
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    heads = patterns[0].findall("\n" + text) if text is not None else []
    bad: set[int] = set()
    texts: list[str] = []
    if len(heads) == n:  # every line has the header (a header cannot start inside a line)
        seqs, tss, kinds, prevs = (list(column) for column in zip(*heads, strict=True))
        if not PLAIN_KINDS.issuperset(kinds):
            bad.update(i for i, kind in enumerate(kinds) if kind not in PLAIN_KINDS)
        if task.strict:
            texts = text.split("\n") if text is not None else []
    else:
        seqs, tss, kinds, prevs = ["-1"] * n, [""] * n, [""] * n, [""] * n
        for i, line in enumerate(lines):
            try:
                decoded = line[:-1].decode("utf-8")
            except UnicodeDecodeError:
                bad.add(i)
                texts.append("")
                continue
            texts.append(decoded)
            m = patterns[1].match(decoded)
            if m is None or m[3] not in PLAIN_KINDS:
                bad.add(i)
            else:
                seqs[i], tss[i], kinds[i], prevs[i] = m.groups()
    if task.strict:
        _strict(texts, n, bad)
    elif b"NaN" in data or b"Infinity" in data:  # what --fast leaves to the full parse
        bad.update(i for i, line in enumerate(lines) if b"NaN" in line or b"Infinity" in line)
    ints = list(map(int, seqs))
    hexes = list(map(_HEX, map(hashlib.sha256, lines)))
    if not (ints == list(range(ints[0], ints[0] + n)) and prevs[1:] == hexes[:-1]):
        bad.update(i for i in range(1, n) if ints[i] != ints[i - 1] + 1 or prevs[i] != hexes[i - 1])
    leaves = list(map(_DIGEST, map(hashlib.sha256, map(_LEAF, lines))))
    offsets = list(accumulate(map(len, lines), initial=base))
    first = 0
    for stop in [*sorted(bad), n]:
        for a, b in _pieces(first, stop, index, ints, task):
            leaf = ints[a] if task.align is None else task.align + index + a
            out.append(Run(offsets[a], offsets[b], b - a, ints[a], prevs[a], hexes[b - 1], tss[a], leaf,
                           subtrees(leaf, leaves[a:b])))
        if stop < n:
            _add(out, Lines(offsets[stop], offsets[stop + 1]))
        first = stop + 1
    return n


def _strict(texts: list[str], n: int, bad: set[int]) -> None:
    """Mark the lines the strict parse would refuse (or that are not one object and nothing else)."""
    try:
        if list(map(_SECOND, map(fmt.scan_value, texts[:n], repeat(0)))) == list(map(len, texts[:n])):
            return
    except (StopIteration, ValueError, RecursionError, fmt.StrictJSONError):
        pass
    for i in range(n):
        if i in bad:
            continue
        try:
            if fmt.scan_value(texts[i], 0)[1] != len(texts[i]):
                bad.add(i)
        except (StopIteration, ValueError, RecursionError, fmt.StrictJSONError):
            bad.add(i)


def _pieces(first: int, stop: int, index: int, ints: list[int], task: Task) -> list[tuple[int, int]]:
    """Lines first .. stop-1 as runs, split where a cut falls inside (only with a known alignment)."""
    if first >= stop:
        return []
    if task.align is None or not task.cuts:
        return [(first, stop)]
    origin = task.align + index
    inside = sorted(c - origin for c in task.cuts if first < c - origin < stop)
    bounds = [first, *inside, stop]
    return list(pairwise(bounds))
