"""The writer under real failure: kill -9, many processes and threads, a full disk, rotation,
retention and clock jumps; every outcome checked by the verifier."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_comply import _files
from mcp_comply.audit import _checkpoints
from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify as v
from mcp_comply.audit import writer as writer_module
from mcp_comply.audit._checkpoints import note_name
from mcp_comply.audit.verify import verify_directory
from mcp_comply.audit.writer import AuditError, AuditWriter, WriterConfig

from .conftest import SIGNER, call_unblocked

SRC = str(Path(__file__).resolve().parents[2] / "src")

CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from mcp_comply.audit.writer import AuditWriter, WriterConfig
    writer = AuditWriter(WriterConfig(directory=Path(sys.argv[2]), checkpoint_every=50, fsync="batch"))
    n = 0
    while True:                      # bounded by the parent's kill
        for _ in range(20):
            writer.submit("call", {"tool": "load", "n": n, "pad": "x" * 300})
            n += 1
        writer.flush()
        print(n, flush=True)         # everything up to n is acknowledged durable
""")


def _calls(directory: Path) -> list[dict[str, object]]:
    out = []
    for chain in sorted(p for p in directory.iterdir() if p.name.startswith("chain-")):
        for seg in sorted(chain.glob("segment-*.jsonl")):
            for raw in seg.read_bytes().splitlines():
                try:
                    record = fmt.parse_line(raw)
                except ValueError:
                    continue
                if record["kind"] == "call":
                    out.append(record)
    return out


@pytest.mark.e2e
def test_kill_9_under_load_then_recovery_verifies(tmp_path: Path) -> None:
    """Eight real SIGKILLs mid-stream: acknowledged records survive, the torn tail is quarantined,
    the restarted writer continues the chain, and the whole log verifies."""
    directory = tmp_path / "audit"
    rng = random.Random(3)
    acknowledged_total = 0
    recoveries = 0
    for _ in range(8):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, SRC, str(directory)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        acked = 0
        deadline = time.monotonic() + rng.uniform(0.3, 0.8)
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                acked = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        acknowledged_total += acked
        writer = AuditWriter(WriterConfig(directory=directory))  # recovery happens here
        writer.close()
        records = (directory / "chain-0" / fmt.segment_name(1)).read_bytes().splitlines()
        recoveries += sum(1 for r in records if b'"kind":"recovery"' in r) > recoveries
        assert len(_calls(directory)) >= acknowledged_total
        report = verify_directory(directory)
        assert report.intact, report.findings
    assert acknowledged_total > 0
    quarantined = list((directory / "chain-0").glob("*.torn-*"))
    kinds = [json.loads(r)["kind"] for r in (directory / "chain-0" / fmt.segment_name(1)).read_text().splitlines()]
    assert kinds.count("recovery") == len(quarantined)
    assert kinds.count("open") == 16  # each child and each recovery writer opened the chain once


@pytest.mark.e2e
def test_processes_and_threads_each_keep_their_own_chain(tmp_path: Path) -> None:
    """3 processes x 4 threads x 250 records at once: one chain per process, nothing lost."""
    directory = tmp_path / "audit"
    code = textwrap.dedent("""
        import os, sys, threading, time
        sys.path.insert(0, sys.argv[1])
        from pathlib import Path
        from mcp_comply.audit.writer import AuditWriter, WriterConfig
        writer = AuditWriter(WriterConfig(directory=Path(sys.argv[2]), checkpoint_every=100))
        barrier = Path(sys.argv[3])
        (barrier / str(os.getpid())).touch()
        deadline = time.time() + 60
        while len(list(barrier.iterdir())) < 3 and time.time() < deadline:   # all three hold a chain at once
            time.sleep(0.01)
        def work(t):
            for i in range(250):
                writer.submit("call", {"thread": t, "i": i})
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        [t.start() for t in threads]; [t.join() for t in threads]
        writer.close()
    """)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", code, SRC, str(directory), str(barrier)]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    report = verify_directory(directory)
    assert report.intact, report.findings
    assert sorted(c.chain for c in report.chains) == ["chain-0", "chain-1", "chain-2"]
    for chain in ("chain-0", "chain-1", "chain-2"):
        calls = [r for r in _calls(directory) if r["chain"] == chain]
        assert len(calls) == 1000
        assert sorted((r["thread"], r["i"]) for r in calls) == [(t, i) for t in range(4) for i in range(250)]


def test_a_locked_chain_is_refused(tmp_path: Path) -> None:
    first = AuditWriter(WriterConfig(directory=tmp_path, chain="main"))
    with pytest.raises(AuditError, match="locked by another process"):
        AuditWriter(WriterConfig(directory=tmp_path, chain="main"))
    first.close()


FULL_DISK = textwrap.dedent("""
    import json, resource, signal, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from mcp_comply.audit.writer import AuditWriter, WriterConfig
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))
    writer = AuditWriter(WriterConfig(directory=Path(sys.argv[2]), on_failure=sys.argv[3],
                                      checkpoint_every=10_000))
    results = []
    for i in range(300):
        done = []
        writer.submit("call", {"i": i, "pad": "y" * 200}, waiter=done.append)
        writer.flush()
        results.append(done[0])
    writer.close()
    print(json.dumps({"ok": results.count(True), "failed": results.count(False), "dropped": writer.dropped,
                      "healthy": writer.healthy, "reason": writer.broken_reason}))
""")


@pytest.mark.e2e
@pytest.mark.parametrize("policy", ["fail-open", "fail-closed"])
def test_full_disk_loses_nothing_silently(tmp_path: Path, policy: str) -> None:
    """RLIMIT_FSIZE makes the disk "full" for the child: records that cannot be written are
    refused to their waiter, counted, and the log on disk still verifies (no torn record)."""
    directory = tmp_path / "audit"
    out = subprocess.run([sys.executable, "-c", FULL_DISK, SRC, str(directory), policy], capture_output=True,
                         text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"] > 50
    assert result["failed"] > 0
    assert result["ok"] + result["failed"] == 300
    assert result["dropped"] == result["failed"]
    assert result["healthy"] is False
    assert "File too large" in result["reason"]
    calls = _calls(directory)
    assert len(calls) == result["ok"]
    assert [c["i"] for c in calls] == list(range(result["ok"]))
    report = verify_directory(directory)
    assert report.intact, report.findings


def test_rotation_keeps_one_chain_and_a_missing_segment_is_found(tmp_path: Path) -> None:
    writer = AuditWriter(WriterConfig(directory=tmp_path, max_segment_bytes=4000, signer=SIGNER))
    for i in range(200):
        writer.submit("call", {"i": i, "pad": "z" * 50})
        writer.flush()
    writer.close()
    segments = sorted((tmp_path / "chain-0").glob("segment-*.jsonl"))
    assert len(segments) > 3
    report = verify_directory(tmp_path, verifiers=[SIGNER.verifier])
    assert report.intact, report.findings
    assert report.chains[0].segments == len(segments)
    second = segments[1].read_bytes().splitlines()[0]
    assert json.loads(second)["kind"] == "rotation"
    segments[2].unlink()
    kinds = {f.kind for f in verify_directory(tmp_path, verifiers=[SIGNER.verifier]).findings}
    assert v.MISSING_SEGMENT in kinds
    assert v.DELETED in kinds


def test_retention_goes_by_the_records_own_time_and_leaves_a_signed_marker(tmp_path: Path) -> None:
    """File times say nothing (backdating them removes nothing); once the records themselves are
    older than the signed period, whole segments go, named by a marker a checkpoint signs."""
    now = [time.time()]

    def writer() -> AuditWriter:
        return AuditWriter(WriterConfig(directory=tmp_path, max_segment_bytes=3000, retention_days=30,
                                        signer=SIGNER, clock=lambda: now[0]))

    first = writer()
    for i in range(60):
        first.submit("call", {"i": i, "pad": "r" * 50})
        first.flush()
    first.close()
    segments = sorted((tmp_path / "chain-0").glob("segment-*.jsonl"))
    assert len(segments) >= 4
    old = time.time() - 400 * 86400
    for seg in segments:
        os.utime(seg, (old, old))
    writer().close()
    assert sorted((tmp_path / "chain-0").glob("segment-*.jsonl")) == segments

    now[0] += 31 * 86400
    third = writer()
    for i in range(30):
        third.submit("call", {"i": 1000 + i, "pad": "r" * 50})
        third.flush()
    third.close()
    remaining = sorted((tmp_path / "chain-0").glob("segment-*.jsonl"))
    # the last old segment also holds the new life's first records: it stays
    assert set(segments) & set(remaining) == {segments[-1]}
    markers = [json.loads(line) for seg in remaining for line in seg.read_text().splitlines()
               if '"kind":"retention"' in line]
    assert [m["segments"] for m in markers] == [[p.name for p in segments[:-1]]]
    assert (markers[0]["first_seq"], markers[0]["retention_days"]) == (0, 30)
    rotation = json.loads(segments[-1].read_text().splitlines()[0])
    assert (markers[0]["last_seq"], markers[0]["last_hash"]) == (rotation["seq"] - 1, rotation["prev"])
    report = verify_directory(tmp_path, verifiers=[SIGNER.verifier], now=now[0])
    assert report.findings == []
    (chain,) = report.chains
    assert chain.first_seq == markers[0]["last_seq"] + 1
    assert (chain.unsigned, chain.sealed) == (0, True)
    # without the markers, the missing start is a finding
    for seg in remaining:
        seg.write_bytes(b"".join(line for line in seg.read_bytes().splitlines(keepends=True)
                                 if b'"kind":"retention"' not in line))
    assert v.DELETED in {f.kind for f in verify_directory(tmp_path, now=now[0]).findings}


def test_clock_jumps_are_recorded_and_order_is_by_seq(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    lock = threading.Lock()

    def clock() -> float:
        with lock:
            return now[0]

    writer = AuditWriter(WriterConfig(directory=tmp_path, clock=clock))
    writer.submit("call", {"i": 0})
    writer.flush()
    now[0] -= 3600  # the wall clock jumps back an hour
    writer.submit("call", {"i": 1})
    writer.flush()
    writer.close()
    records = [json.loads(x) for x in (tmp_path / "chain-0" / fmt.segment_name(1)).read_text().splitlines()]
    jumps = [r for r in records if r["kind"] == "clock_jump"]
    assert len(jumps) == 1
    assert jumps[0]["jump_s"] == pytest.approx(-3600, abs=1)
    assert verify_directory(tmp_path).intact


def test_rotation_by_age(tmp_path: Path) -> None:
    writer = AuditWriter(WriterConfig(directory=tmp_path, max_segment_age_s=0.05))
    for i in range(4):
        writer.submit("call", {"i": i})
        writer.flush()
        time.sleep(0.08)
    writer.close()
    segments = sorted((tmp_path / "chain-0").glob("segment-*.jsonl"))
    reasons = [json.loads(seg.read_text().splitlines()[0]).get("reason") for seg in segments[1:]]
    assert len(segments) >= 4
    assert set(reasons) == {"age"}
    assert verify_directory(tmp_path).intact


def test_queue_overflow_is_counted_and_leaves_a_gap_record(tmp_path: Path) -> None:
    """fail-open back-pressure: past queue_max records are dropped, counted, refused to their
    waiter, and the next write records the gap."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, queue_max=16, batch_window_s=5.0))
    refused: list[bool] = []
    for i in range(40):
        writer.submit("call", {"i": i}, waiter=refused.append if i == 39 else None)
    assert refused == [False]
    assert writer.dropped >= 24
    dropped = writer.dropped
    writer.flush()
    writer.submit("call", {"i": "after"})
    writer.close()
    records = [json.loads(x) for x in (tmp_path / "chain-0" / fmt.segment_name(1)).read_text().splitlines()]
    gaps = [r for r in records if r["kind"] == "gap"]
    assert [g["dropped"] for g in gaps] == [dropped]
    assert len([r for r in records if r["kind"] == "call"]) == 40 + 1 - dropped
    assert verify_directory(tmp_path).intact


def test_a_failed_fsync_is_never_retried_as_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fsyncgate: after EIO from fsync the pages may be gone and the error cleared, so the writer
    refuses the batch, abandons the segment and continues the chain in a new one."""
    import errno

    import mcp_comply.audit.writer as writer_module

    real_fsync = os.fsync
    failures = {"left": 1}

    def flaky_fsync(fd: int) -> None:
        if failures["left"] and os.fstat(fd).st_size > 0 and not os.path.isdir(f"/proc/self/fd/{fd}"):
            failures["left"] -= 1
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    writer = AuditWriter(WriterConfig(directory=tmp_path, fsync="always"))
    monkeypatch.setattr(writer_module.os, "fsync", flaky_fsync)
    outcomes: list[bool] = []
    for i in range(3):
        writer.submit("call", {"i": i}, waiter=outcomes.append)
        writer.flush()
    monkeypatch.setattr(writer_module.os, "fsync", real_fsync)
    writer.close()
    assert outcomes == [False, True, True]
    records = [json.loads(line) for seg in sorted((tmp_path / "chain-0").glob("segment-*.jsonl"))
               for line in seg.read_text().splitlines()]
    (gap,) = [r for r in records if r["kind"] == "gap"]
    assert gap["dropped"] == 1
    assert gap["reason"] == "fsync failed: Input/output error"
    segments = sorted((tmp_path / "chain-0").glob("segment-*.jsonl"))
    assert len(segments) == 2
    first_of_new = json.loads(segments[1].read_text().splitlines()[0])
    assert first_of_new["kind"] == "rotation"
    assert first_of_new["reason"] == "fsync-failed"
    report = verify_directory(tmp_path)
    assert report.intact, report.findings


def test_batch_mode_commits_within_its_window_without_a_flush(tmp_path: Path) -> None:
    """A lone record from an idle server is on disk within the batch window (plus scheduling),
    not whenever the next checkpoint happens."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, fsync="batch", batch_window_s=0.01,
                                      checkpoint_interval_s=3600))
    time.sleep(0.1)  # the writer is idle and asleep
    writer.submit("call", {"lonely": True})
    deadline = time.monotonic() + 2.0
    segment = tmp_path / "chain-0" / fmt.segment_name(1)
    while b'"lonely":true' not in segment.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert b'"lonely":true' in segment.read_bytes()
    assert time.monotonic() < deadline
    writer.close()


def test_a_busy_writer_commits_every_window_by_itself_and_then_sleeps(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """While records keep coming the writer returns every batch window without being woken, and
    each record is fsynced within the window (plus scheduling); records share fsyncs; once they stop,
    the writer goes back to sleep until the next record wakes it."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, fsync="batch", batch_window_s=0.01,
                                      checkpoint_interval_s=3600))
    synced: list[float] = []
    real_fsync = os.fsync

    def timed_fsync(fd: int) -> None:
        real_fsync(fd)
        if fd == writer._segment_fd:
            synced.append(time.monotonic())

    monkeypatch.setattr(os, "fsync", timed_fsync)
    submitted = []
    for i in range(30):
        submitted.append(time.monotonic())
        writer.submit("call", {"n": i})
        time.sleep(0.003)
    deadline = time.monotonic() + 2.0
    while not (writer._asleep and writer.queue_depth == 0) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert writer._asleep
    for at in submitted:
        assert any(at <= done <= at + 0.5 for done in synced), "a record waited more than 0.5 s for its fsync"
    assert len(synced) <= 20  # grouped: about one fsync per 10 ms window, not one per record
    idle_syncs = len(synced)
    time.sleep(0.1)
    assert len(synced) == idle_syncs  # asleep: nothing to commit, no wake-ups
    writer.submit("call", {"n": 30})
    deadline = time.monotonic() + 2.0
    while len(synced) == idle_syncs and time.monotonic() < deadline:
        time.sleep(0.005)
    assert len(synced) == idle_syncs + 1  # the record woke it
    writer.close()
    lines = (tmp_path / "chain-0" / fmt.segment_name(1)).read_bytes().splitlines()
    assert [json.loads(x)["n"] for x in lines if b'"kind":"call"' in x] == list(range(31))


_HEADER_NAMES = st.sampled_from(list(fmt.HEADER))
_VALUES = st.one_of(st.integers(), st.text(max_size=8), st.none(), st.booleans())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.one_of(_HEADER_NAMES, st.text(max_size=6), st.sampled_from(["_seq", "__kind", "_v"])),
                       _VALUES, max_size=10))
def test_no_body_can_set_a_header_field(body: dict[str, object]) -> None:
    """Whatever keys a body (or a user's processor) brings, the stored header is the writer's, in
    order, and every body value is kept under a distinct name (header names get underscores)."""
    line = fmt.encode(7, "2026-11-29T00:00:00.000000Z", "chain-0", "call", "ab" * 32, body)
    record = fmt.parse_line(line[:-1])  # strict: duplicate keys would raise
    assert list(record)[:6] == list(fmt.HEADER)
    assert [record[k] for k in fmt.HEADER] == [fmt.FORMAT_VERSION, 7, "2026-11-29T00:00:00.000000Z", "chain-0",
                                               "call", "ab" * 32]
    stored = {k: val for k, val in record.items() if k not in fmt.HEADER}
    assert len(stored) == len(body)
    assert sorted(map(repr, stored.values())) == sorted(map(repr, body.values()))
    for key, value in body.items():
        if key not in fmt.HEADER:
            assert stored[key] == value


def test_a_processor_cannot_rewrite_the_chain_fields(tmp_path: Path) -> None:
    writer = AuditWriter(WriterConfig(directory=tmp_path))
    writer.submit("call", {"seq": 0, "kind": "close", "prev": "0" * 64, "tool": "add"})
    writer.close()
    lines = (tmp_path / "chain-0" / fmt.segment_name(1)).read_text().splitlines()
    call = json.loads(lines[2])
    assert (call["seq"], call["kind"], call["_seq"], call["_kind"], call["_prev"]) == (2, "call", 0, "close", "0" * 64)
    assert verify_directory(tmp_path).intact


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 4_000_000_000 * 1_000_000))
def test_timestamps_are_rfc3339_microseconds_whatever_the_cache_holds(micros: int) -> None:
    from datetime import UTC, datetime

    unix = micros / 1_000_000
    expected = datetime.fromtimestamp(round(unix * 1_000_000) // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    text = fmt.timestamp(unix)
    assert text == f"{expected}.{round(unix * 1_000_000) % 1_000_000:06d}Z"
    assert fmt.parse_ts(text) == pytest.approx(unix, abs=1e-6)


def test_a_new_signing_key_starts_a_new_chain(tmp_path: Path) -> None:
    """The old chain stays as its key signed it; the new key never signs the old records."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mcp_comply.audit.note import Signer

    first = AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER))
    first.submit("call", {"i": 1})
    first.close()
    rotated = Signer("new-key", Ed25519PrivateKey.generate())
    second = AuditWriter(WriterConfig(directory=tmp_path, signer=rotated))
    assert second.chain == "chain-1"
    second.close()
    old = verify_directory(tmp_path, verifiers=[SIGNER.verifier])
    assert [c.chain for c in old.chains if c.checkpoints_verified] == ["chain-0"]
    new = verify_directory(tmp_path, verifiers=[rotated.verifier])
    assert [c.chain for c in new.chains if c.checkpoints_verified] == ["chain-1"]


@pytest.mark.parametrize("fsync", ["batch", "always", "never"])
def test_no_wakeup_is_lost_and_an_idle_writer_burns_no_cpu(tmp_path: Path, fsync: str) -> None:
    """Three producers submit bursts with pauses around the batch window (so the writer keeps going
    to sleep and being woken while records arrive), without waiters: a lost wake-up would leave a
    record queued until the idle timer (60 s here). Every burst is written within 1 s; a flush
    between bursts returns at once; once idle the writer thread uses (almost) no CPU."""
    durable = [0]
    lock = threading.Lock()

    def on_durable(count: int) -> None:
        with lock:
            durable[0] += count

    writer = AuditWriter(WriterConfig(directory=tmp_path, fsync=fsync, batch_window_s=0.004,  # type: ignore[arg-type]
                                      checkpoint_interval_s=3600, on_durable=on_durable))
    rng = random.Random(7)
    submitted = [0]

    def burst(seed: int) -> None:
        local = random.Random(seed)
        for _ in range(local.randint(1, 6)):
            writer.submit("call", {"p": seed})
            with lock:
                submitted[0] += 1
            if local.random() < 0.5:
                time.sleep(local.choice([0.0, 0.001, 0.004, 0.005]))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # thread switches between any two bytecodes of submit, often
    try:
        _bursts(writer, burst, durable, submitted, lock, rng)
    finally:
        sys.setswitchinterval(switch)
    time.sleep(0.1)  # settle: the last window's fsync, then sleep
    clock = time.pthread_getcpuclockid(writer._thread.ident or 0)
    before = time.clock_gettime(clock)
    time.sleep(0.5)
    idle_cpu = time.clock_gettime(clock) - before
    assert idle_cpu < 0.003, f"the idle writer used {idle_cpu:.4f} s of CPU in 0.5 s"  # polling 4 ms: ~0.006
    writer.close()
    assert not writer._thread.is_alive()
    lines = [json.loads(x) for x in (tmp_path / "chain-0" / fmt.segment_name(1)).read_bytes().splitlines()]
    assert sum(1 for r in lines if r["kind"] == "call") == submitted[0]


def _bursts(writer: AuditWriter, burst: Callable[[int], None], durable: list[int], submitted: list[int],
            lock: threading.Lock, rng: random.Random) -> None:
    for round_ in range(150):
        threads = [threading.Thread(target=burst, args=(round_ * 3 + i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        started = time.monotonic()
        while True:
            with lock:
                if durable[0] == submitted[0]:
                    break
            assert time.monotonic() - started < 1.0, f"round {round_}: {submitted[0] - durable[0]} records stuck"
            time.sleep(0.0005)
        time.sleep(rng.choice([0.0, 0.002, 0.004, 0.006, 0.012]))
        if round_ % 25 == 0:
            flushed = time.monotonic()
            assert writer.flush(timeout=1.0)
            assert time.monotonic() - flushed < 0.5


class _PausingQueue(deque):  # type: ignore[type-arg]
    """The writer's queue, but the first append from the thread named ``first`` pauses right after
    it appended, until told to go on: another producer's whole submit runs in between."""

    def __init__(self) -> None:
        super().__init__()
        self.appended, self.go_on = threading.Event(), threading.Event()

    def append(self, item: object) -> None:
        super().append(item)
        if threading.current_thread().name == "first" and not self.appended.is_set():
            self.appended.set()
            self.go_on.wait(5)


@pytest.mark.parametrize("fsync", ["batch", "never"])
def test_two_producers_racing_into_an_empty_queue_wake_the_writer(tmp_path: Path, fsync: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic: producer 1 appends to the idle writer's empty queue and is preempted before it
    decides whether to wake the writer; producer 2 submits meanwhile. Deciding by the queue's length
    ("the first record wakes it"), neither saw a length of 1 and the writer slept on until its idle
    timer (60 s here); deciding by the writer's own "asleep" flag, both records are written at once."""
    monkeypatch.setattr(writer_module, "deque", _PausingQueue)
    writer = AuditWriter(WriterConfig(directory=tmp_path, fsync=fsync, batch_window_s=0.005,  # type: ignore[arg-type]
                                      checkpoint_interval_s=3600))
    queue = writer._items
    assert isinstance(queue, _PausingQueue)
    time.sleep(0.2)  # the writer has written its open records and sleeps
    seq = writer.seq
    first = threading.Thread(target=writer.submit, args=("call", {"n": 1}), name="first")
    first.start()
    assert queue.appended.wait(5)
    assert writer.submit("call", {"n": 2})
    queue.go_on.set()
    first.join()
    deadline = time.monotonic() + 1.0
    while writer.seq < seq + 2 and time.monotonic() < deadline:
        time.sleep(0.002)
    assert writer.seq == seq + 2, "both records still queued a second later: no producer woke the writer"
    writer.close()


def test_a_record_submitted_while_the_writer_closes_is_refused_not_left_waiting(tmp_path: Path) -> None:
    """Deterministic: close() runs entirely between submit's "closed?" check and its append (another
    thread, or the SIGTERM handler on the thread that was submitting). The record lands behind the
    writer's stop and would never be written: its waiter (a fail-closed intent, an fsync: always
    call) must hear False at once, not wait forever."""
    writer: AuditWriter | None = None

    def clock() -> float:
        if threading.current_thread().name == "late" and writer is not None and not writer.closed:
            writer.close()  # the whole close, between the check and the append
        return time.time()

    writer = AuditWriter(WriterConfig(directory=tmp_path, clock=clock))
    told: list[bool] = []
    accepted: list[bool] = []
    late = threading.Thread(target=lambda: accepted.append(writer.submit("intent", {"n": 1}, told.append)),
                            name="late")
    late.start()
    late.join(15)
    assert not writer._thread.is_alive()
    assert (accepted, told) == ([False], [False])
    assert writer.queue_depth == 0
    kinds = [json.loads(x)["kind"] for x in (tmp_path / "chain-0" / fmt.segment_name(1)).read_bytes().splitlines()]
    assert kinds[-2:] == ["close", "checkpoint"]
    assert "intent" not in kinds


def test_an_idle_rotation_that_cannot_open_the_next_segment_leaves_no_waiter_hanging(tmp_path: Path) -> None:
    """The segment is due for rotation while the writer is idle, and the next segment cannot be opened
    (here a directory holds its name; EMFILE, EDQUOT or EACCES alike). A fail-closed intent submitted
    afterwards must be answered (False, or True once written), and the writer must say it is broken."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, max_segment_age_s=0.3, checkpoint_interval_s=3600))
    (tmp_path / "chain-0" / fmt.segment_name(2)).mkdir()
    time.sleep(0.8)  # the idle writer tried to rotate
    told = threading.Event()
    writer.submit("intent", {"n": 1}, lambda ok: told.set())
    try:
        assert told.wait(2.0), "the intent's waiter was never answered"
        assert writer._thread.is_alive()
    finally:
        writer.close(timeout=2.0)


def test_a_rotation_that_fails_after_a_written_batch_does_not_unsay_it(tmp_path: Path) -> None:
    """The batch is written and its waiter told True; then the size rotation cannot open the next
    segment. The batch stays written (its waiter is not told False as well, nothing counts as
    dropped), the writer says it is broken and backs off, and the next records still go in."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, fsync="always", max_segment_bytes=2048,
                                      checkpoint_interval_s=3600))
    (tmp_path / "chain-0" / fmt.segment_name(2)).mkdir()
    told: list[bool] = []
    done = threading.Event()

    def waiter(ok: bool) -> None:
        told.append(ok)
        done.set()

    writer.submit("call", {"pad": "x" * 3000}, waiter)
    assert done.wait(5.0)
    assert writer.flush()
    assert told == [True]
    assert writer.dropped == 0
    assert writer.broken_reason is not None
    assert "housekeeping failed: NotRegularFile: [Errno 22] a folder, not a regular file" in writer.broken_reason
    again = threading.Event()
    writer.submit("call", {"n": 2}, lambda ok: again.set() if ok else None)
    assert again.wait(5.0)  # still written, to the old segment
    writer.close()
    kinds = [json.loads(x)["kind"] for x in (tmp_path / "chain-0" / fmt.segment_name(1)).read_bytes().splitlines()]
    assert kinds.count("call") == 2
    assert kinds[-2:] == ["close", "checkpoint"]


def test_a_checkpoint_makes_six_fsyncs_and_writes_latest_note_first(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The log, the numbered note and the state file, each with its folder, and ``latest.note`` (the
    copy clients fetch) without its folder's: six fsyncs. ``latest.note`` is written and synced
    before the numbered note (whose folder fsync makes both renames durable), so no crash leaves it
    older than the newest numbered note."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER, checkpoint_interval_s=3600))
    writer.submit("call", {"n": 1})
    assert writer.flush()
    count = [0]
    real_fsync, real_replace = os.fsync, os.replace
    renamed: list[str] = []

    def counting(fd: int) -> None:
        count[0] += 1
        real_fsync(fd)

    def replacing(src: str | Path, dst: str | Path) -> None:
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", counting)
    monkeypatch.setattr(os, "replace", replacing)
    assert writer._checkpoint()
    assert count[0] == 6
    monkeypatch.setattr(os, "fsync", real_fsync)
    monkeypatch.setattr(os, "replace", real_replace)
    notes = writer.checkpoint_dir
    newest = max(notes.glob("0*.note"))
    assert [n for n in renamed if n.endswith(".note")] == ["latest.note", newest.name]
    assert (notes / "latest.note").read_bytes() == newest.read_bytes()
    writer.close()


def test_a_crash_between_latest_note_and_the_numbered_note_leaves_a_log_that_verifies(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer dies after ``latest.note`` and before the numbered note of the same tree (here: the
    numbered note's write fails, and the folder is verified as SIGKILL would leave it): ``latest.note``
    authenticates the tree on its own, and verify finds nothing."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER, checkpoint_interval_s=3600))
    writer.submit("call", {"n": 1})
    assert writer.flush()
    real = _files.write_atomic

    def dying(path: Path, data: bytes, **kwargs: Any) -> None:
        if path.name != "latest.note":
            raise OSError(28, "No space left on device")
        real(path, data, **kwargs)

    monkeypatch.setattr(_checkpoints, "write_atomic", dying)
    assert not writer._checkpoint()
    size = writer.seq
    monkeypatch.setattr(_checkpoints, "write_atomic", real)
    notes = writer.checkpoint_dir
    assert not (notes / note_name(size)).exists()
    assert int((notes / "latest.note").read_text().split("\n")[1]) == size
    report = verify_directory(tmp_path, verifiers=[SIGNER.verifier], now=time.time())
    assert [f.kind for f in report.findings] == []
    assert (report.chains[0].authenticated, report.chains[0].unsigned) == (size, 0)
    writer.close()  # (verified above as the crash left it)


FULL_DISK_IDLE = textwrap.dedent("""
    import resource, signal, sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from mcp_comply.audit.writer import AuditWriter, WriterConfig
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # get EFBIG instead of being killed
    directory = Path(sys.argv[2])
    writer = AuditWriter(WriterConfig(directory=directory, checkpoint_interval_s=0.5, checkpoint_every=10_000))
    for i in range(5):
        writer.submit("call", {"i": i})
    writer.flush()                                     # written, not yet checkpointed
    size = (directory / "chain-0" / "segment-000001.jsonl").stat().st_size
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, hard))   # the disk is full from here
    time.sleep(1.0)                                    # the checkpoint falls due and fails
    clock = time.pthread_getcpuclockid(writer._thread.ident)
    before = time.clock_gettime(clock)
    time.sleep(2.0)
    print(round(time.clock_gettime(clock) - before, 3), writer.healthy, writer._since_checkpoint)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    writer.close()
""")


@pytest.mark.e2e
def test_an_idle_writer_on_a_full_disk_does_not_spin(tmp_path: Path) -> None:
    """Records written but not yet checkpointed, then the disk fills: the checkpoint cannot be
    written. Idle, the writer may retry now and then, but not burn a core (here: under 0.05 s of
    CPU in 2 s)."""
    out = subprocess.run([sys.executable, "-c", FULL_DISK_IDLE, SRC, str(tmp_path / "audit")], capture_output=True,
                         text=True, timeout=60, check=True)
    cpu, healthy, unsigned = out.stdout.split()
    assert (healthy, unsigned) == ("False", "5")
    assert float(cpu) < 0.05, f"the idle writer used {cpu} s of CPU in 2 s"


KILL_AT_STEP = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from mcp_comply.audit.note import Signer
    from mcp_comply.audit.writer import AuditWriter, WriterConfig
    kill_at, calls, armed = int(sys.argv[4]), [0], [False]
    def step(real):
        def call(*args, **kwargs):
            if armed[0]:
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call
    os.fsync, os.replace = step(os.fsync), step(os.replace)
    signer = Signer("test-audit", Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[3])))
    writer = AuditWriter(WriterConfig(directory=Path(sys.argv[2]), signer=signer, checkpoint_every=3,
                                      checkpoint_interval_s=3600))
    armed[0] = True  # from here: the records, one checkpoint by count, and close's
    for i in range(3):
        writer.submit("call", {"n": i})
        writer.flush()
    writer.close()
    print(calls[0], flush=True)
""")


def test_sigkill_before_any_fsync_or_rename_of_a_checkpoint_leaves_latest_note_not_older(tmp_path: Path) -> None:
    """A real writer killed (SIGKILL) right before each fsync and each rename it makes while it writes
    three records, a checkpoint and close's checkpoint: ``latest.note`` is never older than the newest
    numbered note (no ``stale_latest_note``), the folder verifies, and so it does after a restart."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = SIGNER.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    kill_at, steps = 1, None
    while steps is None:
        directory = tmp_path / f"kill-{kill_at}"
        proc = subprocess.run([sys.executable, "-c", KILL_AT_STEP, SRC, str(directory), key, str(kill_at)],
                              check=False, capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            steps = int(proc.stdout)
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        notes = directory / "checkpoints" / "chain-0"
        newest = max(int(p.stem) for p in notes.glob("0*.note"))
        assert int((notes / "latest.note").read_text().split("\n")[1]) >= newest, kill_at
        crashed = verify_directory(directory, verifiers=[SIGNER.verifier], now=time.time())
        # (a kill between close's record and its note leaves a sealed chain with an unsigned tail,
        # unsigned_tail until the restart signs it: a crash window of close, not of latest.note)
        allowed = {v.UNSIGNED_TAIL} if crashed.chains[0].sealed else set()
        assert {f.kind for f in crashed.findings} - v.NOTICES <= allowed, (kill_at, crashed.findings)
        AuditWriter(WriterConfig(directory=directory, signer=SIGNER, checkpoint_interval_s=3600)).close()
        restarted = verify_directory(directory, verifiers=[SIGNER.verifier], now=time.time())
        assert restarted.intact, (kill_at, restarted.findings)
        kill_at += 1
        assert kill_at < 60
    assert steps == kill_at - 1  # every step was a kill point
    assert steps >= 12  # (3 records, 2 checkpoints)


@pytest.mark.parametrize("fifo", ["state.json", "999999999999.note"])
def test_a_fifo_named_like_the_state_or_a_note_does_not_hang_the_writer_s_start(tmp_path: Path, fifo: str) -> None:
    """Someone with write access: a FIFO where the restarting writer reads its state (or, without a
    state, its newest note) blocked the start forever. It is passed over like an unreadable file."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER, checkpoint_interval_s=3600))
    writer.submit("call", {"n": 1})
    writer.close()
    (tmp_path / "chain-0" / "state.json").unlink()
    path = tmp_path / ("chain-0" if fifo == "state.json" else "checkpoints/chain-0") / fifo
    os.mkfifo(path)
    restarted = call_unblocked(
        lambda: AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER, checkpoint_interval_s=3600)), [path],
        f"the writer's start blocked on a FIFO named {fifo}")
    assert restarted.seq == 7  # open, checkpoint, call, close, checkpoint, then this life's open and checkpoint
    restarted.close()


def test_a_segment_that_is_a_fifo_stops_the_writer_s_start_with_an_error_not_a_hang(tmp_path: Path) -> None:
    """Someone with write access puts a FIFO where the segment the restarting writer continues
    (named in its state) was: the start blocked on the open for good, and with it the host server's
    start. Now it is refused like other damage, naming the file and what to run."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER, checkpoint_interval_s=3600))
    writer.submit("call", {"n": 1})
    writer.close()
    segment = fmt.segments(tmp_path / "chain-0")[-1]
    segment.unlink()
    os.mkfifo(segment)

    def start() -> str:
        try:
            AuditWriter(WriterConfig(directory=tmp_path, signer=SIGNER, checkpoint_interval_s=3600)).close()
        except AuditError as exc:
            return str(exc)
        return "started"

    assert call_unblocked(start, [segment], "the writer's start blocked on a FIFO segment") == (
        f"audit log damaged: {segment} is a FIFO, not a segment the writer wrote: run `mcp-comply audit verify "
        f"{tmp_path}`; the writer will not continue this chain")


def test_retention_reads_no_fifo_as_a_segment_s_first_or_last_line(tmp_path: Path) -> None:
    """Retention compares the first and last lines of segments before removing any: a FIFO in a
    segment's place reads as no line (so retention refuses and logs) instead of blocking the writer."""
    from mcp_comply.audit._segments import first_line, first_record, last_line

    fifo = tmp_path / "segment-000002.jsonl"
    os.mkfifo(fifo)
    assert call_unblocked(lambda: (first_line(fifo), last_line(fifo), first_record(fifo)), [fifo],
                          "retention blocked on a FIFO") == (None, None, None)


def test_retention_reads_no_line_from_a_segment_gone_or_a_link_to_nothing(tmp_path: Path) -> None:
    """A segment replaced by a link to nothing, or gone since the listing, reads as no line too (so
    retention refuses and logs) instead of raising FileNotFoundError into the writer's housekeeping,
    which marked the writer broken."""
    from mcp_comply.audit._segments import first_line, first_record, last_line

    link, gone = tmp_path / "segment-000002.jsonl", tmp_path / "segment-000003.jsonl"
    link.symlink_to(tmp_path / "nothing")
    assert [(first_line(p), last_line(p), first_record(p)) for p in (link, gone)] == [(None, None, None)] * 2


def test_a_fifo_at_the_next_segment_does_not_block_the_writer(tmp_path: Path) -> None:
    """Someone with write access to the log folder puts a FIFO where the next segment will be: the
    rotation refuses it (the writer is broken, the records after it are refused) instead of
    blocking the writer thread for good on an open for writing that waits for a reader."""
    writer = AuditWriter(WriterConfig(directory=tmp_path, max_segment_bytes=2000, signer=SIGNER))
    fifo = tmp_path / "chain-0" / fmt.segment_name(2)
    os.mkfifo(fifo)
    try:
        for i in range(40):
            writer.submit("call", {"i": i, "pad": "z" * 50})
        flushed = writer.flush(timeout=5)
        reason = writer.broken_reason or ""
        assert "housekeeping failed: NotRegularFile: [Errno 22] a FIFO, not a regular file" in reason, (flushed, reason)
    finally:
        # let a blocked open go (a reader comes and leaves), so the thread can end
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        writer.close(timeout=5)
