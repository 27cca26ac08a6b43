"""Segment files of one chain: the lock, reading first and last records, the saved chain state, and
recovery after a crash (a torn tail is cut off into a quarantine file)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_comply._files import fsync_dir, write_atomic
from mcp_comply.audit import _format as fmt
from mcp_comply.audit.merkle import CompactTree, leaf_hash
from mcp_comply.exceptions import IntegrityError

STATE_FILE = "state.json"
LOCK_FILE = ".lock"
MAX_CHAINS = 1024


class AuditError(IntegrityError):
    """The audit log cannot be opened, recovered or written."""


def lock_chain(directory: Path, wanted: str | None) -> tuple[str, int]:
    """Lock a chain directory for this process; returns (chain id, lock fd). Without ``wanted``,
    the first ``chain-N`` no other live process holds (a restart continues it)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = [wanted] if wanted else [f"chain-{i}" for i in range(MAX_CHAINS)]
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


def first_record(path: Path) -> dict[str, Any] | None:
    """The parsed first record of a segment (None when it is empty, torn or not a record)."""
    with path.open("rb") as fh:
        line = next(fmt.read_lines(fh), None)
    if not isinstance(line, bytes) or not line.endswith(b"\n"):
        return None
    try:
        return fmt.parse_line(line[:-1])
    except fmt.StrictJSONError:
        return None


def last_line(path: Path) -> bytes | None:
    """The last line of a file, newline included, read backwards in bounded chunks (None when the
    file is empty, does not end with a newline, or its last line is over-long)."""
    with path.open("rb") as fh:
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
    """Where the chain stands: what the next record links to and the Merkle frontier."""

    seq: int = 0
    prev: str = fmt.GENESIS
    tree: CompactTree = field(default_factory=CompactTree)
    segment_newest: float = 0.0
    """The newest record timestamp in the current segment (retention reads it at rotation)."""

    def advance(self, line: bytes, unix: float) -> None:
        self.tree.append_leaf_hash(leaf_hash(line))
        self.prev, self.seq = fmt.line_hash(line), self.seq + 1
        self.segment_newest = max(self.segment_newest, unix)


def save_state(chain_dir: Path, state: ChainState, segment: str, offset: int) -> None:
    """Where recovery can start next time instead of reading every segment again."""
    data = {"size": state.tree.size, "frontier": state.tree.state(), "seq": state.seq, "prev": state.prev,
            "segment": segment, "offset": offset, "segment_newest": state.segment_newest}
    write_atomic(chain_dir / STATE_FILE, json.dumps(data).encode())


def _load_state(chain_dir: Path, names: list[str]) -> tuple[ChainState, int, int]:
    """(state, index of the segment to scan from, byte offset in it); a fresh start when the saved
    state is missing or unusable (it is only a hint: the scan checks every link after it)."""
    try:
        saved = json.loads((chain_dir / STATE_FILE).read_text())
        start = names.index(saved["segment"])
        state = ChainState(int(saved["seq"]), str(saved["prev"]),
                           CompactTree.from_state(int(saved["size"]), saved["frontier"]),
                           float(saved.get("segment_newest", 0.0)))
        return state, start, int(saved["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        return ChainState(), 0, 0


def recover(chain_dir: Path, segments: list[Path]) -> tuple[ChainState, dict[str, Any] | None]:
    """Rebuild the chain state from disk. A torn or NUL-filled tail of the last segment (a crash in
    the middle of a write) is moved to a quarantine file and reported; any other damage stops the
    writer (it must not extend a chain it cannot vouch for)."""
    state, start, offset = _load_state(chain_dir, [p.name for p in segments])
    for i, path in enumerate(segments[start:], start=start):
        last = i == len(segments) - 1
        if i != start:
            state.segment_newest = 0.0
        good = offset
        with path.open("rb") as fh:
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
                state.advance(line, fmt.parse_ts(record.get("ts")) or 0.0)
                good += len(line)
        offset = 0
        size = path.stat().st_size
        if good == size:
            continue
        with path.open("rb") as fh:
            fh.seek(good)
            tail = fh.read(fmt.MAX_LINE + 1)
        if not last or len(tail) > fmt.MAX_LINE or not _is_torn_tail(tail):
            raise AuditError(
                f"audit log damaged in {path} at byte {good} (not a torn tail): run "
                f"`mcp-comply audit verify {chain_dir.parent}`; the writer will not continue this chain")
        quarantine = path.with_name(f"{path.name}.torn-{int(time.time())}-{os.getpid()}")
        write_atomic(quarantine, tail)
        with path.open("r+b") as fh:
            fh.truncate(good)
            os.fsync(fh.fileno())
        fsync_dir(chain_dir)
        return state, {"segment": path.name, "discarded_bytes": len(tail), "discarded_sha256": fmt.line_hash(tail),
                       "quarantine": quarantine.name, "nul_filled": tail.strip(b"\x00") == b""}
    return state, None


def _is_torn_tail(tail: bytes) -> bool:
    """A crash leaves at most one incomplete line, possibly NUL-filled (delayed allocation)."""
    return b"\n" not in tail.rstrip(b"\x00")
