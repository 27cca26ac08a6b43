"""The audit writer: one thread per process that serialises, chains, writes, commits and
checkpoints; the request path only enqueues.

    writer = AuditWriter(WriterConfig(directory=Path("/var/log/mcp-audit")))
    writer.submit("call", {...})      # from the request path: never blocks
    writer.close()                    # flush, final checkpoint, close record
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_comply._log import get_logger
from mcp_comply.audit import _format as fmt
from mcp_comply.audit.merkle import CompactTree, leaf_hash
from mcp_comply.audit.note import Checkpoint, Signer
from mcp_comply.exceptions import MCPComplyError

_log = get_logger()

Waiter = Callable[[bool], None]
_STATE_FILE = "state.json"
_LOCK_FILE = ".lock"
_MAX_CHAINS = 1024
_CLOCK_JUMP_S = 2.0
_WAKE_AT = 1024


class AuditError(MCPComplyError):
    """The audit log cannot be opened or written."""


@dataclass
class WriterConfig:
    directory: Path
    checkpoint_dir: Path | None = None
    """Where signed checkpoints go (ship it off-host); default ``<directory>/checkpoints``."""
    chain: str | None = None
    """Chain id; default the first ``chain-N`` no other live process holds (a restart continues it)."""
    fsync: Literal["always", "batch", "never"] = "batch"
    batch_window_s: float = 0.010
    on_failure: Literal["fail-open", "fail-closed"] = "fail-open"
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 60.0
    max_segment_bytes: int = 64 * 1024 * 1024
    max_segment_age_s: float = 24 * 3600.0
    retention_days: float = 183.0
    queue_max: int = 65536
    signer: Signer | None = None
    origin: str | None = None
    open_info: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    on_durable: Callable[[int], None] | None = None
    on_error: Callable[[int, str], None] | None = None
    on_checkpoint: Callable[[float], None] | None = None


class _Item:
    __slots__ = ("body", "kind", "unix", "waiter")

    def __init__(self, kind: str, body: dict[str, Any] | Callable[[], dict[str, Any]], unix: float,
                 waiter: Waiter | None) -> None:
        self.kind = kind
        self.body = body
        self.unix = unix
        self.waiter = waiter


_STOP = object()


def choose_chain(directory: Path, wanted: str | None) -> tuple[str, int]:
    """Lock a chain directory for this process; returns (chain id, lock fd)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    names = [wanted] if wanted else [f"chain-{i}" for i in range(_MAX_CHAINS)]
    for name in names:
        chain_dir = directory / name
        chain_dir.mkdir(exist_ok=True, mode=0o700)
        fd = os.open(chain_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) and wanted is None:
                continue
            raise AuditError(f"audit chain {name!r} in {directory} is locked by another process") from exc
        return name, fd
    raise AuditError(f"no free audit chain in {directory}: {_MAX_CHAINS} processes hold one each")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


class AuditWriter:
    """Owns one chain: its lock, its segments, its Merkle tree and its checkpoints."""

    def __init__(self, config: WriterConfig) -> None:
        self.config = config
        self.directory = config.directory
        self.chain, self._lock_fd = choose_chain(self.directory, config.chain)
        self.chain_dir = self.directory / self.chain
        self.checkpoint_dir = (config.checkpoint_dir or self.directory / "checkpoints") / self.chain
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.origin = config.origin or f"mcp-comply/{socket.gethostname()}/{self.chain}"
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self.healthy = True
        self.broken_reason: str | None = None
        self.dropped = 0
        self._gap_since: float | None = None
        self._gap_reason: str | None = None
        self._closed = False
        self._tree = CompactTree()
        self.seq = 0
        self.prev = fmt.GENESIS
        self._segment_index = 0
        self._segment_fd = -1
        self._segment_bytes = 0
        self._segment_opened = 0.0
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._last_sync = time.monotonic()
        self._dirty = False
        self._recovering = False
        self._last_wall = config.clock()
        self._last_mono = time.monotonic()
        try:
            self._recover_and_open()
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._thread = threading.Thread(target=self._run, name=f"mcp-comply-audit-{self.chain}", daemon=True)
        self._thread.start()

    # ---- request path -------------------------------------------------------------------------
    def submit(self, kind: str, body: dict[str, Any] | Callable[[], dict[str, Any]],
               waiter: Waiter | None = None) -> bool:
        """Enqueue a record (a body, or a function the writer thread calls to build it); False,
        and the waiter told so, when the queue is full or the writer closed.

        A deque append: atomic, lock-free, about 0.1 µs; plus waking the writer when it sleeps."""
        items = self._items
        if self._closed or len(items) >= self.config.queue_max:
            if not self._closed:
                self.dropped += 1
                if self._gap_since is None:
                    self._gap_since = self.config.clock()
                if self.config.on_error is not None:
                    self.config.on_error(1, "queue full")
            if waiter is not None:
                waiter(False)
            return False
        items.append(_Item(kind, body, self.config.clock(), waiter))
        # Wake the writer when the queue was empty (it may be asleep: the batch window starts now),
        # when someone waits for durability, or when the queue runs long. Under load the queue is
        # rarely empty, so most records pay only the append.
        if waiter is not None:
            self._urgent.set()  # someone waits for durability: no batching delay
        if (len(items) == 1 or waiter is not None or len(items) > _WAKE_AT) and not self._wake.is_set():
            self._wake.set()
        return True

    @property
    def queue_depth(self) -> int:
        return len(self._items)

    def readiness(self) -> tuple[bool, str]:
        if not self.healthy:
            return False, f"audit writer unhealthy: {self.broken_reason}"
        if len(self._items) > 0.9 * self.config.queue_max:
            return False, "audit queue saturated"
        return True, f"chain {self.chain}, {self.seq} records"

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written and committed."""
        done = threading.Event()
        self._items.append(("flush", done))
        self._urgent.set()
        self._wake.set()
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._items.append(_STOP)
        self._urgent.set()
        self._wake.set()
        self._thread.join(timeout)

    # ---- writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        items = self._items
        while True:
            if not items:
                self._wake.wait(self._next_wakeup())
                self._wake.clear()
            if not items:
                self._housekeeping(force_sync=True)
                continue
            if self.config.fsync != "always" and not self._urgent.is_set():
                # Group commit: gather what arrives within the window, so producers rarely have to
                # wake this thread (the queue stays non-empty meanwhile); a waiter ends it early.
                self._urgent.wait(self.config.batch_window_s)
            self._urgent.clear()
            batch: list[_Item] = []
            flushes: list[threading.Event] = []
            stop = False
            while items and len(batch) < 4096:
                item = items.popleft()
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, tuple):
                    flushes.append(item[1])
                else:
                    batch.append(item)
            try:
                self._write_batch(batch)
                self._housekeeping(force_sync=bool(flushes) or stop)
            except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
                self._fail(f"unexpected writer error: {type(exc).__name__}: {exc}", batch)
            for event in flushes:
                event.set()
            if stop:
                self._shutdown()
                return

    def _next_wakeup(self) -> float:
        waits = [max(0.0, self.config.checkpoint_interval_s - (time.monotonic() - self._last_checkpoint))]
        if self._dirty and self.config.fsync == "batch":
            waits.append(max(0.0, self.config.batch_window_s - (time.monotonic() - self._last_sync)))
        return max(0.001, min(waits))

    def _housekeeping(self, *, force_sync: bool) -> None:
        if self._dirty and (force_sync or time.monotonic() - self._last_sync >= self.config.batch_window_s):
            self._sync()
        if self._since_checkpoint and (
            self._since_checkpoint >= self.config.checkpoint_every
            or time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval_s
        ):
            self._checkpoint()
        if (self._segment_bytes >= self.config.max_segment_bytes
                or time.time() - self._segment_opened >= self.config.max_segment_age_s):
            self._rotate("size" if self._segment_bytes >= self.config.max_segment_bytes else "age")

    def _encode(self, kind: str, body: dict[str, Any] | Callable[[], dict[str, Any]], unix: float, seq: int,
                prev: str) -> bytes:
        if callable(body):
            body = body()
        return fmt.encode(seq, fmt.timestamp(unix), self.chain, kind, prev, body)

    def _append_lines(self, items: list[tuple[str, Any, float]]) -> bool:
        """Serialise, chain and write; commit chain state only if the write succeeded."""
        seq, prev = self.seq, self.prev
        lines = []
        for kind, body, unix in items:
            line = self._encode(kind, body, unix, seq, prev)
            lines.append(line)
            prev = fmt.line_hash(line)
            seq += 1
        data = b"".join(lines)
        start = self._segment_bytes
        try:
            written = 0
            while written < len(data):
                written += os.write(self._segment_fd, data[written:])
        except OSError as exc:
            self._undo_partial(start, exc)
            return False
        for line in lines:
            self._tree.append_leaf_hash(leaf_hash(line))
        self.seq, self.prev = seq, prev
        self._segment_bytes += len(data)
        self._since_checkpoint += len(lines)
        self._dirty = True
        return True

    def _undo_partial(self, offset: int, exc: OSError) -> None:
        reason = f"write failed: {exc.strerror or exc}"
        try:
            os.ftruncate(self._segment_fd, offset)
        except OSError as trunc_exc:
            self._break(f"{reason}; and the partial record could not be removed: {trunc_exc.strerror}")
            return
        self.healthy = False
        self.broken_reason = reason

    def _write_batch(self, batch: list[_Item]) -> None:
        if not batch:
            return
        self._note_clock()
        # The gap record goes in once writing works again (a healthy batch), not at every failed try.
        if self._gap_since is not None and self.dropped and self.healthy:
            gap = {"dropped": self.dropped, "since": fmt.timestamp(self._gap_since),
                   "reason": self._gap_reason or "queue full"}
            if self._append_lines([(fmt.KIND_GAP, gap, self.config.clock())]):
                self.dropped, self._gap_since, self._gap_reason = 0, None, None
        if self.config.fsync == "always":
            for item in batch:
                ok = self._append_lines([(item.kind, item.body, item.unix)]) and self._sync()
                self._settle([item], ok)
            return
        ok = self._append_lines([(i.kind, i.body, i.unix) for i in batch])
        if ok and any(i.waiter is not None for i in batch):
            ok = self._sync()  # someone waits for durability: commit now (group commit)
        self._settle(batch, ok)

    def _settle(self, batch: list[_Item], ok: bool) -> None:
        if ok:
            self.healthy, self.broken_reason = True, None
            if self.config.on_durable is not None:
                self.config.on_durable(len(batch))
        else:
            self.dropped += len(batch)
            if self._gap_since is None:
                self._gap_since = batch[0].unix
                # an fsync failure may have kept the bytes on disk: "not durable", not "absent"
                self._gap_reason = self.broken_reason
            if self.config.on_error is not None:
                self.config.on_error(len(batch), self.broken_reason or "write failed")
        for item in batch:
            if item.waiter is not None:
                try:
                    item.waiter(ok)
                except Exception:  # noqa: BLE001 - a waiter's trouble is not the writer's
                    _log.warning("mcp_comply_audit_waiter_failed")

    def _sync(self) -> bool:
        if self.config.fsync == "never":
            self._dirty = False
            return True
        try:
            os.fsync(self._segment_fd)
        except OSError as exc:
            # fsyncgate: after a failed fsync the kernel may have dropped the dirty pages and cleared
            # the error. Never retry as success: abandon this segment and continue in a new one.
            self._dirty = False
            self.healthy = False
            self.broken_reason = f"fsync failed: {exc.strerror or exc}"
            _log.error("mcp_comply_audit_fsync_failed", chain=self.chain, error=str(exc))
            if self._recovering:  # the new segment failed too: stop here rather than loop
                self._break(self.broken_reason)
                return False
            self._recovering = True
            try:
                self._rotate("fsync-failed", sync_old=False)
            except OSError:
                self._break(self.broken_reason)
            finally:
                self._recovering = False
            return False
        self._dirty = False
        self._last_sync = time.monotonic()
        return True

    def _break(self, reason: str) -> None:
        self.healthy = False
        self.broken_reason = reason
        _log.error("mcp_comply_audit_broken", chain=self.chain, reason=reason)

    def _fail(self, reason: str, batch: list[_Item]) -> None:
        self._break(reason)
        self._settle(batch, False)

    def _note_clock(self) -> None:
        wall, mono = self.config.clock(), time.monotonic()
        drift = (wall - self._last_wall) - (mono - self._last_mono)
        self._last_wall, self._last_mono = wall, mono
        if abs(drift) >= _CLOCK_JUMP_S:
            self._append_lines([(fmt.KIND_CLOCK_JUMP, {"jump_s": round(drift, 6)}, wall)])

    def _shutdown(self) -> None:
        """Final checkpoint, a close record, and the lock released."""
        try:
            self._append_lines([(fmt.KIND_CLOSE, {"records": self.seq, "dropped": self.dropped},
                                 self.config.clock())])
            self._checkpoint()
            # Seal: one more note that also covers the final checkpoint record, so every byte on
            # disk is committed to by a signed checkpoint.
            self._write_note()
        except OSError as exc:
            self._break(f"close failed: {exc.strerror or exc}")
        finally:
            for fd in (self._segment_fd, self._lock_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)

    # ---- checkpoints, rotation, recovery ------------------------------------------------------
    def _write_note(self) -> tuple[str, str] | None:
        """Sign the current tree into ``<size>.note`` and ``latest.note``; (file name, body)."""
        if not self._sync():
            return None
        body = Checkpoint(self.origin, self._tree.size, self._tree.root()).body()
        signer = self.config.signer
        note = signer.sign(body) if signer is not None else body
        name = f"{self._tree.size:012d}.note"
        try:
            write_atomic(self.checkpoint_dir / name, note.encode())
            write_atomic(self.checkpoint_dir / "latest.note", note.encode())
        except OSError as exc:
            self._break(f"checkpoint could not be written: {exc.strerror or exc}")
            return None
        return name, body

    def _checkpoint(self) -> None:
        written = self._write_note()
        if written is None:
            return
        name, body = written
        size, signer = self._tree.size, self.config.signer
        record = {"size": size, "root": body.split("\n")[2], "origin": self.origin,
                  "signed_by": signer.name if signer is not None else None, "file": name}
        if self._append_lines([(fmt.KIND_CHECKPOINT, record, self.config.clock())]):
            self._sync()
            self._save_state()
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        if self.config.on_checkpoint is not None:
            self.config.on_checkpoint(self.config.clock())

    def _save_state(self) -> None:
        state = {"size": self._tree.size, "frontier": self._tree.state(), "seq": self.seq, "prev": self.prev,
                 "segment": fmt.segment_name(self._segment_index), "offset": self._segment_bytes}
        try:
            write_atomic(self.chain_dir / _STATE_FILE, json.dumps(state).encode())
        except OSError as exc:
            _log.warning("mcp_comply_audit_state_not_saved", error=str(exc))

    def _open_segment(self, index: int) -> None:
        path = self.chain_dir / fmt.segment_name(index)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._segment_fd = fd
        self._segment_index = index
        self._segment_bytes = os.fstat(fd).st_size
        self._segment_opened = time.time()
        fsync_dir(self.chain_dir)

    def _rotate(self, reason: str, *, sync_old: bool = True) -> None:
        old_name, old_bytes, old_fd = fmt.segment_name(self._segment_index), self._segment_bytes, self._segment_fd
        if sync_old:
            self._checkpoint()
        self._open_segment(self._segment_index + 1)
        os.close(old_fd)
        # The Merkle frontier before this record lets a verifier resume here once retention has
        # pruned the segments before it.
        body = {"reason": reason, "prev_segment": old_name, "prev_segment_bytes": old_bytes,
                "tree_size": self._tree.size, "frontier": self._tree.state()}
        self._append_lines([(fmt.KIND_ROTATION, body, self.config.clock())])
        if self.config.fsync != "never":
            self._sync()
        self._prune()

    def _prune(self) -> None:
        """Retention: delete whole segments older than the policy allows, leaving a marker."""
        horizon = time.time() - self.config.retention_days * 86400
        segments = fmt.segments(self.chain_dir)
        doomed = [p for p in segments[:-1] if p.stat().st_mtime < horizon]
        if not doomed:
            return
        last = doomed[-1].read_bytes().splitlines(keepends=True)[-1]
        last_record = fmt.parse_line(last.rstrip(b"\n"))
        marker = {"pruned_segments": [p.name for p in doomed], "pruned_below_seq": last_record["seq"] + 1,
                  "head": fmt.line_hash(last), "retention_days": self.config.retention_days}
        if self._append_lines([(fmt.KIND_RETENTION, marker, self.config.clock())]) and self._sync():
            for path in doomed:
                path.unlink()
            fsync_dir(self.chain_dir)

    def _recover_and_open(self) -> None:
        segments = fmt.segments(self.chain_dir)
        recovery: dict[str, Any] | None = None
        if segments:
            recovery = self._scan(segments)
            self._open_segment(fmt.segment_index(segments[-1].name) or 0)
        else:
            self._open_segment(1)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "fsync": self.config.fsync,
                "on_failure": self.config.on_failure, "origin": self.origin,
                "signing_key": self.config.signer.verifier.encode() if self.config.signer else None,
                **self.config.open_info}
        items: list[tuple[str, dict[str, Any], float]] = []
        if recovery is not None:
            items.append((fmt.KIND_RECOVERY, recovery, self.config.clock()))
        items.append((fmt.KIND_OPEN, info, self.config.clock()))
        if not self._append_lines(items) or not self._sync():
            raise AuditError(f"cannot write to the audit log in {self.chain_dir}: {self.broken_reason}")
        if recovery is not None:
            _log.warning("mcp_comply_audit_recovered", chain=self.chain, **recovery)

    def _scan(self, segments: list[Path]) -> dict[str, Any] | None:
        """Rebuild chain state from disk; cut a torn or NUL-filled tail into a quarantine file."""
        start_index, offset = 0, 0
        state_path = self.chain_dir / _STATE_FILE
        try:
            state = json.loads(state_path.read_text())
            names = [p.name for p in segments]
            if state["segment"] in names:
                self._tree = CompactTree.from_state(state["size"], state["frontier"])
                self.seq, self.prev = state["seq"], state["prev"]
                start_index, offset = names.index(state["segment"]), state["offset"]
        except (OSError, ValueError, KeyError, TypeError):
            self._tree, self.seq, self.prev = CompactTree(), 0, fmt.GENESIS
        for i, path in enumerate(segments[start_index:], start=start_index):
            last = i == len(segments) - 1
            with path.open("rb") as fh:
                fh.seek(offset)
                good = offset
                for line in fh:
                    if not line.endswith(b"\n") or b"\x00" in line:
                        break
                    try:
                        record = fmt.parse_line(line[:-1])
                    except ValueError:
                        break
                    if record.get("seq") != self.seq or record.get("prev") != self.prev:
                        break
                    self._tree.append_leaf_hash(leaf_hash(line))
                    self.prev, self.seq = fmt.line_hash(line), self.seq + 1
                    good += len(line)
            offset = 0
            size = path.stat().st_size
            if good == size:
                continue
            tail = path.read_bytes()[good:]
            if not last or not _is_torn_tail(tail):
                raise AuditError(
                    f"audit log damaged in {path} at byte {good} (not a torn tail): run "
                    f"`mcp-comply audit verify {self.directory}`; the writer will not continue this chain")
            quarantine = path.with_name(f"{path.name}.torn-{int(time.time())}-{os.getpid()}")
            write_atomic(quarantine, tail)
            with path.open("r+b") as fh:
                fh.truncate(good)
                os.fsync(fh.fileno())
            return {"segment": path.name, "discarded_bytes": len(tail), "discarded_sha256": fmt.line_hash(tail),
                    "quarantine": quarantine.name, "nul_filled": tail.strip(b"\x00") == b""}
        return None


def _is_torn_tail(tail: bytes) -> bool:
    """A crash leaves at most one incomplete line, possibly NUL-filled (delayed allocation)."""
    return b"\n" not in tail.rstrip(b"\x00")


@dataclass(frozen=True)
class MetricsHooks:
    on_durable: Callable[[int], None]
    on_error: Callable[[int, str], None]
    on_checkpoint: Callable[[float], None]


def audit_metrics_hooks(metrics: Any) -> MetricsHooks:
    """Config callbacks that feed the ``mcp_audit_*`` metrics of a :class:`Metrics`."""
    def on_error(count: int, _reason: str) -> None:
        metrics.audit_write_errors.inc(count)

    return MetricsHooks(metrics.audit_records.inc, on_error, metrics.audit_last_checkpoint.set)


__all__ = ["AuditError", "AuditWriter", "WriterConfig", "audit_metrics_hooks"]
