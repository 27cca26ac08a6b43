"""Segment files of one chain: the lock, reading first and last records, the saved chain state, and
recovery after a crash (a torn tail is cut off into a quarantine file)."""

from __future__ import annotations

import base64
import binascii
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from mcp_comply._files import NotRegularFile, fsync_dir, not_regular, open_regular, read_regular, write_atomic
from mcp_comply.audit import _format as fmt
from mcp_comply.audit.merkle import CompactTree, leaf_hash
from mcp_comply.audit.note import Checkpoint, NoteError, Signer, open_note
from mcp_comply.exceptions import IntegrityError

STATE_FILE = "state.json"
LOCK_FILE = ".lock"
MAX_CHAINS = 1024


class AuditError(IntegrityError):
    """The audit log cannot be opened, recovered or written."""


def lock_chain(directory: Path, wanted: str | None, skip: list[str] | None = None) -> tuple[str, int]:
    """Lock a chain directory for this process; returns (chain id, lock fd). Without ``wanted``,
    the first ``chain-N`` not in ``skip`` that no other live process holds (a restart continues it)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = [wanted] if wanted else [f"chain-{i}" for i in range(MAX_CHAINS) if f"chain-{i}" not in (skip or ())]
    for name in names:
        chain_dir = directory / name
        chain_dir.mkdir(exist_ok=True, mode=0o700)
        fd = os.open(chain_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) and wanted is None:
                continue
            raise AuditError(f"audit chain {name!r} in {directory} is locked by another process") from exc
        return name, fd
    raise AuditError(f"no free audit chain in {directory}: {MAX_CHAINS} processes hold one each")


def first_line(path: Path) -> bytes | None:
    """The first complete line of a segment, newline included (None when empty, torn, over-long, or
    not a regular file, or gone: retention then refuses, and a FIFO is never opened to block the writer)."""
    try:
        fh = open_regular(path)
    except (NotRegularFile, FileNotFoundError):  # (FileNotFoundError: gone, or a link to nothing)
        return None
    with fh:
        line = next(fmt.read_lines(fh), None)
    return line if isinstance(line, bytes) and line.endswith(b"\n") else None


def first_record(path: Path) -> dict[str, Any] | None:
    """The parsed first record of a segment (None when it is empty, torn or not a record)."""
    line = first_line(path)
    if line is None:
        return None
    try:
        return fmt.parse_line(line[:-1])
    except fmt.StrictJSONError:
        return None


def last_line(path: Path) -> bytes | None:
    """The last line of a file, newline included, read backwards in bounded chunks (None when the
    file is empty, does not end with a newline, its last line is over-long, or it is not a regular file or gone)."""
    try:
        fh = open_regular(path)
    except (NotRegularFile, FileNotFoundError):  # (FileNotFoundError: gone, or a link to nothing)
        return None
    with fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return None
        fh.seek(end - 1)
        if fh.read(1) != b"\n":
            return None
        pos, tail = end - 1, b""  # tail: the bytes before the final newline read so far
        while pos > 0:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
            newline = tail.rfind(b"\n")
            if newline >= 0:
                return tail[newline + 1:] + b"\n"
            if len(tail) >= fmt.MAX_LINE:
                return None
        return tail + b"\n"


@dataclass
class ChainState:
    """Where the chain stands: what the next record links to, the Merkle frontier, and what
    retention needs to know about the segments."""

    seq: int = 0
    prev: str = fmt.GENESIS
    tree: CompactTree = field(default_factory=CompactTree)
    segment_newest: float = 0.0
    """The newest record timestamp in the current segment (retention reads it at rotation)."""
    sealed: bool = False
    """The last records are ``close`` and its checkpoint: nothing genuine follows until a new life."""
    rotations: dict[str, tuple[int, str, float]] = field(default_factory=dict)
    """Per segment, the rotation record that opens it: (seq, hash of its line, newest timestamp of
    the segment before). Retention trusts only these, never what a file says now."""
    pending_removal: list[str] = field(default_factory=list)
    """Segments a signed retention record removes and that may still be on disk (a crash between
    signing it and deleting them): the next start finishes the removal."""
    leaf_sink: Callable[[bytes], None] | None = None
    """Also given each leaf hash (the writer's Merkle tiles); never raises."""
    _kinds: tuple[str, str] = ("", "")

    def advance(self, line: bytes, unix: float, kind: str = "", digest: str | None = None) -> None:
        """Take the next record (``digest``: its :func:`fmt.line_hash`, when the caller has it)."""
        leaf = leaf_hash(line)
        self.tree.append_leaf_hash(leaf)
        if self.leaf_sink is not None:
            self.leaf_sink(leaf)
        self.prev, self.seq = digest or fmt.line_hash(line), self.seq + 1
        self.segment_newest = max(self.segment_newest, unix)
        self._kinds = (self._kinds[1], kind)
        self.sealed = self._kinds == (fmt.KIND_CLOSE, fmt.KIND_CHECKPOINT)


class UntrustedChain(AuditError):
    """The chain on disk is not one this writer can vouch for: continuing it would sign records
    that someone without the key may have written."""


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def save_state(chain_dir: Path, state: ChainState, segment: str, offset: int, signer: Signer | None) -> None:
    """Where recovery starts next time instead of reading every segment again; signed with the
    checkpoint key, so the next start trusts it only if this writer wrote it."""
    data: dict[str, Any] = {
        "size": state.tree.size, "frontier": state.tree.state(), "seq": state.seq, "prev": state.prev,
        "segment": segment, "offset": offset, "segment_newest": state.segment_newest, "sealed": state.sealed,
        "rotations": {name: list(info) for name, info in state.rotations.items()},
        "pending_removal": state.pending_removal}
    if signer is not None:
        data["signature"] = fmt.b64(signer.key.sign(_canonical(data)))
    write_atomic(chain_dir / STATE_FILE, json.dumps(data).encode())


def _load_state(chain_dir: Path, names: list[str], signer: Signer | None) -> tuple[ChainState, int, int] | None:
    """(state, index of the segment to scan from, byte offset in it), or None when there is no
    saved state this writer can trust (missing, unreadable, or, with a key, not signed by it)."""
    try:
        saved = json.loads(read_regular(chain_dir / STATE_FILE, 1 << 24))  # (a FIFO would block)
        if signer is not None:
            signature = base64.b64decode(saved.pop("signature"), validate=True)
            signer.key.public_key().verify(signature, _canonical(saved))
        start = names.index(saved["segment"])
        state = ChainState(int(saved["seq"]), str(saved["prev"]),
                           CompactTree.from_state(int(saved["size"]), saved["frontier"]),
                           float(saved["segment_newest"]), bool(saved["sealed"]),
                           {str(k): (int(v[0]), str(v[1]), float(v[2])) for k, v in saved["rotations"].items()},
                           [str(x) for x in saved["pending_removal"]])
        if state.tree.size != state.seq:
            return None
        return state, start, int(saved["offset"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError, binascii.Error, InvalidSignature):
        return None


def newest_signed_note(notes_dir: Path, signer: Signer) -> Checkpoint | None:
    """The largest checkpoint in ``notes_dir`` that this writer's key signed."""
    if not notes_dir.is_dir():
        return None
    for path in sorted(notes_dir.glob("[0-9]*.note"), reverse=True)[:10_000]:
        try:
            text = read_regular(path, 65536).decode("utf-8")  # (a FIFO named like a note would block)
            body, _ = open_note(text, [signer.verifier])
            return Checkpoint.parse(body)
        except (OSError, UnicodeDecodeError, NoteError):
            continue
    return None


def recover(chain_dir: Path, segments: list[Path], signer: Signer | None = None,
            notes_dir: Path | None = None, now: float | None = None) -> tuple[ChainState, dict[str, Any] | None]:
    """Rebuild the chain state from disk, trusting only what this writer signed.

    The anchor is the saved state when this writer's key signed it, else (a full scan) the newest
    checkpoint note it signed, whose root the records must reproduce. Records after the anchor are
    adopted only if the chain was not sealed there (a crash tail), and the ``recovery`` record says
    how many; after a sealed end, or with no anchor for a chain that has records, the chain is
    refused (:class:`UntrustedChain`). Without a key nothing can be authenticated and everything
    that links is adopted; retention never trusts an adopted record to make anything older than it
    is (a rotation record in the adopted tail counts as written ``now``).

    A torn or NUL-filled tail of the last segment (a crash in the middle of a
    write) is moved to a quarantine file and reported; any other damage stops the writer."""
    names = [p.name for p in segments]
    loaded = _load_state(chain_dir, names, signer)
    note: Checkpoint | None = None
    if loaded is not None:
        state, start, offset = loaded
        anchor: int | None = state.tree.size if signer is not None else None
    else:
        state, start, offset = ChainState(), 0, 0
        anchor = None
        if signer is not None and any(segment_size(chain_dir, p) for p in segments):
            note = newest_signed_note(notes_dir or chain_dir, signer)
            if note is None:
                raise UntrustedChain(f"{chain_dir} has records but no checkpoint signed by this writer's key")
            anchor = note.size
    info: dict[str, Any] = {}
    adopted_from: int | None = None
    for i, path in enumerate(segments[start:], start=start):
        last = i == len(segments) - 1
        fresh_segment = i != start
        good = offset
        try:  # one open for the reads, the size and a cut: the file read is the file cut (the last
            # one, the only one cut, open to write too; never created). Not through a link: a torn
            # tail is copied into the folder and cut, which must not reach a file outside it
            fh = open_regular(path, follow=False, writable=last)
        except OSError as exc:  # a FIFO would block the host's start for good
            if not refused(exc):
                raise
            raise unreadable(chain_dir, path, exc) from None
        with fh:
            fh.seek(offset)
            for line in fmt.read_lines(fh):
                if not isinstance(line, bytes) or not line.endswith(b"\n") or b"\x00" in line:
                    break
                try:
                    record = fmt.parse_line(line[:-1])
                except fmt.StrictJSONError:
                    break
                if record.get("seq") != state.seq or record.get("prev") != state.prev:
                    break
                if anchor is not None and state.tree.size == anchor and adopted_from is None:
                    _at_anchor(chain_dir, state, note, more=True)
                    adopted_from = state.seq
                if fresh_segment:
                    state.segment_newest, fresh_segment = 0.0, False
                kind = str(record.get("kind"))
                unix = fmt.parse_ts(record.get("ts")) or 0.0
                signed = anchor is None or adopted_from is None  # covered by what this writer signed
                if kind == fmt.KIND_ROTATION:
                    newest = fmt.parse_ts(record.get("prev_segment_newest_ts")) or 0.0
                    if not signed:
                        newest = max(newest, time.time() if now is None else now)
                    state.rotations[path.name] = (state.seq, fmt.line_hash(line), newest)
                elif kind == fmt.KIND_RETENTION and signed and isinstance(record.get("segments"), list):
                    state.pending_removal = [str(n) for n in record["segments"]][:MAX_CHAINS * 64]
                state.advance(line, unix, kind)
                good += len(line)
            offset = 0
            if good == os.fstat(fh.fileno()).st_size:
                continue
            fh.seek(good)
            tail = fh.read(fmt.MAX_LINE + 1)
            if not last or len(tail) > fmt.MAX_LINE or not _is_torn_tail(tail):
                raise AuditError(
                    f"audit log damaged in {path} at byte {good} (not a torn tail): run "
                    f"`mcp-comply audit verify {chain_dir.parent}`; the writer will not continue this chain")
            quarantine = path.with_name(f"{path.name}.torn-{int(time.time())}-{os.getpid()}")
            write_atomic(quarantine, tail)
            os.ftruncate(fh.fileno(), good)
            os.fsync(fh.fileno())
        fsync_dir(chain_dir)
        info.update(segment=path.name, discarded_bytes=len(tail), discarded_sha256=fmt.line_hash(tail),
                    quarantine=quarantine.name, nul_filled=tail.strip(b"\x00") == b"")
        break
    if anchor is not None:
        if adopted_from is None and state.tree.size == anchor:
            _at_anchor(chain_dir, state, note, more=False)
        elif adopted_from is None:
            raise UntrustedChain(f"{chain_dir} holds {state.tree.size} linked records, fewer than its newest "
                                 f"signed checkpoint ({anchor}): it was truncated")
        elif state.seq > adopted_from:
            info["adopted_unsigned"] = {"from_seq": adopted_from, "count": state.seq - adopted_from}
    return state, info or None


def _at_anchor(chain_dir: Path, state: ChainState, note: Checkpoint | None, *, more: bool) -> None:
    """Called when the scan reaches the signed size: the tree must be the signed one, and a sealed
    chain must end here (``more``: records follow)."""
    if note is not None and state.tree.root() != note.root:
        raise UntrustedChain(f"{chain_dir}: the records do not reproduce the newest signed checkpoint "
                             f"(size {note.size}): they were changed")
    if more and state.sealed:
        raise UntrustedChain(f"{chain_dir}: records follow the signed, sealed end of the chain; nothing "
                             "genuine can follow a close before a new start, so they are not this writer's")


def damaged(chain_dir: Path, path: Path, why: str) -> AuditError:
    """The writer's refusal of a segment it cannot continue, naming it, why, and what to run."""
    return AuditError(f"audit log damaged: {path} {why}: run `mcp-comply audit verify {chain_dir.parent}`; the "
                      "writer will not continue this chain")


def unreadable(chain_dir: Path, path: Path, exc: OSError) -> AuditError:
    """:func:`damaged` for a listed segment that could not be opened or looked at: not a regular file
    (a FIFO, which would block the host's start for good, a link, to nothing or not...), or gone. The
    writer holds the chain's lock and is the only one that removes its segments (retention), so a
    segment gone while it starts was removed by someone else."""
    kind = getattr(exc, "kind", None)
    if kind is None and exc.errno == errno.ELOOP:  # opened without following: a link, to anything
        kind = "a link" if path.exists() else "a link to nothing"
    kind = kind or not_regular(path)
    if kind is not None:
        return damaged(chain_dir, path, f"is {kind}, not a segment the writer wrote")
    return damaged(chain_dir, path, "vanished while the writer read the chain (it holds the chain's lock: nothing "
                   "else removes its segments)")


def segment_size(chain_dir: Path, path: Path) -> int:
    """A listed segment's size; :func:`unreadable` when it is not a regular file or is gone."""
    try:
        with open_regular(path, follow=False) as fh:  # (not a stat: a link, a FIFO are named as such)
            return os.fstat(fh.fileno()).st_size
    except OSError as exc:
        if not refused(exc):
            raise
        raise unreadable(chain_dir, path, exc) from None


def refused(exc: OSError) -> bool:
    """Whether an open of a listed segment failed for what is there (:func:`unreadable` names it): not
    a regular file, a link (opened without following), or nothing; not for permissions and the like."""
    return isinstance(exc, NotRegularFile | FileNotFoundError) or exc.errno == errno.ELOOP


def _is_torn_tail(tail: bytes) -> bool:
    """A crash leaves at most one incomplete line, possibly NUL-filled (delayed allocation)."""
    return b"\n" not in tail.rstrip(b"\x00")
