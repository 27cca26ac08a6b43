"""Streaming verification of an audit directory: every chain, every segment, every checkpoint.

Constant memory: lines are read one at a time, the Merkle tree is kept as its frontier, and only
the roots at checkpointed sizes are remembered. Every problem becomes a :class:`Finding` naming
file, line, seq and kind; what could not be checked is said in :attr:`Report.unchecked`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcp_comply.audit import _format as fmt
from mcp_comply.audit.merkle import EMPTY_ROOT, CompactTree, leaf_hash
from mcp_comply.audit.note import Checkpoint, NoteError, Verifier, open_note

MAX_LINE = 16 * 1024 * 1024

# Finding kinds
MODIFIED = "modified"
INSERTED = "inserted"
DELETED = "deleted"
REORDERED = "reordered"
MALFORMED = "malformed"
DUPLICATE_KEY = "duplicate_key"
INVALID_UTF8 = "invalid_utf8"
TORN_TAIL = "torn_tail"
TRUNCATED = "truncated_below_checkpoint"
BAD_SIGNATURE = "bad_signature"
UNSIGNED = "unsigned_checkpoint"
INCONSISTENT = "inconsistent_checkpoint"
ROLLBACK = "rollback"
MISSING_SEGMENT = "missing_segment"
NOTICES = frozenset({TORN_TAIL})  # crash artefacts, not tampering

_HEADER = re.compile(rb'\{"v":1,"seq":(\d+),"ts":"[0-9T:.Z-]{27}","chain":"([^"\\]*)","kind":"([a-z_]+)",'
                     rb'"prev":"([0-9a-f]{64})"[,}]')
_PLAIN_KINDS = frozenset({b"call", b"intent", b"open", b"close", b"gap", b"recovery", b"clock_jump"})
_LEAF0 = hashlib.sha256(b"\x00")


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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
    segments: int = 0
    root: str = ""
    checkpoints_verified: int = 0
    latest_checkpoint: int = 0
    latest_checkpoint_root: str = EMPTY_ROOT.hex()
    """Hex root of the largest verified checkpoint: what ``--state`` remembers."""


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


def _classify_parse_error(message: str) -> str:
    if message.startswith("duplicate key"):
        return DUPLICATE_KEY
    if message.startswith("invalid UTF-8"):
        return INVALID_UTF8
    return MALFORMED


def _notes(directory: Path, verifiers: list[Verifier], report: Report) -> dict[int, tuple[Checkpoint, Path]]:
    """Checkpoint notes of one chain, by size, after signature checks."""
    out: dict[int, tuple[Checkpoint, Path]] = {}
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.note")):
        if path.name == "latest.note":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            if verifiers:
                body, _ = open_note(text, verifiers)
            else:
                body = text.split("\n\n", 1)[0] + "\n"
            checkpoint = Checkpoint.parse(body)
        except NoteError as exc:
            kind = UNSIGNED if "no signature from a trusted key" in str(exc) else BAD_SIGNATURE
            report.findings.append(Finding(kind, str(path), None, None, str(exc)))
            continue
        out[checkpoint.size] = (checkpoint, path)
    return out


def verify_chain(chain_dir: Path, checkpoint_dir: Path, verifiers: list[Verifier], report: Report,
                 state: dict[str, Any] | None, *, strict_json: bool = True) -> ChainResult:
    """Verify one chain. ``strict_json=False`` reads ordinary records' headers from the bytes and
    skips the full JSON parse of their bodies (about 4x faster): the chain, the Merkle roots and the
    signatures still cover every byte, but a duplicate key inside a body would not be reported."""
    chain = chain_dir.name
    result = ChainResult(chain)
    notes = _notes(checkpoint_dir / chain, verifiers, report)
    wanted_sizes = set(notes)
    if state is not None:
        wanted_sizes.add(int(state["size"]))
    roots: dict[int, bytes] = {}
    tree = CompactTree()
    if 0 in wanted_sizes:
        roots[0] = tree.root()
    segments = fmt.segments(chain_dir)
    expected_seq, prev_hash = 0, fmt.GENESIS
    prev_bytes, chain_bytes = prev_hash.encode(), chain.encode()
    pending_retention: tuple[int, str, str] | None = None
    pruned_below = 0
    first = True
    previous_index: int | None = None
    for seg_no, path in enumerate(segments):
        index = fmt.segment_index(path.name) or 0
        if previous_index is not None and index != previous_index + 1:
            report.findings.append(Finding(MISSING_SEGMENT, str(path), None, None,
                                           f"segment {previous_index + 1} is missing before {path.name}"))
        previous_index = index
        result.segments += 1
        last_segment = seg_no == len(segments) - 1
        where = str(path)
        leaf0_copy, sha256, append_leaf, header = _LEAF0.copy, hashlib.sha256, tree.append_leaf_hash, _HEADER.match
        with path.open("rb", buffering=1 << 20) as fh:
            for line_no, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    at_end = last_segment and fh.read(1) == b""
                    kind = TORN_TAIL if at_end else MALFORMED
                    report.findings.append(Finding(kind, where, line_no, None,
                                                   f"incomplete last line ({len(raw)} bytes, no newline)"))
                    break
                if len(raw) > MAX_LINE:
                    report.findings.append(Finding(MALFORMED, where, line_no, None, "line too long"))
                    continue
                if not strict_json and not first:
                    # Fast path: the header is read from the bytes; the body is only checked for
                    # UTF-8 and non-JSON numbers. Special records still take the full parse.
                    m = header(raw)
                    if (m is not None and m[2] == chain_bytes and m[3] in _PLAIN_KINDS
                            and b"NaN" not in raw and b"Infinity" not in raw and _utf8(raw)
                            and int(m[1]) == expected_seq and m[4] == prev_bytes):
                        h = leaf0_copy()
                        h.update(raw)
                        append_leaf(h.digest())
                        if tree.size in wanted_sizes:
                            roots[tree.size] = tree.root()
                        prev_bytes = sha256(raw).hexdigest().encode()
                        expected_seq += 1
                        continue
                    prev_hash = prev_bytes.decode()  # the full path below names the problem
                try:
                    record = fmt.parse_line(raw[:-1])
                except ValueError as exc:
                    kind = _classify_parse_error(str(exc))
                    if b"\x00" in raw and last_segment:
                        kind = TORN_TAIL
                    report.findings.append(Finding(kind, where, line_no, None, str(exc)))
                    tree.append_leaf_hash(leaf_hash(raw))
                    prev_hash = fmt.line_hash(raw)
                    prev_bytes = prev_hash.encode()
                    expected_seq += 1
                    continue
                seq, prev = record.get("seq"), record.get("prev")
                if first and isinstance(seq, int) and seq > 0 and prev != fmt.GENESIS:
                    # pruned by retention: accepted once a retention marker vouches for it; the
                    # rotation record that opens the segment carries the Merkle frontier to resume from
                    pending_retention = (seq, str(prev), where)
                    expected_seq, prev_hash = seq, str(prev)
                    prev_bytes = prev_hash.encode()
                    pruned_below = seq
                    if record.get("kind") == fmt.KIND_ROTATION and record.get("tree_size") == seq:
                        try:
                            tree = CompactTree.from_state(seq, record.get("frontier") or [])
                            append_leaf = tree.append_leaf_hash
                        except (ValueError, TypeError):
                            report.findings.append(Finding(MODIFIED, where, line_no, seq, "bad Merkle frontier"))
                first = False
                if record.get("v") != fmt.FORMAT_VERSION or record.get("chain") != chain \
                        or record.get("kind") not in fmt.KINDS or list(record)[:6] != [
                            "v", "seq", "ts", "chain", "kind", "prev"]:
                    report.findings.append(Finding(MODIFIED, where, line_no, seq if isinstance(seq, int) else None,
                                                   "record header is not what the writer writes"))
                if not isinstance(seq, int):
                    report.findings.append(Finding(MALFORMED, where, line_no, None, "no integer seq"))
                elif seq != expected_seq:
                    if seq > expected_seq:
                        kind, detail = DELETED, f"expected seq {expected_seq}: {seq - expected_seq} record(s) missing"
                    elif seq < expected_seq - 1 or prev == prev_hash:
                        kind, detail = REORDERED, f"seq {seq} after seq {expected_seq - 1}"
                    else:
                        kind, detail = INSERTED, f"seq {seq} repeats: a record was inserted or duplicated"
                    report.findings.append(Finding(kind, where, line_no, seq, detail))
                elif prev != prev_hash:
                    report.findings.append(Finding(MODIFIED, where, line_no, seq,
                                                   "prev does not match the hash of the previous record "
                                                   "(the previous record was changed)"))
                if record.get("kind") == fmt.KIND_RETENTION and pending_retention is not None:
                    below, head, _first = pending_retention
                    if record.get("pruned_below_seq") == below and record.get("head") == head:
                        pending_retention = None
                if record.get("kind") == fmt.KIND_CHECKPOINT:
                    # written right after the records it commits to
                    size = record.get("size")
                    here = base64.b64encode(tree.root()).decode()
                    if size != tree.size or record.get("root") != here:
                        report.findings.append(Finding(INCONSISTENT, where, line_no, seq,
                                                       f"checkpoint record for size {size} does not match the "
                                                       f"{tree.size} records before it"))
                tree.append_leaf_hash(leaf_hash(raw))
                if tree.size in wanted_sizes:
                    roots[tree.size] = tree.root()
                prev_hash = fmt.line_hash(raw)
                prev_bytes = prev_hash.encode()
                # a record from the past (reordered, duplicated) does not move the expectation back
                expected_seq = max(expected_seq, seq + 1) if isinstance(seq, int) else expected_seq + 1
    if pending_retention is not None:
        below, _head, where = pending_retention
        report.findings.append(Finding(DELETED, where, 1, below,
                                       f"the chain starts at seq {below} and no retention marker accounts for it"))
    result.records = tree.size
    result.root = tree.root().hex()
    for size, (checkpoint, path) in sorted(notes.items()):
        if size <= pruned_below:
            continue  # covers records retention has pruned
        if size > tree.size:
            report.findings.append(Finding(TRUNCATED, str(path), None, size,
                                           f"checkpoint covers {size} records but the log has {tree.size}"))
        elif roots.get(size) != checkpoint.root:
            report.findings.append(Finding(INCONSISTENT, str(path), None, size,
                                           f"checkpoint root for size {size} does not match the log: "
                                           "records at or below it were changed"))
        else:
            result.checkpoints_verified += 1
            result.latest_checkpoint, result.latest_checkpoint_root = size, checkpoint.root.hex()  # sizes ascend
    if state is not None:
        size = int(state["size"])
        if size > tree.size:
            report.findings.append(Finding(ROLLBACK, str(chain_dir), None, size,
                                           f"a previous verification saw {size} records; now {tree.size}"))
        elif roots.get(size, b"").hex() != state["root"]:
            report.findings.append(Finding(ROLLBACK, str(chain_dir), None, size,
                                           "history up to the remembered checkpoint was rewritten"))
    return result


def verify_directory(directory: Path, *, verifiers: list[Verifier] | None = None,
                     checkpoint_dir: Path | None = None, state_file: Path | None = None,
                     strict_json: bool = True) -> Report:
    report = Report()
    verifiers = verifiers or []
    checkpoint_dir = checkpoint_dir or directory / "checkpoints"
    remembered: dict[str, Any] = {}
    if state_file is not None and state_file.exists():
        remembered = json.loads(state_file.read_text())
    chains = sorted(p for p in directory.iterdir()
                    if p.is_dir() and fmt.segments(p))
    if not chains:
        report.unchecked.append(f"no audit chains found in {directory}")
    for chain_dir in chains:
        report.chains.append(verify_chain(chain_dir, checkpoint_dir, verifiers, report,
                                          remembered.get(chain_dir.name), strict_json=strict_json))
    if not verifiers:
        report.unchecked.append("no public key given (--key): checkpoint signatures were not checked, so a "
                                "rewrite of the log together with its checkpoints cannot be ruled out")
    if not strict_json:
        report.unchecked.append("--fast: ordinary records were not parsed as JSON, so duplicate keys inside "
                                "them were not looked for")
    if state_file is None:
        report.unchecked.append("no remembered state (--state): a rollback to an older copy of the whole "
                                "directory cannot be ruled out")
    for chain in report.chains:
        if chain.checkpoints_verified == 0:
            report.unchecked.append(f"{chain.chain}: no checkpoint verified: truncation of the tail cannot be "
                                    "ruled out")
    if state_file is not None and report.intact:
        state = dict(remembered)
        for chain in report.chains:
            # the largest verified checkpoint, for rollback detection next time
            state[chain.chain] = {"size": chain.latest_checkpoint, "root": chain.latest_checkpoint_root}
        state_file.write_text(json.dumps(state, indent=2, sort_keys=True))
    return report
