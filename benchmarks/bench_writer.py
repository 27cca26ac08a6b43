"""Where the audit writer's CPU goes: per record, per batch, and per part of a record.

    python benchmarks/bench_writer.py              # about 30 seconds
    python benchmarks/bench_writer.py --records 2000

Three measurements, each in this one process (the writer is a thread; its CPU is read from its
own thread CPU clock, so the producer's work is not counted in it):

1. **Writer CPU per record by batch size**: the real ``AuditSink`` (fsync batch) is fed one
   tools/call record at a time, in bursts of 1, 10, 100 or 1000 records with 12 ms pauses between
   bursts (longer than the 10 ms group-commit window, so each burst is one batch, one wake-up and
   one fsync). The difference between batch sizes is what a batch costs (wake-ups and fsync).
2. **The parts of one record**, best of 5 repeats of a tight loop (warm caches, so a lower bound):
   redaction, the record body (written straight to its JSON text) with its two keyed digests, one
   digest, the line (the header's text and the body's joined), the chain hash, the Merkle and
   tile update.
3. **The request path**: ``AuditSink.__call__`` in a tight loop (warm), thread CPU.
4. **One fsync** of an 800-byte append on this file system: CPU and wall; **one checkpoint**
   (CPU, wall, fsyncs); **one timed wait** of 2 ms three ways, and the writer's own wait for its
   10 ms window (``Condition.wait``), and a wait without a timeout that another thread ends (CPU).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MCP_COMPLY_LOG_LEVEL", "error")


def _sink(directory: Path) -> Any:
    from prometheus_client import CollectorRegistry

    from mcp_comply.audit.sink import AuditSink
    from mcp_comply.config import AuditPolicy
    from mcp_comply.instrument._metrics import metrics_for

    return AuditSink(AuditPolicy(fsync="batch"), directory, server_name="bench", policy_name="default",
                     metrics=metrics_for(CollectorRegistry()), env={})


def _record() -> Any:
    from mcp_comply._record import CallRecord

    return CallRecord("tools/call", "add", "add", "ok", None, None, time.time(), 0.0005, "7", None, "conn:1", None,
                      "2025-11-25", "mcp", "1.0", None, None, None, "0" * 32, "0" * 16, False, {"a": 1, "b": 2},
                      "mcp.MCPServer", {"content": [{"type": "text", "text": "3"}], "isError": False}, None, None)


def per_batch(records: int) -> list[tuple[int, float]]:
    rows = []
    record = _record()
    for size in (1, 10, 100, 1000):
        with tempfile.TemporaryDirectory() as tmp:
            sink = _sink(Path(tmp) / "audit")
            writer = sink.writer
            thread = next(t for t in threading.enumerate() if t.name.startswith("mcp-comply-audit"))
            assert thread.ident is not None
            clock = time.pthread_getcpuclockid(thread.ident)
            writer.flush()
            count = max(size, records // size * size)
            cpu0 = time.clock_gettime(clock)
            for i in range(count):
                sink(record)
                if i % size == size - 1:
                    time.sleep(0.012)
            writer.flush()
            rows.append((size, (time.clock_gettime(clock) - cpu0) / count))
            sink.close()
    return rows


def parts() -> list[tuple[str, float]]:
    from mcp_comply.audit import _format as fmt

    record = _record()
    with tempfile.TemporaryDirectory() as tmp:
        sink = _sink(Path(tmp) / "audit")
        redactor = sink.redactor
        writer = sink.writer
        args, pointers = redactor.arguments(record.arguments, None, set())
        body = sink._body(record, args, pointers, None, None, None)
        line = fmt.encode(5, fmt.timestamp(time.time()), writer.chain, "call", "ab" * 32, body)
        state = writer._state
        cases: list[tuple[str, Callable[[], object]]] = [
            ("redaction (request path)", lambda: redactor.arguments(record.arguments, None, set())),
            ("record body as JSON text, two keyed digests included",
             lambda: sink._body(record, args, pointers, None, None, None)),
            ("one keyed digest (canonical JSON + HMAC)", lambda: sink._digest(record.arguments)),
            (f"the {len(line)}-byte line: header and body text joined",
             lambda: fmt.encode(5, fmt.timestamp(time.time()),
                                                                         writer.chain, "call", "ab" * 32, body)),
            ("chain hash (SHA-256 of the line)", lambda: fmt.line_hash(line)),
            ("Merkle leaf, frontier and tiles", lambda: state.advance(line, time.time(), "call")),
        ]
        out = []
        for label, fn in cases:
            out.append((label, min(timeit.repeat(fn, number=5000, repeat=5)) / 5000))
        sink.close()
    return out


def request_path(bursts: int = 5, size: int = 2000) -> float:
    """Thread CPU per ``AuditSink.__call__`` (redaction, the body's closure, the enqueue) in a tight
    loop: bursts of ``size`` calls with a flush between them; the best burst, in seconds per call."""
    record = _record()
    best = float("inf")
    with tempfile.TemporaryDirectory() as tmp:
        sink = _sink(Path(tmp) / "audit")
        for _ in range(bursts):
            cpu0 = time.thread_time()
            for _ in range(size):
                sink(record)
            best = min(best, (time.thread_time() - cpu0) / size)
            sink.writer.flush()
        sink.close()
    return best


def fsync_cost() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        fd = os.open(Path(tmp) / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        for _ in range(200):
            os.write(fd, b"x" * 800)
            os.fsync(fd)
        cpu, wall = (time.thread_time() - cpu0) / 200, (time.perf_counter() - wall0) / 200
        os.close(fd)
    return cpu, wall


def checkpoint_cost(rounds: int = 5) -> tuple[float, float, int]:
    """One checkpoint after 300 new records (no signing key): thread CPU and wall, the median of
    ``rounds``, and how many fsyncs it makes."""
    from mcp_comply.audit.writer import AuditWriter, WriterConfig

    cpu, wall, fsyncs = [], [], [0]
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        fsyncs[0] += 1
        real_fsync(fd)

    with tempfile.TemporaryDirectory() as tmp:
        writer = AuditWriter(WriterConfig(directory=Path(tmp), checkpoint_interval_s=3600, checkpoint_every=10**9))
        for _ in range(rounds):
            for i in range(300):
                writer.submit("call", {"i": i})
            writer.flush()  # the writer is idle now: the checkpoint below runs alone
            fsyncs[0] = 0
            os.fsync = counting
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            writer._checkpoint()
            cpu.append(time.thread_time() - cpu0)
            wall.append(time.perf_counter() - wall0)
            os.fsync = real_fsync
        writer.close()
    return statistics.median(cpu), statistics.median(wall), fsyncs[0]


def timed_wait_cost(waits: int = 200) -> list[tuple[str, float]]:
    """Thread CPU of one 2 ms timed wait, three ways, and of the writer's wait for its 10 ms window
    (a ``Condition.wait``, once per batch while records flow)."""
    event, lock, condition = threading.Event(), threading.Lock(), threading.Condition()
    lock.acquire()
    out = []

    def window() -> None:
        with condition:
            condition.wait(0.01)

    for label, wait in (("threading.Event().wait(0.002)", lambda: event.wait(0.002)),
                        ("Lock.acquire(timeout=0.002)", lambda: lock.acquire(timeout=0.002)),
                        ("time.sleep(0.002)", lambda: time.sleep(0.002)),
                        ("Condition().wait(0.01), the writer's window", window)):
        cpu0 = time.thread_time()
        for _ in range(waits):
            wait()
        out.append((label, (time.thread_time() - cpu0) / waits))
    out.append(("Event().wait() with no timeout, ended by another thread's set() 10 ms later",
                _woken_wait_cost(waits // 2)))
    return out


def _woken_wait_cost(waits: int) -> float:
    """Thread CPU of one wait without a timeout that another thread ends (the waiter's CPU only)."""
    event, spent = threading.Event(), []

    def waiter() -> None:
        cpu0 = time.thread_time()
        for _ in range(waits):
            event.wait()
            event.clear()
        spent.append((time.thread_time() - cpu0) / waits)

    thread = threading.Thread(target=waiter)
    thread.start()
    while thread.is_alive():
        time.sleep(0.01)
        event.set()
    thread.join()
    return spent[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=4000)
    args = parser.parse_args()
    print("| records per batch | writer CPU µs per record |\n|---:|---:|")
    for size, cpu in per_batch(args.records):
        print(f"| {size} | {cpu * 1e6:.1f} |")
    print("\n| part of one record (warm, best of 5) | µs |\n|---|---:|")
    for label, seconds in parts():
        print(f"| {label} | {seconds * 1e6:.1f} |")
    print(f"\nthe request path, AuditSink.__call__ in a tight loop (thread CPU, best of 5 bursts): "
          f"{request_path() * 1e6:.1f} µs")
    cpu, wall = fsync_cost()
    print(f"\none fsync of an 800-byte append: {cpu * 1e6:.0f} µs CPU, {wall * 1e6:.0f} µs wall")
    cpu, wall, fsyncs = checkpoint_cost()
    print(f"one checkpoint (no signing key): {cpu * 1e3:.2f} ms CPU, {wall * 1e3:.2f} ms wall, {fsyncs} fsyncs")
    for label, seconds in timed_wait_cost():
        print(f"one timed wait, {label}: {seconds * 1e6:.0f} µs CPU")


if __name__ == "__main__":
    main()
