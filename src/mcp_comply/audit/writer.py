"""The audit writer: one thread per process that serialises, chains, writes, commits and
checkpoints; the request path only enqueues.

    writer = AuditWriter(WriterConfig(directory=Path("/var/log/mcp-audit")))
    writer.submit("call", {...})      # from the request path: never blocks
    writer.close()                    # flush, close record, final signed checkpoint

Every life of a chain is signed: a checkpoint right after the ``open`` record (covering whatever
recovery found), then at most every ``checkpoint_interval_s`` while records arrive, after every
retention marker, and at ``close``. A checkpoint is a ``checkpoint`` record followed by a signed
note whose tree includes that record, so an idle or sealed chain has no unsigned tail.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mcp_comply._files import NotRegularFile, fsync_dir, open_append_regular
from mcp_comply._log import get_logger
from mcp_comply.audit import _format as fmt
from mcp_comply.audit import _retention
from mcp_comply.audit._checkpoints import NoteWriter, note_name
from mcp_comply.audit._segments import (
    AuditError,
    ChainState,
    UntrustedChain,
    damaged,
    lock_chain,
    recover,
    save_state,
    segment_size,
    unreadable,
)
from mcp_comply.audit.note import Signer
from mcp_comply.audit.tiles import TileWriter, open_tiles

_log = get_logger()

Waiter = Callable[[bool], None]
Body = dict[str, Any] | fmt.Members | Callable[[], dict[str, Any] | fmt.Members]
"""A record body: a dict, its members already encoded, or a function the writer thread calls for either."""
_CLOCK_JUMP_S = 2.0
_WAKE_AT = 1024
_MAX_BATCH = 4096
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 5.0
"""A failed checkpoint or rotation is tried again after 50 ms, doubling up to 5 s."""


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
    checkpoint_interval_s: float = 5.0
    max_segment_bytes: int = 64 * 1024 * 1024
    max_segment_age_s: float = 24 * 3600.0
    retention_days: float = 184.0
    queue_max: int = 65536
    signer: Signer | None = None
    origin: str | None = None
    """The whole origin of this chain's checkpoints (overrides ``origin_prefix``)."""
    origin_prefix: str | None = None
    """The origin is ``<origin_prefix>/<chain>``; default prefix ``mcp-comply/<host name>``."""
    open_info: dict[str, Any] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    on_durable: Callable[[int], None] | None = None
    on_error: Callable[[int, str], None] | None = None
    on_checkpoint: Callable[[float], None] | None = None


class _Item:
    __slots__ = ("body", "kind", "unix", "waiter")

    def __init__(self, kind: str, body: Body, unix: float,
                 waiter: Waiter | None) -> None:
        self.kind = kind
        self.body = body
        self.unix = unix
        self.waiter = waiter


_STOP = object()


class AuditWriter:
    """Owns one chain: its lock, its segments, its Merkle tree and its checkpoints."""

    def __init__(self, config: WriterConfig) -> None:
        self.config = config
        self.directory = config.directory
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._asleep = False
        """The writer thread sleeps idle (or is about to): a record must wake it."""
        self.healthy = True
        self.broken_reason: str | None = None
        self.dropped = 0
        self._gap_since: float | None = None
        self._gap_reason: str | None = None
        self._closed = False
        self._last_wall = config.clock()
        self._last_mono = time.monotonic()
        skipped: list[str] = []
        while True:
            self.chain, self._lock_fd = lock_chain(self.directory, config.chain, skip=skipped)
            try:
                self._open_chain()
                break
            except UntrustedChain as exc:
                os.close(self._lock_fd)
                if config.chain is not None:
                    raise
                # Not this writer's to continue: leave it as evidence (verify reports it) and write
                # the next free chain instead.
                _log.error("mcp_comply_audit_chain_not_continued", chain=self.chain, reason=str(exc))
                skipped.append(self.chain)
            except BaseException:
                os.close(self._lock_fd)
                raise
        self._thread = threading.Thread(target=self._run, name=f"mcp-comply-audit-{self.chain}", daemon=True)
        self._thread.start()

    def _open_chain(self) -> None:
        config = self.config
        self.chain_dir = self.directory / self.chain
        self.origin = config.origin or f"{config.origin_prefix or 'mcp-comply/' + socket.gethostname()}/{self.chain}"
        self._state = ChainState()
        self._segment_index = 0
        self._segment_fd = -1
        self._segment_bytes = 0
        self._segment_opened = 0.0
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._last_sync = time.monotonic()
        self._dirty = False
        self._recovering = False
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._tiles: TileWriter | None = None
        try:
            self._notes = NoteWriter((config.checkpoint_dir or self.directory / "checkpoints") / self.chain,
                                     self.origin, config.signer)
            self.checkpoint_dir = self._notes.directory
            self._recover_and_open()
        except BaseException:
            if self._segment_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._segment_fd)
            raise

    @property
    def seq(self) -> int:
        """The number of records in the chain (the next record's seq)."""
        return self._state.seq

    # ---- request path -------------------------------------------------------------------------
    def submit(self, kind: str, body: Body, waiter: Waiter | None = None) -> bool:
        """Enqueue a record (a body, or a function the writer thread calls to build it); False,
        and the waiter told so, when the queue is full or the writer closed.

        A deque append: atomic, lock-free, about 0.1 µs; plus waking the writer when it sleeps.
        The waiter, if any, is called on the writer thread once the record is durable (True) or
        cannot be made so (False)."""
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
        item = _Item(kind, body, self.config.clock(), waiter)
        items.append(item)
        if self.closed:  # read again (the property: mypy would take the check above as still holding)
            # close() ran between the check above and the append (another thread, or a SIGTERM
            # handler on this one): the record may sit behind the writer's stop, never written. Take
            # it back and refuse it; if the writer already took it, it comes before the stop and the
            # writer settles it.
            try:
                items.remove(item)
            except ValueError:
                return True
            if waiter is not None:
                waiter(False)
            return False
        # Wake the writer when it sleeps idle (the batch window starts now), when someone waits for
        # durability, or when the queue runs long. While records flow the writer comes back every
        # batch window by itself, so most records pay only the append.
        if waiter is not None:
            self._urgent.set()  # someone waits for durability: no batching delay
        if (self._asleep or waiter is not None or len(items) > _WAKE_AT) and not self._wake.is_set():
            self._wake.set()
        return True

    @property
    def queue_depth(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

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
        """Write what is queued, a ``close`` record and a final signed checkpoint; release the lock."""
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
        active = False
        while True:
            if not active:
                # Idle: sleep until a record (submit wakes an idle writer), a flush or a timer.
                self._asleep = True
                if not items:
                    self._wake.wait(self._next_wakeup())
                self._asleep = False
                self._wake.clear()
                if not items:
                    self._housekeeping_guarded(force_sync=True)
                    continue
            if self.config.fsync == "batch" and not self._urgent.is_set():
                # Group commit: gather what arrives within the window; a waiter ends it early. While
                # records keep coming the writer stays active and comes back every window by itself,
                # so producers do not have to wake it.
                self._urgent.wait(self.config.batch_window_s)
            self._urgent.clear()
            batch: list[_Item] = []
            flushes: list[threading.Event] = []
            stop = False
            while items and len(batch) < _MAX_BATCH:
                item = items.popleft()
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, tuple):
                    flushes.append(item[1])
                else:
                    batch.append(item)
            active = bool(batch) and self.config.fsync == "batch"
            try:
                self._write_batch(batch)
            except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
                self._fail(f"unexpected writer error: {type(exc).__name__}: {exc}", batch)
            # Apart: the batch is settled by now, and housekeeping's trouble is not the batch's.
            self._housekeeping_guarded(force_sync=bool(flushes) or stop or not batch)
            for event in flushes:
                event.set()
            if stop:
                self._shutdown()
                return

    def _next_wakeup(self) -> float:
        # a checkpoint or rotation that failed is not tried again before _retry_at (a full disk
        # must not make an idle writer poll)
        not_before = self._retry_at - time.monotonic()
        waits = [max(not_before, self.config.max_segment_age_s - (time.time() - self._segment_opened))]
        if self._since_checkpoint:
            waits.append(max(not_before, self.config.checkpoint_interval_s
                             - (time.monotonic() - self._last_checkpoint)))
        if self._dirty and self.config.fsync == "batch":
            waits.append(self.config.batch_window_s - (time.monotonic() - self._last_sync))
        return min(max(0.001, min(waits)), 60.0)

    def _housekeeping_guarded(self, *, force_sync: bool) -> None:
        """Housekeeping that cannot end the writer thread: a failure (the next segment cannot be
        opened, a checkpoint cannot be written) marks the writer broken and backs off."""
        try:
            self._housekeeping(force_sync=force_sync)
        except Exception as exc:  # noqa: BLE001 - the writer thread must survive anything
            self._break(f"housekeeping failed: {type(exc).__name__}: {exc}")
            self._back_off()

    def _back_off(self) -> None:
        self._retry_delay = min(max(2 * self._retry_delay, _RETRY_FIRST_S), _RETRY_MAX_S)
        self._retry_at = time.monotonic() + self._retry_delay

    def _housekeeping(self, *, force_sync: bool) -> None:
        if self._dirty and (force_sync or time.monotonic() - self._last_sync >= self.config.batch_window_s):
            self._sync()
        if time.monotonic() < self._retry_at:
            return
        if self._since_checkpoint and (
            self._since_checkpoint >= self.config.checkpoint_every
            or time.monotonic() - self._last_checkpoint >= self.config.checkpoint_interval_s
        ) and not self._checkpoint():
            self._back_off()
            return
        if (self._segment_bytes >= self.config.max_segment_bytes
                or time.time() - self._segment_opened >= self.config.max_segment_age_s):
            self._rotate("size" if self._segment_bytes >= self.config.max_segment_bytes else "age")
        self._retry_delay = 0.0  # what was due went through: the next failure backs off from the start

    def _encode(self, kind: str, body: Body, unix: float, seq: int, prev: str) -> bytes:
        ts = fmt.timestamp(unix)
        try:
            if callable(body):
                body = body()
            try:
                line = fmt.encode(seq, ts, self.chain, kind, prev, body)
            except ValueError:  # a non-finite float (a client may send NaN): kept as its name
                line = fmt.encode(seq, ts, self.chain, kind, prev, fmt.finite(body))
        except Exception as exc:  # noqa: BLE001 - one record's trouble must not cost the batch its records
            # Only the exception's type: its text might quote a value the redaction would have hidden.
            _log.error("mcp_comply_audit_record_unencodable", chain=self.chain, kind=kind, error=type(exc).__name__)
            line = fmt.encode(seq, ts, self.chain, kind, prev, {"unencodable": type(exc).__name__})
        if len(line) > fmt.MAX_LINE:
            # Readers take lines up to MAX_LINE whole; a larger record keeps its place in the chain
            # as its size and digest.
            line = fmt.encode(seq, ts, self.chain, kind, prev,
                              {"oversize_bytes": len(line), "oversize_sha256": fmt.line_hash(line)})
        return line

    def _append_lines(self, items: list[tuple[str, Any, float]]) -> bool:
        """Serialise, chain and write; commit chain state only if the write succeeded."""
        state = self._state
        seq, prev = state.seq, state.prev
        lines = []
        digests = []
        for kind, body, unix in items:
            line = self._encode(kind, body, unix, seq, prev)
            lines.append(line)
            prev = fmt.line_hash(line)
            digests.append(prev)
            seq += 1
        data = b"".join(lines)
        start = self._segment_bytes
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._segment_fd, view):]
        except OSError as exc:
            self._undo_partial(start, exc)
            return False
        for line, digest, (kind, _, unix) in zip(lines, digests, items, strict=True):
            state.advance(line, unix, kind, digest)
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
        ok = self._append_lines([(i.kind, i.body, i.unix) for i in batch])
        if ok and (self.config.fsync == "always" or any(i.waiter is not None for i in batch)):
            # Group commit: one fsync for the whole batch, before anyone is told "durable".
            ok = self._sync()
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
        """A close record and the final signed checkpoint over it; the lock released."""
        try:
            self._append_lines([(fmt.KIND_CLOSE, {"records": self.seq, "dropped": self.dropped},
                                 self.config.clock())])
            self._checkpoint()
        except OSError as exc:
            self._break(f"close failed: {exc.strerror or exc}")
        finally:
            for fd in (self._segment_fd, self._lock_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)

    # ---- checkpoints, rotation, retention, recovery -------------------------------------------
    def _checkpoint(self) -> bool:
        """A ``checkpoint`` record stating the tree before it, then the signed note over the tree
        including that record: nothing the writer wrote is left unsigned."""
        tree = self._state.tree
        signer = self.config.signer
        record = {"size": tree.size, "root": fmt.b64(tree.root()), "origin": self.origin,
                  "signed_by": signer.name if signer is not None else None, "file": note_name(tree.size + 1)}
        if not (self._append_lines([(fmt.KIND_CHECKPOINT, record, self.config.clock())]) and self._sync()):
            return False
        self._flush_tiles()
        try:
            self._notes.write(tree)
        except OSError as exc:
            self._break(f"checkpoint could not be written: {exc.strerror or exc}")
            return False
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._save_state()
        if self.config.on_checkpoint is not None:
            self.config.on_checkpoint(self.config.clock())
        return True

    def _save_state(self) -> None:
        try:
            save_state(self.chain_dir, self._state, fmt.segment_name(self._segment_index), self._segment_bytes,
                       self.config.signer)
        except OSError as exc:
            _log.warning("mcp_comply_audit_state_not_saved", error=str(exc))

    def _open_segment(self, index: int, *, existing: bool = False) -> None:
        """Open segment ``index`` to append (``existing``: the one recovery read, never created anew)."""
        path = self.chain_dir / fmt.segment_name(index)
        try:  # (a FIFO planted as the next segment blocked the writer for good)
            fd = open_append_regular(path, create=not existing)
        except OSError as exc:
            if not existing:
                raise
            if exc.errno == errno.ELOOP:  # recovery followed it; the records must not go where it points
                raise damaged(self.chain_dir, path, "is a link, not a segment the writer wrote") from None
            if isinstance(exc, NotRegularFile | FileNotFoundError):
                raise unreadable(self.chain_dir, path, exc) from None
            raise
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
        self._write_rotation(reason, old_name, old_bytes)
        if self.config.fsync != "never":
            self._sync()
        self._prune()

    def _write_rotation(self, reason: str, old_name: str, old_bytes: int) -> None:
        """The record that opens a segment: the Merkle frontier before it lets a verifier resume
        here once retention has removed what came before, and the newest timestamp of the old
        segment is what retention decides by (this writer remembers the line it wrote)."""
        state = self._state
        newest, seq = state.segment_newest, state.seq
        tree = state.tree
        body = {"reason": reason, "prev_segment": old_name, "prev_segment_bytes": old_bytes,
                "prev_segment_newest_ts": fmt.timestamp(newest), "tree_size": tree.size,
                "frontier": tree.state(), "retention_days": self.config.retention_days}
        state.segment_newest = 0.0
        if self._append_lines([(fmt.KIND_ROTATION, body, self.config.clock())]):
            state.rotations[fmt.segment_name(self._segment_index)] = (seq, state.prev, newest)

    def _prune(self) -> None:
        """Retention: a marker naming the removed range, a signed checkpoint over it (and a signed
        state naming the segments to remove), then the segments are deleted. A crash in between
        leaves them in place, and the next start finishes the removal."""
        plan = _retention.plan(self.chain_dir, self.config.clock(), self.config.retention_days,
                               self._state.rotations)
        if plan is None:
            return
        self._state.pending_removal = list(plan.marker["segments"])
        if not (self._append_lines([(fmt.KIND_RETENTION, plan.marker, self.config.clock())])
                and self._checkpoint()):
            return
        self._finish_removal()
        _log.info("mcp_comply_audit_retention", chain=self.chain, removed=plan.marker["segments"],
                  below_seq=plan.marker["last_seq"] + 1)

    def _finish_removal(self) -> None:
        state = self._state
        if not state.pending_removal:
            return
        current = fmt.segment_name(self._segment_index)
        try:
            for name in state.pending_removal:
                if name != current:
                    (self.chain_dir / name).unlink(missing_ok=True)
                    state.rotations.pop(name, None)
            fsync_dir(self.chain_dir)
        except OSError as exc:
            _log.error("mcp_comply_audit_retention_failed", chain=self.chain, error=str(exc))
            return
        first = fmt.segments(self.chain_dir)[0].name
        state.rotations.pop(first, None)  # nothing before it any more
        state.pending_removal = []
        self._save_state()

    def _recover_and_open(self) -> None:
        segments = fmt.segments(self.chain_dir)
        recovery: dict[str, Any] | None = None
        if segments:
            self._state, recovery = recover(self.chain_dir, segments, self.config.signer, self._notes.directory,
                                            self.config.clock())
            self._open_segment(fmt.segment_index(segments[-1].name) or 0, existing=True)
        else:
            self._open_segment(1)
        self._attach_tiles(segments)
        if self._segment_bytes == 0 and len(segments) > 1:
            # A crash between creating this segment and writing its first record: open it properly.
            previous = segments[-2]
            self._write_rotation("recovery", previous.name, segment_size(self.chain_dir, previous))
        info = {"pid": os.getpid(), "host": socket.gethostname(), "fsync": self.config.fsync,
                "on_failure": self.config.on_failure, "origin": self.origin,
                "signing_key": self.config.signer.verifier.encode() if self.config.signer else None,
                "retention_days": self.config.retention_days,
                "checkpoint_interval_s": self.config.checkpoint_interval_s,
                **self.config.open_info}
        items: list[tuple[str, dict[str, Any], float]] = []
        if recovery is not None:
            items.append((fmt.KIND_RECOVERY, recovery, self.config.clock()))
        items.append((fmt.KIND_OPEN, info, self.config.clock()))
        if not self._append_lines(items) or not self._checkpoint():
            raise AuditError(f"cannot write to the audit log in {self.chain_dir}: {self.broken_reason}")
        if recovery is not None:
            _log.warning("mcp_comply_audit_recovered", chain=self.chain, **recovery)
        self._finish_removal()
        self._prune()

    # ---- Merkle tiles (audit/tiles.py): what `audit prove` reads instead of the whole log ------
    def _attach_tiles(self, segments: list[Path]) -> None:
        """Continue the chain's tiles at the recovered tree (rebuilt from the log when they do not
        reproduce it); from here every leaf the chain state takes goes to them too."""
        try:
            tiles, how = open_tiles(self.checkpoint_dir, self._state.tree, segments)
        except OSError as exc:
            tiles, how = None, f"unavailable: {exc.strerror or exc}"
        if how not in ("resumed", "new"):
            _log.warning("mcp_comply_audit_tiles", chain=self.chain, tiles=how)
        self._tiles = tiles
        self._state.leaf_sink = tiles.append if tiles is not None else None

    def _flush_tiles(self) -> None:
        """The partial tiles of the tree a checkpoint is about to sign. Tiles are derived data: when
        they cannot be written the log goes on without them (the next start rebuilds them)."""
        tiles = self._tiles
        if tiles is not None and not tiles.flush():
            _log.warning("mcp_comply_audit_tiles", chain=self.chain, tiles=f"stopped: {tiles.error}")
            self._tiles = self._state.leaf_sink = None


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
