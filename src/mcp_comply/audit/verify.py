"""Streaming verification of an audit directory: every chain, every segment, every checkpoint.

Constant memory: lines are read one at a time in bounded chunks, the Merkle tree is kept as its
frontier, and only the roots at checkpointed sizes (and one entry per segment and per retention
marker) are remembered. Every problem becomes a :class:`Finding` naming file, line, seq and kind;
what could not be checked is said in :attr:`Report.unchecked`.

With a key, verify also says how much of each chain is *authenticated*: the records covered by
the newest checkpoint whose signature and Merkle root verify. A chain with records and no such
checkpoint is a finding; so is anything after it in a sealed chain (one that ended with
``close``), and an unsigned tail older than the chain's checkpoint interval plus ``grace_s``
(a live writer signs within the interval). A younger tail is reported as a notice: no verifier can
tell those records from ones an attacker appended a moment ago.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from mcp_comply._files import NotRegularFile, file_kind, not_regular, open_regular, read_regular, write_atomic
from mcp_comply.audit import _format as fmt
from mcp_comply.audit import _scan
from mcp_comply.audit._checkpoints import LATEST
from mcp_comply.audit._pool import Scanner, ScanPool
from mcp_comply.audit.merkle import EMPTY_ROOT, CompactTree, leaf_hash
from mcp_comply.audit.note import Checkpoint, NoteError, UntrustedNoteError, Verifier, open_note
from mcp_comply.exceptions import IntegrityError

MAX_LINE = fmt.MAX_LINE
MAX_NOTE = 64 * 1024
MAX_NOTES = 100_000
MAX_FINDINGS = 1000
_HEX64 = re.compile(r"[0-9a-f]{64}")
DEFAULT_GRACE_S = 30.0
_DEFAULT_INTERVAL_S = 5.0

# Finding kinds
MODIFIED = "modified"
INSERTED = "inserted"
DELETED = "deleted"
REORDERED = "reordered"
MALFORMED = "malformed"
OVERLONG = "overlong_line"
DUPLICATE_KEY = "duplicate_key"
INVALID_UTF8 = "invalid_utf8"
TORN_TAIL = "torn_tail"
TRUNCATED = "truncated_below_checkpoint"
BAD_SIGNATURE = "bad_signature"
UNSIGNED = "unsigned_checkpoint"
INCONSISTENT = "inconsistent_checkpoint"
FOREIGN = "foreign_checkpoint"
ROLLBACK = "rollback"
MISSING_SEGMENT = "missing_segment"
NOT_AUTHENTICATED = "not_authenticated"
UNSIGNED_TAIL = "unsigned_tail"
YOUNG_TAIL = "young_unsigned_tail"
SIGNED_AT_RECOVERY = "signed_at_recovery"
AFTER_CLOSE = "after_close"
BAD_RETENTION = "invalid_retention"
STALE_LATEST = "stale_latest_note"
NOTICES = frozenset({TORN_TAIL, YOUNG_TAIL, SIGNED_AT_RECOVERY})  # crash artefacts and live writers, not tampering
SERVED = "checkpoint"
"""The tlog-tiles name of the newest signed tree; the writer links it to ``latest.note``."""

_HEADER = re.compile(rb'\{"v":1,"seq":(\d{1,19}),"ts":"([0-9T:.Z-]{27})","chain":"([^"\\]*)","kind":"([a-z_]+)",'
                     rb'"prev":"([0-9a-f]{64})"[,}]')
# Records with no chain-level meaning: the fast path may skip their JSON parse.
_PLAIN_KINDS = frozenset(kind.encode() for kind in _scan.PLAIN_KINDS)
PARALLEL_MIN_BYTES = 32 << 20
"""Below this many bytes of segments, verify scans in its own process (starting workers costs more)."""
TASK_BYTES = 4 << 20
"""The byte range of a segment one scan task (one worker call) covers."""
SCAN_BLOCK = _scan.BLOCK
"""The bytes a scan task reads and checks at a time."""
_MAX_AUTO_JOBS = 8
_AFTER_CLOSE_OK = frozenset({fmt.KIND_CHECKPOINT, fmt.KIND_RECOVERY, fmt.KIND_OPEN})
_LEAF0 = hashlib.sha256(b"\x00")
VANISH_ATTEMPTS = 3
"""How many times verify checks a chain again when one of its listed segments is gone by the time it
is opened (retention removes the oldest segments while the server runs, once each)."""


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class SegmentVanished(IntegrityError):
    """A segment of a chain was gone when verify opened it, :data:`VANISH_ATTEMPTS` times in a row: no
    report can be made (retention removes a segment once, after the listing that shows it)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path}: vanished {VANISH_ATTEMPTS} times in a row between verify's listing of the chain "
                         "and its open (retention removes a segment once, after the listing that shows it): nothing "
                         "was verified")
        self.path = path


class _Vanished(Exception):  # an internal signal: the chain is checked again
    """A segment verify listed is gone (or the listing changed since the notes were read)."""

    def __init__(self, path: Path) -> None:
        super().__init__(str(path))
        self.path = path


@dataclass(frozen=True)
class Finding:
    kind: str
    file: str
    line: int | None
    seq: int | None
    detail: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        seq = f" seq {self.seq}" if self.seq is not None else ""
        return f"{self.kind}: {where}{seq}: {self.detail}"


@dataclass
class ChainResult:
    chain: str
    records: int = 0
    """The chain's length: seq of its last record + 1 (records removed by retention included)."""
    first_seq: int = 0
    """The first record still present (above 0 once retention has removed older segments)."""
    segments: int = 0
    root: str = ""
    checkpoints_verified: int = 0
    latest_checkpoint: int = 0
    latest_checkpoint_root: str = EMPTY_ROOT.hex()
    """Hex root of the largest verified checkpoint: what ``--state`` remembers."""
    authenticated: int | None = None
    """Records up to this size are covered by a checkpoint signed by a trusted key (None: no key)."""
    unsigned: int | None = None
    """Records after the newest signed checkpoint (None: no key)."""
    sealed: bool = False
    """The chain's last life ended with a ``close`` record."""


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    chains: list[ChainResult] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not [f for f in self.findings if f.kind not in NOTICES]

    def to_json(self) -> dict[str, Any]:
        return {"intact": self.intact, "findings": [asdict(f) for f in self.findings],
                "unchecked": self.unchecked, "chains": [asdict(c) for c in self.chains]}


@dataclass
class _Marker:
    """A retention record whose range reaches the records still present (checked at the end)."""

    seq: int
    where: str
    line: int
    first_seq: int
    last_seq: int
    last_hash: str
    newest: float


def read_notes(directory: Path, verifiers: list[Verifier], report: Report) -> dict[int, tuple[Checkpoint, Path]]:
    """Checkpoint notes of one chain, by size, after signature checks (bounded reads)."""
    out: dict[int, tuple[Checkpoint, Path]] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.note")):
        if path.name == LATEST:
            continue
        checkpoint = read_note(path, verifiers, report)
        if checkpoint is not None:
            out[checkpoint.size] = (checkpoint, path)
    return out


def read_note(path: Path, verifiers: list[Verifier], report: Report, *, follow: bool = True) -> Checkpoint | None:
    """One note, signature checked (any trusted key) when there are verifiers; None, with the finding
    reported, when it is too large, malformed, not signed by a trusted key, or not a regular file (a
    folder, a FIFO, which would block the read, a device, a broken link; with ``follow=False`` any
    link). None and no finding when it is gone (removed since the folder was listed: what verify says
    had it been removed before). A note the verifier may not read (permissions) raises: that is the
    caller's to fix."""
    try:
        data = read_regular(path, MAX_NOTE + 1, follow=follow)
    except PermissionError:
        raise
    except FileNotFoundError as exc:
        if not path.is_symlink():
            return None
        report.findings.append(Finding(MALFORMED, str(path), None, None,
                                       f"cannot be read as a note: {exc.strerror or exc}"))
        return None
    except OSError as exc:
        report.findings.append(Finding(MALFORMED, str(path), None, None,
                                       f"cannot be read as a note: {exc.strerror or exc}"))
        return None
    if len(data) > MAX_NOTE:
        report.findings.append(Finding(MALFORMED, str(path), None, None, f"note larger than {MAX_NOTE} bytes"))
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        if verifiers:
            body, _ = open_note(text, verifiers)
        else:
            body = text.split("\n\n", 1)[0] + "\n"
        return Checkpoint.parse(body)
    except UntrustedNoteError as exc:
        report.findings.append(Finding(UNSIGNED, str(path), None, None, str(exc)))
    except NoteError as exc:
        report.findings.append(Finding(BAD_SIGNATURE, str(path), None, None, str(exc)))
    return None


def read_served(directory: Path, verifiers: list[Verifier], report: Report
                ) -> tuple[list[tuple[Checkpoint, Path]], list[Finding], bool]:
    """What a chain's checkpoint folder serves as its newest tree: ``latest.note``, and ``checkpoint``
    (the tlog-tiles name) unless it is the link to ``latest.note`` the writer makes. Returns the notes
    read (signature checked) and the findings about the names themselves (a ``checkpoint`` that links
    elsewhere is not read: the verifier follows no link out of the folder; a folder, a FIFO or a device
    under either name is not read either: the writer makes neither, and a web server serving the folder
    would answer with whatever that holds, an ``index.html`` say, or hang); and whether anything is
    named ``latest.note`` at all. A name gone between the look at it and its read counts as not there,
    as it would had it gone before."""
    notes: list[tuple[Checkpoint, Path]] = []
    problems: list[Finding] = []
    latest, served = directory / LATEST, directory / SERVED
    served_mode, latest_mode = _lmode(served), _lmode(latest)
    if served_mode is not None and stat.S_ISLNK(served_mode):
        target = _readlink(served)
        if target is not None and target != LATEST:
            problems.append(Finding(STALE_LATEST, str(served), None, None, f"links to {target!r}, not {LATEST}: "
                                    "clients fetching checkpoint are not served this chain's newest note"))
    elif served_mode is not None and not stat.S_ISREG(served_mode):
        problems.append(Finding(STALE_LATEST, str(served), None, None, f"is {file_kind(served_mode)}, not the link "
                                f"to {LATEST}: clients fetching checkpoint are not served this chain's newest note"))
    elif served_mode is not None:
        checkpoint = read_note(served, verifiers, report, follow=False)
        if checkpoint is not None:
            notes.append((checkpoint, served))
    if latest_mode is not None and stat.S_ISLNK(latest_mode):
        target = _readlink(latest)
        if target is not None:
            problems.append(Finding(STALE_LATEST, str(latest), None, None, f"is a link to {target!r}: the writer "
                                    "writes it as a file, a copy of the newest note"))
    elif latest_mode is not None and not stat.S_ISREG(latest_mode):
        problems.append(Finding(STALE_LATEST, str(latest), None, None, f"is {file_kind(latest_mode)}: the writer "
                                "writes it as a file, a copy of the newest note; clients fetching it get none"))
    elif latest_mode is not None:
        checkpoint = read_note(latest, verifiers, report, follow=False)
        if checkpoint is not None:
            notes.append((checkpoint, latest))
    return notes, problems, latest_mode is not None and _lmode(latest) is not None


def _size(path: Path) -> int:
    """A segment's size for sizing the pool: 0 for what cannot be stat'ed (a link to nothing, a file
    gone since the listing): the pass over the chain reports it."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _readlink(path: Path) -> str | None:
    """Where the link at ``path`` points; None when it is no longer a link (gone since the look)."""
    try:
        return os.readlink(path)
    except OSError:
        return None


def _lmode(path: Path) -> int | None:
    """The ``st_mode`` of ``path`` itself (a link is not followed); None when nothing is there."""
    try:
        return os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return None


class _Window:
    """A segment as the verifier saw it when it started (``size`` bytes), read from ``seek(start, end)``
    with lines up to ``end``."""

    def __init__(self, fh: IO[bytes], size: int) -> None:
        self._fh = self.file = fh
        self._size = size
        self._pos = self._end = 0

    def seek(self, start: int, end: int) -> None:
        self._fh.seek(start)
        self._pos, self._end = start, min(end, self._size)

    def readline(self, size: int = -1, /) -> bytes:
        left = self._end - self._pos
        if left <= 0:
            return b""
        line = self._fh.readline(left if size < 0 else min(size, left))
        self._pos += len(line)
        return line

    def read(self, size: int) -> bytes:
        data = self._fh.read(max(0, min(size, self._size - self._pos)))
        self._pos += len(data)
        return data


class ChainVerifier:
    """Verifies one chain in one pass: the line-level chain and Merkle tree, one method per record
    kind with chain-level meaning, then the checkpoints, retention, coverage and remembered state."""

    def __init__(self, chain_dir: Path, checkpoint_dir: Path, verifiers: list[Verifier], report: Report,
                 remembered: dict[str, Any] | None, *, strict_json: bool = True, now: float | None = None,
                 grace_s: float = DEFAULT_GRACE_S, scanner: Scanner | None = None) -> None:
        self.chain_dir = chain_dir
        self.chain = chain_dir.name
        self.verifiers = verifiers
        self.report = report
        self.remembered = remembered
        self.strict_json = strict_json
        self.now = time.time() if now is None else now
        self.grace_s = grace_s
        self.result = ChainResult(self.chain)
        # listed before the notes are read: retention signs the note covering its marker before it
        # removes a segment, so a removal that the pass's listing shows and this one does not may
        # have come after the notes were read (run() then asks for the chain to be checked again)
        self.listed = [p.name for p in fmt.segments(chain_dir)]
        self.listing: list[Path] = []
        self.notes = read_notes(checkpoint_dir / self.chain, verifiers, report)
        self.served, self.served_problems, self.has_latest = read_served(checkpoint_dir / self.chain, verifiers,
                                                                         report)
        self.wanted = set(self.notes) | {checkpoint.size for checkpoint, _ in self.served}
        if remembered is not None:
            self.wanted.add(int(remembered["size"]))
        self.wanted_sorted = sorted(self.wanted)
        self.scanner = scanner
        self.roots: dict[int, bytes] = {}
        self.ts_at: dict[int, float | None] = {}
        self.tree = CompactTree()
        if 0 in self.wanted:
            self.roots[0] = self.tree.root()
        self.expected_seq = 0
        self.prev_hash = fmt.GENESIS
        self.prev_bytes = self.prev_hash.encode()
        self.chain_bytes = self.chain.encode()
        self.first = True
        self.start: dict[str, Any] | None = None  # the rotation record a pruned chain starts with
        self.rotations: dict[int, tuple[str, float | None]] = {}  # seq -> (prev, prev_segment_newest_ts)
        self.markers: list[_Marker] = []  # only those whose range reaches what is present
        self.last_removed = -1
        self.start_marker: _Marker | None = None
        self.period: float | None = None
        self.interval = _DEFAULT_INTERVAL_S
        self.closed = False
        self.last_open: int | None = None  # where the newest life starts
        # (position, origin) wherever an open or checkpoint record states another origin than the
        # one before it (a writer's changes only with a new life, so a genuine chain has few)
        self.origins: list[tuple[int, str]] = []
        self.where = ""
        self.found = 0

    def finding(self, kind: str, line: int | None, seq: int | None, detail: str, where: str | None = None) -> None:
        self.found += 1
        if self.found <= MAX_FINDINGS:
            self.report.findings.append(Finding(kind, self.where if where is None else where, line, seq, detail))
        elif self.found == MAX_FINDINGS + 1:
            self.report.findings.append(Finding(MALFORMED, str(self.chain_dir), None, None, f"more than "
                                                f"{MAX_FINDINGS} findings in this chain: the rest are not listed"))

    # ---- the pass over the lines ----------------------------------------------------------------
    def run(self) -> ChainResult:
        """The chain's result; raises :class:`_Vanished` when a listed segment is gone when it is
        sized or opened (here, by the block scan or by a worker), or was removed since the notes were
        read: the caller checks the chain again, as it is then."""
        self.listing = fmt.segments(self.chain_dir)
        present = {p.name for p in self.listing}
        removed = next((name for name in self.listed if name not in present), None)
        if removed is not None:
            raise _Vanished(self.chain_dir / removed)
        try:
            self._pass()
        except FileNotFoundError as exc:  # (a worker's is raised here too, with the path it opened)
            if exc.filename is not None and Path(exc.filename) in self.listing:
                raise _Vanished(Path(exc.filename)) from None
            raise
        self.result.records = self.tree.size
        self.result.root = self.tree.root().hex()
        self.result.sealed = self.closed
        self._check_retention()
        self._check_notes()
        self._check_served()
        self._check_remembered()
        if self.verifiers:
            self._check_coverage()
        return self.result

    def _pass(self) -> None:
        """The pass over the listed segments' lines."""
        # sizes as of now: a writer may append while this runs, and what it appends is for next time
        segments: list[tuple[Path, int]] = []
        for path in self.listing:
            odd = not_regular(path)
            if odd is None:
                segments.append((path, path.stat().st_size))
            else:  # opening a FIFO would block this run for good; its records are missing
                self._not_a_segment(path, odd)
        feed = None if self.scanner is None else self.scanner.feed(self.chain, segments)
        previous_index: int | None = None
        for seg_no, (path, size) in enumerate(segments):
            index = fmt.segment_index(path.name) or 0
            self.where = str(path)
            if previous_index is not None and index != previous_index + 1:
                self.finding(MISSING_SEGMENT, None, None, f"segment {previous_index + 1} is missing before {path.name}")
            previous_index = index
            self.result.segments += 1
            items = None if feed is None else feed.segment(seg_no)
            self._segment(path, size, items, last_segment=seg_no == len(segments) - 1)

    def _not_a_segment(self, path: Path, kind: str) -> None:
        self.finding(MALFORMED, None, None, f"{path.name} is not a regular file ({kind}): not a segment the "
                     "writer wrote", where=str(path))

    def _segment(self, path: Path, size: int, items: Iterator[_scan.Item] | None, *,
                 last_segment: bool) -> None:
        try:
            fh = open_regular(path, buffering=1 << 20)
        except NotRegularFile as exc:  # put in its place after the listing checked it (a FIFO would block)
            self._not_a_segment(path, exc.kind)
            for _ in items or ():  # the scanner's items of this segment, so the next one starts at its own
                pass
            return
        with fh:
            window = _Window(fh, size)
            if items is None:  # line by line: the reference the block scan is tested against
                self._lines(window, 0, size, 0, last_segment)
                return
            line_no, ended = 0, False
            for item in self._read_unread(window, path, size, items):  # every item is consumed, so the
                if ended:  # next segment starts at its own
                    continue
                if isinstance(item, _scan.Run):
                    line_no, ended = self._run(path, size, window, item, line_no, last_segment)
                else:
                    line_no, ended = self._lines(window, item.start, item.end, line_no, last_segment)

    def _task(self, path: Path, start: int, stop: int, size: int, align: int | None = None,
              cuts: frozenset[int] = frozenset()) -> _scan.Task:
        return _scan.Task(str(path), start, stop, size, self.chain, self.strict_json,
                          self.scanner.block if self.scanner else _scan.BLOCK, align, cuts)

    def _read_unread(self, window: _Window, path: Path, size: int, items: Iterator[_scan.Item]
                     ) -> Iterator[_scan.Run | _scan.Lines]:
        """The items, with each range the scan could not open by name (the segment is gone since the
        listing: retention removed it while this reads it) scanned here, from this open file."""
        for item in items:
            if isinstance(item, _scan.Unread):
                yield from _scan.scan_open(window.file, self._task(path, item.start, item.stop, size))
            else:
                yield item

    def _run(self, path: Path, size: int, window: _Window, run: _scan.Run, line_no: int,
             last_segment: bool) -> tuple[int, bool]:
        """Move past lines the block scan found well formed and linked, as the per-line path would;
        lines whose first link or seq is not what this chain expects take the per-line path."""
        if (self.first or self.closed or run.first_seq != self.expected_seq
                or run.first_prev.encode() != self.prev_bytes):
            return self._lines(window, run.start, run.end, line_no, last_segment)
        size_before = self.tree.size
        cuts = self._cuts(size_before, run.lines)
        if run.leaf_index == size_before and not cuts:
            self._take(run)
            return line_no + run.lines, False
        # the subtrees assume another tree size (after a finding), or a root is needed inside: scan again
        # here, from this open file (the segment may be gone by name: retention removes the oldest)
        ended = False
        for part in _scan.scan_open(window.file, self._task(path, run.start, run.end, size, size_before, cuts)):
            if ended:
                break
            if isinstance(part, _scan.Run) and part.first_seq == self.expected_seq and \
                    part.first_prev.encode() == self.prev_bytes and part.leaf_index == self.tree.size:
                self._take(part)
                line_no += part.lines
            else:  # the file changed under us: read it as it is now
                line_no, ended = self._lines(window, part.start, part.end, line_no, last_segment)
        return line_no, ended

    def _cuts(self, size: int, lines: int) -> frozenset[int]:
        """Tree sizes strictly inside (size, size + lines) whose root or timestamp is needed."""
        wanted = self.wanted_sorted
        first = bisect.bisect_right(wanted, size)
        last = bisect.bisect_left(wanted, size + lines, first)
        return frozenset(wanted[first:last])

    def _take(self, run: _scan.Run) -> None:
        tree = self.tree
        if tree.size in self.wanted:
            self.ts_at[tree.size] = fmt.parse_ts(run.first_ts)
        for height, node in run.subtrees:
            tree.append_subtree(height, node)
        if tree.size in self.wanted:
            self.roots[tree.size] = tree.root()
        self.prev_hash = run.last_hash
        self.prev_bytes = run.last_hash.encode()
        self.expected_seq += run.lines

    def _lines(self, window: _Window, start: int, end: int, before: int, last_segment: bool) -> tuple[int, bool]:
        """The per-line path over the lines in ``[start, end)``, numbered after ``before``; returns the
        number of the last line read and whether the segment ended there (a line with no newline)."""
        wanted, roots, tree = self.wanted, self.roots, self.tree
        header, leaf0_copy, sha256 = _HEADER.match, _LEAF0.copy, hashlib.sha256
        window.seek(start, end)
        line_no = before
        for line_no, raw in enumerate(fmt.read_lines(window), start=before + 1):
            if isinstance(raw, fmt.LongLine):
                self._overlong(raw, line_no)
                if not raw.complete:
                    return line_no, True
                continue
            if not raw.endswith(b"\n"):
                kind = TORN_TAIL if last_segment and window.read(1) == b"" else MALFORMED
                self.finding(kind, line_no, None, f"incomplete last line ({len(raw)} bytes, no newline)")
                return line_no, True
            if not self.strict_json and not self.first and not self.closed:
                # Fast path: the header is read from the bytes; the body is only checked for
                # UTF-8 and non-JSON numbers. Records with chain-level meaning take the full parse.
                m = header(raw)
                if (m is not None and m[3] == self.chain_bytes and m[4] in _PLAIN_KINDS
                        and b"NaN" not in raw and b"Infinity" not in raw and _utf8(raw)
                        and int(m[1]) == self.expected_seq and m[5] == self.prev_bytes):
                    if tree.size in wanted:
                        self.ts_at[tree.size] = fmt.parse_ts(m[2].decode())
                    h = leaf0_copy()
                    h.update(raw)
                    tree.append_leaf_hash(h.digest())
                    if tree.size in wanted:
                        roots[tree.size] = tree.root()
                    self.prev_bytes = sha256(raw).hexdigest().encode()
                    self.expected_seq += 1
                    continue
                self.prev_hash = self.prev_bytes.decode()  # the full path below names the problem
            self._record(raw, line_no, last_segment)
            tree = self.tree  # a pruned chain's first record replaces the tree
        return line_no, False

    def _advance(self, sha: str, leaf: bytes) -> None:
        self.tree.append_leaf_hash(leaf)
        if self.tree.size in self.wanted:
            self.roots[self.tree.size] = self.tree.root()
        self.prev_hash = sha
        self.prev_bytes = sha.encode()

    def _overlong(self, line: fmt.LongLine, line_no: int) -> None:
        if self.closed:
            self.finding(AFTER_CLOSE, line_no, None, "a line after the chain was closed")
            self.closed = False
        self.finding(OVERLONG, line_no, None, f"line of {line.length} bytes is longer than the {MAX_LINE}-byte "
                     "limit: it was hashed in chunks, not read")
        self._advance(line.sha256, line.leaf)
        self.expected_seq += 1
        self.first = False

    def _record(self, raw: bytes, line_no: int, last_segment: bool) -> None:
        try:
            record = fmt.parse_line(raw[:-1])
        except fmt.StrictJSONError as exc:
            self.finding(TORN_TAIL if b"\x00" in raw and last_segment else exc.kind, line_no, None, str(exc))
            self._advance(fmt.line_hash(raw), leaf_hash(raw))
            self.expected_seq += 1
            self.first = False
            return
        seq, prev, kind = record.get("seq"), record.get("prev"), record.get("kind")
        if self.first:
            self.first = False
            if isinstance(seq, int) and seq > 0 and prev != fmt.GENESIS:
                self._pruned_start(record, line_no)
        if (record.get("v") != fmt.FORMAT_VERSION or record.get("chain") != self.chain
                or kind not in fmt.KINDS or list(record)[:6] != list(fmt.HEADER)):
            self.finding(MODIFIED, line_no, seq if isinstance(seq, int) else None,
                         "record header is not what the writer writes")
        if not isinstance(seq, int):
            self.finding(MALFORMED, line_no, None, "no integer seq")
        elif seq != self.expected_seq:
            if seq > self.expected_seq:
                missing = seq - self.expected_seq
                found, detail = DELETED, f"expected seq {self.expected_seq}: {missing} record(s) missing"
            elif seq < self.expected_seq - 1 or prev == self.prev_hash:
                found, detail = REORDERED, f"seq {seq} after seq {self.expected_seq - 1}"
            else:
                found, detail = INSERTED, f"seq {seq} repeats: a record was inserted or duplicated"
            self.finding(found, line_no, seq, detail)
        elif prev != self.prev_hash:
            self.finding(MODIFIED, line_no, seq, "prev does not match the hash of the previous record "
                         "(the previous record was changed)")
        position = self.tree.size
        if position in self.wanted:
            self.ts_at[position] = fmt.parse_ts(record.get("ts"))
        if self.closed and kind not in _AFTER_CLOSE_OK:
            self.finding(AFTER_CLOSE, line_no, seq if isinstance(seq, int) else None,
                         f"a {kind!r} record after the chain was closed (only a new life may follow a close)")
            self.closed = False
        handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
        if handler is not None:
            handler(record, position, line_no)
        self._advance(fmt.line_hash(raw), leaf_hash(raw))
        # a record from the past (reordered, duplicated) does not move the expectation back
        self.expected_seq = max(self.expected_seq, seq + 1) if isinstance(seq, int) else self.expected_seq + 1

    def _pruned_start(self, record: dict[str, Any], line_no: int) -> None:
        """The chain starts above seq 0: retention may have removed what came before, which a
        retention marker must account for (checked at the end). The rotation record that opens
        every segment carries the Merkle frontier to resume the tree from."""
        seq = int(record["seq"])
        self.start = record
        self.result.first_seq = seq
        self.expected_seq, self.prev_hash = seq, str(record.get("prev"))
        self.prev_bytes = self.prev_hash.encode()
        if record.get("kind") == fmt.KIND_ROTATION and record.get("tree_size") == seq:
            try:
                self.tree = CompactTree.from_state(seq, record.get("frontier") or [])
            except (ValueError, TypeError):
                self.finding(MODIFIED, line_no, seq, "bad Merkle frontier")

    # ---- one method per record kind with chain-level meaning ---------------------------------
    def _stated_origin(self, record: dict[str, Any], position: int) -> None:
        origin = record.get("origin")
        if isinstance(origin, str) and (not self.origins or self.origins[-1][1] != origin):
            self.origins.append((position, origin))

    def _origin_at(self, position: int) -> str | None:
        """The origin the records state for ``position``: the newest open or checkpoint record at
        or before it (in a pruned chain's first records, the first one the records state)."""
        origins = self.origins
        if not origins:
            return None
        at = bisect.bisect_right(origins, position, key=lambda entry: entry[0])
        return origins[max(at - 1, 0)][1]

    def _on_open(self, record: dict[str, Any], position: int, _line: int) -> None:
        self.closed = False
        self.last_open = position
        self._stated_origin(record, position)
        days, interval = record.get("retention_days"), record.get("checkpoint_interval_s")
        if isinstance(days, int | float):
            self.period = float(days)
        if isinstance(interval, int | float) and interval > 0:
            self.interval = float(interval)

    def _on_recovery(self, record: dict[str, Any], position: int, line_no: int) -> None:
        """The writer writes ``recovery`` only right before ``open``: it does not reopen a closed
        chain by itself (the ``open`` that must follow does). It says how many records a crash left
        unsigned, which this start adopted and signed."""
        adopted = record.get("adopted_unsigned")
        if isinstance(adopted, dict) and type(adopted.get("count")) is int and type(adopted.get("from_seq")) is int:
            first, count = adopted["from_seq"], adopted["count"]
            self.finding(SIGNED_AT_RECOVERY, line_no, position, f"{count} record(s) from seq {first} were signed only "
                         "when this start recovered them (a crash left them unsigned): no verifier can tell them "
                         "from records added while the server was down")

    def _on_close(self, _record: dict[str, Any], _position: int, _line: int) -> None:
        self.closed = True

    def _on_rotation(self, record: dict[str, Any], position: int, line_no: int) -> None:
        if record.get("tree_size") != position:
            self.finding(INCONSISTENT, line_no, position, f"rotation record states tree size "
                         f"{record.get('tree_size')!r} but {position} records precede it")
        elif self.tree.size == position and position:
            try:
                resumed = CompactTree.from_state(position, record.get("frontier") or []).root()
            except (ValueError, TypeError):
                resumed = b""
            if resumed != self.tree.root():
                self.finding(INCONSISTENT, line_no, position, "rotation record's Merkle frontier does not match "
                             "the records before it")
        days = record.get("retention_days")
        if isinstance(days, int | float):
            self.period = float(days)
        prev, newest = record.get("prev"), fmt.parse_ts(record.get("prev_segment_newest_ts"))
        self.rotations[position] = (prev if isinstance(prev, str) and _HEX64.fullmatch(prev) else "", newest)

    def _on_checkpoint(self, record: dict[str, Any], position: int, line_no: int) -> None:
        # written right after the records it states; its note (size position + 1) has its origin
        self._stated_origin(record, position)
        size = record.get("size")
        if size != position or record.get("root") != fmt.b64(self.tree.root()):
            self.finding(INCONSISTENT, line_no, position, f"checkpoint record for size {size} does not match "
                         f"the {position} records before it")

    def _on_retention(self, record: dict[str, Any], position: int, line_no: int) -> None:
        first_seq, last_seq, last_hash = record.get("first_seq"), record.get("last_seq"), record.get("last_hash")
        days, ts, newest = record.get("retention_days"), fmt.parse_ts(record.get("ts")), fmt.parse_ts(
            record.get("newest_ts"))
        if (type(last_seq) is not int or not isinstance(last_hash, str) or _HEX64.fullmatch(last_hash) is None
                or newest is None or ts is None or type(days) not in (int, float) or not 0 <= last_seq < position
                or not (type(first_seq) is int and 0 <= first_seq <= last_seq)):
            self.finding(BAD_RETENTION, line_no, position, "retention record does not name a removed range "
                         "(first_seq, last_seq, last_hash, newest_ts, retention_days)")
            return
        if self.period is None or float(days) != self.period:  # type: ignore[arg-type]
            self.finding(BAD_RETENTION, line_no, position, f"retention record states {days} days; the period "
                         f"signed into the chain is {self.period}")
        elif ts - newest < self.period * 86400:
            self.finding(BAD_RETENTION, line_no, position, f"removed records were {(ts - newest) / 86400:.2f} days "
                         f"old; the retention period is {self.period:g} days")
        if ts > self.now + self.grace_s:
            self.finding(BAD_RETENTION, line_no, position, "retention record is dated in the future")
        if last_seq <= self.last_removed:
            self.finding(BAD_RETENTION, line_no, position, "retention record does not move past the previous one")
        self.last_removed = max(self.last_removed, last_seq)
        if last_seq + 1 >= self.result.first_seq:  # older ones name what is gone with its boundary
            self.markers.append(_Marker(position, self.where, line_no, first_seq, last_seq, last_hash, newest))

    # ---- after the pass -----------------------------------------------------------------------
    def _check_retention(self) -> None:
        """Every marker whose range ends inside what is present must end at a segment boundary
        with the named hash; a chain that starts above 0 needs a marker whose range holds the start
        (normally ends right before it; a crash between two deletions leaves the start inside)."""
        start = self.result.first_seq
        accounted = start == 0
        for marker in self.markers:
            boundary = marker.last_seq + 1
            if self.rotations.get(boundary) != (marker.last_hash, marker.newest):
                self.finding(BAD_RETENTION, marker.line, marker.seq, "retention record's range does not end where "
                             "the chain continues (last_seq, last_hash and newest_ts must match the next "
                             "segment's rotation record)", where=marker.where)
            elif start and marker.first_seq <= start <= boundary and not accounted:
                # the oldest that accounts for the start: a newer one may name the first segment too
                # (retention appended it after the listing; it deletes once its note is signed)
                accounted = True
                self.start_marker = marker
        if not accounted:
            first_segment = next(iter(self.listing), self.chain_dir)
            self.finding(DELETED, 1, start, f"the chain starts at seq {start} and no retention record accounts "
                         "for the records before it", where=str(first_segment))

    def _check_notes(self) -> None:
        for size, (checkpoint, path) in sorted(self.notes.items()):
            self._check_note(size, checkpoint, path)

    def _check_note(self, size: int, checkpoint: Checkpoint, path: Path) -> None:
        if size <= self.result.first_seq:
            return  # covers records retention has removed
        if size > self.tree.size:
            self.finding(TRUNCATED, None, size, f"checkpoint covers {size} records but the log has {self.tree.size}",
                         where=str(path))
            return
        # The writer signs a note right after its checkpoint record, with the origin that record
        # states. A note of another log (signed with the same key) vouches for nothing here,
        # whatever its root; the root is checked as well.
        origin = self._origin_at(size - 1)
        foreign = origin is not None and checkpoint.origin != origin
        if foreign:
            self.finding(FOREIGN, None, size, f"checkpoint is for origin {checkpoint.origin!r} but this chain "
                         f"states origin {origin!r} there: a note of another log", where=str(path))
        if self.roots.get(size) != checkpoint.root:
            self.finding(INCONSISTENT, None, size, f"checkpoint root for size {size} does not match the log: "
                         "records at or below it were changed", where=str(path))
        elif not foreign and size > self.result.latest_checkpoint:
            self.result.checkpoints_verified += 1
            self.result.latest_checkpoint, self.result.latest_checkpoint_root = size, checkpoint.root.hex()

    def _check_served(self) -> None:
        """``latest.note`` (and ``checkpoint``, unless it links to it) is what clients fetch as the
        chain's newest tree. The writer writes it, synced, before the numbered note of the same tree,
        so after any crash it is that note or newer, never older. Each is checked like a numbered
        note when it is not one (its twin not written yet, deleted, or a different tree), and one
        older than the newest numbered note, or none at all, is a finding: an older signed note put
        there rolls back what clients see, which the numbered notes alone do not show."""
        for problem in self.served_problems:
            self.finding(problem.kind, None, None, problem.detail, where=problem.file)
        newest = max((size for size in self.notes if size > self.result.first_seq), default=None)
        for checkpoint, path in self.served:
            twin = self.notes.get(checkpoint.size)
            if twin is None or twin[0] != checkpoint:
                self._check_note(checkpoint.size, checkpoint, path)
            if newest is not None and checkpoint.size < newest:
                self.finding(STALE_LATEST, None, newest, f"states size {checkpoint.size} but the newest checkpoint "
                             f"is size {newest}: clients fetching it see an older tree", where=str(path))
        if not self.has_latest and newest is not None:
            self.finding(STALE_LATEST, None, newest, f"no {LATEST} although note {newest} was written (the writer "
                         "writes it first): clients fetching the newest tree get none",
                         where=str(self.notes[newest][1].parent))

    def _check_remembered(self) -> None:
        if self.remembered is None:
            return
        size = int(self.remembered["size"])
        if size <= self.result.first_seq and size:
            return  # removed by retention since
        if size > self.tree.size:
            self.finding(ROLLBACK, None, size, f"a previous verification saw {size} records; now {self.tree.size}",
                         where=str(self.chain_dir))
        elif self.roots.get(size, b"").hex() != self.remembered["root"]:
            self.finding(ROLLBACK, None, size, "history up to the remembered checkpoint was rewritten",
                         where=str(self.chain_dir))

    def _check_coverage(self) -> None:
        """With a key: how much is authenticated, and whether what is not may be a live tail."""
        result, where = self.result, str(self.chain_dir)
        present = result.records - result.first_seq
        signed = result.latest_checkpoint if result.checkpoints_verified else result.first_seq
        result.authenticated = signed if result.checkpoints_verified else 0
        result.unsigned = result.records - signed
        if present > 0 and not result.checkpoints_verified:
            self.finding(NOT_AUTHENTICATED, None, None, f"nothing authenticated: {present} records and no checkpoint "
                         "signed by the given key covers any of them", where=where)
            return
        start = self.start_marker
        if start is not None and start.seq >= signed:
            self.finding(DELETED, 1, result.first_seq, "the retention record that accounts for the start of the "
                         "chain is not covered by a signed checkpoint", where=where)
        tail = result.unsigned
        if tail <= 0:
            return
        if self.last_open is not None and self.last_open >= signed:
            self.finding(UNSIGNED_TAIL, None, self.last_open, f"{tail} record(s) after the newest signed "
                         f"checkpoint include the start of a life (open at seq {self.last_open}) that was never "
                         "signed: a writer signs its open record before it takes any request", where=where)
            return
        if result.sealed:
            self.finding(UNSIGNED_TAIL, None, signed, f"{tail} record(s) after the newest signed checkpoint of a "
                         "sealed chain (it ended with close, so everything must be signed)", where=where)
            return
        ts = self.ts_at.get(signed)
        limit = self.interval + self.grace_s
        age = None if ts is None else self.now - ts
        if age is None or age > limit or age < -self.grace_s:
            when = "with no readable timestamp" if age is None else (
                f"from {-age:.0f} s in the future" if age < 0 else f"the oldest {age:.0f} s old")
            self.finding(UNSIGNED_TAIL, None, signed, f"{tail} record(s) after the newest signed checkpoint, {when}: "
                         f"a live writer signs within {self.interval:g} s (+{self.grace_s:g} s grace); they may have "
                         "been appended by someone without the key, or left by a crash with no restart since",
                         where=where)
        else:
            self.finding(YOUNG_TAIL, None, signed, f"{tail} record(s) from the last {max(age, 0):.0f} s are not signed "
                         f"yet (a live writer signs within {self.interval:g} s): not authenticated", where=where)


def _workers(jobs: int | None, total_bytes: int) -> int:
    if jobs is not None:
        return jobs
    if total_bytes < PARALLEL_MIN_BYTES:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, _MAX_AUTO_JOBS))


def verify_directory(directory: Path, *, verifiers: list[Verifier] | None = None,
                     checkpoint_dir: Path | None = None, state_file: Path | None = None,
                     strict_json: bool = True, now: float | None = None,
                     grace_s: float = DEFAULT_GRACE_S, jobs: int | None = None,
                     pool: ScanPool | None = None) -> Report:
    """Verify every chain of ``directory``. Ordinary records are checked a block at a time: in
    ``pool`` when one is given, else in ``jobs`` worker processes started for this call (default:
    one per CPU, up to 8, when the segments hold at least :data:`PARALLEL_MIN_BYTES`; 1: in this
    process; 0: line by line, the reference path the block scan is tested against). The report is
    the same whichever way."""
    if jobs is not None and jobs < 0:
        raise ValueError("jobs must be 0 or more")
    chains = sorted(p for p in directory.iterdir() if p.is_dir() and fmt.segments(p))
    owned: ScanPool | None = None
    scanner: Scanner | None = None
    if jobs != 0:
        if pool is None and jobs != 1:
            workers = _workers(jobs, sum(_size(s) for chain in chains for s in fmt.segments(chain)))
            pool = owned = ScanPool(workers) if workers > 1 else None
        scanner = Scanner(strict=strict_json, pool=pool, task_bytes=TASK_BYTES, block=SCAN_BLOCK)
    try:
        return _verify(directory, chains, verifiers or [], checkpoint_dir or directory / "checkpoints", state_file,
                       strict_json, now, grace_s, scanner)
    finally:
        if owned is not None:
            owned.close()


def _verify_chain(chain_dir: Path, checkpoint_dir: Path, verifiers: list[Verifier], report: Report,
                  remembered: dict[str, Any] | None, **options: Any) -> ChainResult:
    """One chain's result. A segment gone since the listing (retention removed it while this ran, or
    someone else did) makes this check the chain again from the start, findings dropped, as it now is:
    a chain that now starts later is judged by the retention rules (a ``retention`` record must account
    for the start), a hole in the middle is ``missing_segment``. Retention removes a segment once, so
    one that vanishes :data:`VANISH_ATTEMPTS` times raises :class:`SegmentVanished`."""
    gone = chain_dir
    for _ in range(VANISH_ATTEMPTS):
        mark = len(report.findings)
        try:
            return ChainVerifier(chain_dir, checkpoint_dir, verifiers, report, remembered, **options).run()
        except _Vanished as exc:
            del report.findings[mark:]
            gone = exc.path
    raise SegmentVanished(gone)


def _verify(directory: Path, chains: list[Path], verifiers: list[Verifier], checkpoint_dir: Path,
            state_file: Path | None, strict_json: bool, now: float | None, grace_s: float,
            scanner: Scanner | None) -> Report:
    report = Report()
    remembered: dict[str, Any] = {}
    if state_file is not None and state_file.exists():
        remembered = json.loads(state_file.read_text())
    if not chains:
        report.unchecked.append(f"no audit chains found in {directory}")
    present = {p.name for p in chains}
    for name, seen in sorted(remembered.items()):
        if name not in present and isinstance(seen, dict) and seen.get("size"):
            report.findings.append(Finding(ROLLBACK, str(directory / name), None, int(seen["size"]),
                                           f"chain {name} had {seen['size']} signed records at the last "
                                           "verification and is gone"))
    for chain_dir in chains:
        report.chains.append(_verify_chain(chain_dir, checkpoint_dir, verifiers, report, remembered.get(chain_dir.name),
                                           strict_json=strict_json, now=now, grace_s=grace_s, scanner=scanner))
    if not verifiers:
        report.unchecked.append("no public key given (--key): checkpoint signatures were not checked, so a "
                                "rewrite of the log together with its checkpoints, a deleted tail and a forged "
                                "retention record cannot be ruled out")
        for chain in report.chains:
            if chain.checkpoints_verified == 0:
                report.unchecked.append(f"{chain.chain}: no checkpoint matches the log: truncation of the tail "
                                        "cannot be ruled out")
    if not strict_json:
        report.unchecked.append("--fast: ordinary records were not parsed as JSON, so duplicate keys inside "
                                "them were not looked for")
    if state_file is None:
        report.unchecked.append("no remembered state (--state): a rollback to an older copy of the whole "
                                "directory cannot be ruled out")
    if state_file is not None and report.intact:
        state = dict(remembered)
        for chain in report.chains:
            # the largest verified checkpoint, for rollback detection next time
            state[chain.chain] = {"size": chain.latest_checkpoint, "root": chain.latest_checkpoint_root}
        write_atomic(state_file, json.dumps(state, indent=2, sort_keys=True).encode(), mode=0o644)
    return report
