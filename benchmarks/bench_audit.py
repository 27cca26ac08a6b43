"""Audit trail throughput and cost: request path, sustained writes, durable writes, verification.

    python benchmarks/bench_audit.py            # about a minute; prints Markdown
    python benchmarks/bench_audit.py --quick

Figures (each the median of several rounds in this one process; the verification memory figure
comes from child processes):
- request path: CPU time of the request thread per audited call (``time.thread_time``, so the
  writer thread's work is not counted), instrumented middleware + audit sink vs the middleware alone;
  and, for the saturated loop, the whole process (``time.process_time``: every thread, the writer's
  flush of what the loop submitted included) and its wall time;
- sustained: 16 threads submitting as fast as they can, batch fsync (10 ms window): records made
  durable per second, and the whole process's CPU per record;
- durable single caller: fsync always, one caller waiting for each record to be durable, and the
  whole process's CPU per record;
- verify: records per second over a 200,000-record log (strict JSON and --fast), and peak RSS for
  100k vs 400k records (constant memory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("MCP_COMPLY_LOG_LEVEL", "error")

BODY: dict[str, Any] = {
        "method": "tools/call", "tool": "get_forecast", "outcome": "ok", "error_type": None, "duration_us": 523,
        "request_id": "17", "session_id": None, "correlation_id": "proc:5f1c", "protocol_version": "2026-07-28",
        "transport": "pipe", "client": {"name": "claude", "version": "1.2", "claimed": True},
        "args": {"city": "paris", "days": 3}, "redacted": [],
        "args_digest": "hmac-sha256:0123456789abcdef0123456789abcdef"}


Path4 = tuple[float, float, float, float]


def _request_path(calls: int) -> tuple[Path4, Path4]:
    """Per call, without and with audit: (request thread's CPU µs, saturated mean; the same, paced
    median; whole-process CPU µs, saturated, flush included; wall µs, saturated, flush included)."""
    from mcp.shared.exceptions import MCPError
    from opentelemetry import trace
    from prometheus_client import CollectorRegistry
    from pydantic import ValidationError

    from mcp_comply.audit.sink import AuditSink
    from mcp_comply.config import AuditPolicy
    from mcp_comply.instrument._catalog import ToolCatalog
    from mcp_comply.instrument._context import SdkFacts
    from mcp_comply.instrument._core import Recorder
    from mcp_comply.instrument._metrics import Metrics
    from mcp_comply.instrument._sdk import ComplyMiddleware

    result = {"content": [{"type": "text", "text": "[{\"day\": 0, \"high_c\": 21}]"}], "isError": False}

    async def handler(_ctx: Any) -> Any:
        return result

    info = SimpleNamespace(name="claude", version="1.2")
    session = SimpleNamespace(client_params=SimpleNamespace(client_info=info), _connection=SimpleNamespace(state={}))
    ctx = SimpleNamespace(method="tools/call", request_id=7, request=None, meta=None, protocol_version="2026-07-28",
                          session=session, params={"name": "get_forecast",
                                                   "arguments": {"city": "paris", "days": 3,
                                                                 "api_key": "sk-live-abcdefghijklmnop1234"}})

    def middleware(with_audit: bool, tmp: Path) -> tuple[Any, Any]:
        metrics = Metrics(CollectorRegistry())
        recorder = Recorder(framework="bench", metrics=metrics, tracer=trace.get_tracer("b"),
                            catalog=ToolCatalog(live={"get_forecast": None}), sinks=[],
                            protocol_error=MCPError, params_error=ValidationError)
        sink = None
        if with_audit:
            sink = AuditSink(AuditPolicy(queue_max=1_000_000), tmp, server_name="bench", policy_name="bench",
                             metrics=metrics, env={})
            recorder.sinks.append(sink)
        mw = ComplyMiddleware(recorder, SdkFacts(None, None), own_span=False)
        return (lambda c: mw(c, handler)), sink

    async def run(call: Any, sink: Any) -> Path4:
        """(mean over back-to-back calls, median per call when paced in bursts of 50 with 2 ms idle,
        whole-process CPU and wall per back-to-back call until the writer has flushed them)."""
        for _ in range(500):
            await call(ctx)
        if sink is not None:
            sink.writer.flush(timeout=60)
        p0, w0, t0 = time.process_time(), time.perf_counter(), time.thread_time()
        for _ in range(calls):
            await call(ctx)
        saturated = (time.thread_time() - t0) / calls * 1e6
        if sink is not None:
            sink.writer.flush(timeout=60)
        process = (time.process_time() - p0) / calls * 1e6
        wall = (time.perf_counter() - w0) / calls * 1e6
        tt, samples = time.thread_time, []
        for i in range(calls):
            start = tt()
            await call(ctx)
            samples.append(tt() - start)
            if i % 50 == 49:
                await asyncio.sleep(0.002)  # idle gaps, as a real server has: the writer keeps up
        return saturated, statistics.median(samples) * 1e6, process, wall

    out = []
    for with_audit in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            call, sink = middleware(with_audit, Path(tmp))
            out.append(asyncio.run(run(call, sink)))
            if sink is not None:
                sink.close()
    return out[0], out[1]


def _sustained(seconds: float) -> tuple[float, float]:
    """(records made durable per second, whole-process CPU µs per record)."""
    from mcp_comply.audit.writer import AuditWriter, WriterConfig

    with tempfile.TemporaryDirectory() as tmp:
        writer = AuditWriter(WriterConfig(directory=Path(tmp), fsync="batch", queue_max=1_000_000))
        stop = time.monotonic() + seconds
        counts = [0] * 16

        def caller(i: int) -> None:
            while time.monotonic() < stop:
                if writer.queue_depth < 50_000:  # back-pressure: a caller does not outrun the disk
                    writer.submit("call", dict(BODY))
                    counts[i] += 1
                else:
                    time.sleep(0.001)

        t0, c0 = time.monotonic(), time.process_time()
        threads = [threading.Thread(target=caller, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        writer.flush(timeout=120)
        elapsed, cpu = time.monotonic() - t0, time.process_time() - c0
        writer.close()
        return sum(counts) / elapsed, cpu / sum(counts) * 1e6


def _durable_single(records: int) -> tuple[float, float]:
    """(durable records per second, whole-process CPU µs per record)."""
    from mcp_comply.audit.writer import AuditWriter, WriterConfig

    with tempfile.TemporaryDirectory() as tmp:
        writer = AuditWriter(WriterConfig(directory=Path(tmp), fsync="always"))
        done = threading.Event()
        t0, c0 = time.monotonic(), time.process_time()
        for _ in range(records):
            done.clear()
            writer.submit("call", dict(BODY), waiter=lambda ok: done.set())
            done.wait()
        elapsed, cpu = time.monotonic() - t0, time.process_time() - c0
        writer.close()
        return records / elapsed, cpu / records * 1e6


def _make_log(directory: Path, records: int) -> None:
    from mcp_comply.audit.writer import AuditWriter, WriterConfig

    writer = AuditWriter(WriterConfig(directory=directory, fsync="never", checkpoint_every=10_000,
                                      queue_max=2_000_000))
    for _ in range(records):
        writer.submit("call", dict(BODY))
    writer.close(timeout=600)


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its waited-for children (verify's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _verify_rate(directory: Path, strict: bool) -> tuple[float, float]:
    """(records per second, wall; CPU µs per record, this process and its workers)."""
    from mcp_comply.audit.verify import verify_directory

    t0, c0 = time.perf_counter(), _cpu_with_children()
    report = verify_directory(directory, strict_json=strict)
    elapsed, cpu = time.perf_counter() - t0, _cpu_with_children() - c0
    assert report.intact, report.findings
    records = sum(c.records for c in report.chains)
    return records / elapsed, cpu / records * 1e6


def _hwm_kib() -> int:
    """Peak resident set of this process (VmHWM; unlike ru_maxrss it starts afresh at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _verify_rss_child(directory: str) -> None:
    from mcp_comply.audit.verify import verify_directory

    before = _hwm_kib()
    verify_directory(Path(directory))
    print(before, _hwm_kib())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rss-child")
    args = parser.parse_args()
    if args.rss_child:
        _verify_rss_child(args.rss_child)
        return
    rounds = 3 if args.quick else 5
    rp = [_request_path(5_000 if args.quick else 20_000) for _ in range(rounds)]
    base, audited = statistics.median(r[0][0] for r in rp), statistics.median(r[1][0] for r in rp)
    base_paced, audited_paced = statistics.median(r[0][1] for r in rp), statistics.median(r[1][1] for r in rp)
    whole = {k: (statistics.median(r[i][2] for r in rp), statistics.median(r[i][3] for r in rp))
             for i, k in enumerate(("alone", "audit"))}
    added_whole = sorted(r[1][2] - r[0][2] for r in rp)
    sus = [_sustained(2.0 if args.quick else 4.0) for _ in range(rounds)]
    dur = [_durable_single(500 if args.quick else 2000) for _ in range(rounds)]
    sustained, sustained_cpu = statistics.median(s[0] for s in sus), statistics.median(s[1] for s in sus)
    durable, durable_cpu = statistics.median(d[0] for d in dur), statistics.median(d[1] for d in dur)
    with tempfile.TemporaryDirectory() as tmp:
        small, big = Path(tmp) / "small", Path(tmp) / "big"
        _make_log(small, 100_000)
        _make_log(big, 400_000 if not args.quick else 200_000)
        runs = [(_verify_rate(big, True), _verify_rate(big, False)) for _ in range(3)]  # interleaved
        strict, strict_cpu = (statistics.median(r[0][i] for r in runs) for i in (0, 1))
        fast, fast_cpu = (statistics.median(r[1][i] for r in runs) for i in (0, 1))
        rss = {}
        for name, path in (("100k", small), ("big", big)):
            out = subprocess.run([sys.executable, __file__, "--rss-child", str(path)], capture_output=True,
                                 text=True, check=True)
            before, after = (int(x) for x in out.stdout.split())
            rss[name] = (before, after)
        line_bytes = sum(p.stat().st_size for p in (big / "chain-0").glob("segment-*.jsonl"))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; {rounds} rounds, medians\n")
    print("| figure | value | target | met? |")
    print("|---|---:|---|---|")
    added, added_paced = audited - base, audited_paced - base_paced
    print(f"| request path, paced (median per call): middleware alone / with audit sink | "
          f"{base_paced:.1f} / {audited_paced:.1f} µs | — | — |")
    print(f"| **request-path cost of auditing**, paced, median per call, redaction included | {added_paced:.1f} µs "
          f"| ≤ 15 µs | {'yes' if added_paced <= 15 else 'no'} |")
    print(f"| request path, saturated (back-to-back calls, mean): alone / with audit sink | "
          f"{base:.1f} / {audited:.1f} µs | — | — |")
    print(f"| request-path cost of auditing, saturated mean | {added:.1f} µs | ≤ 15 µs | "
          f"{'yes' if added <= 15 else 'no'} |")
    print(f"| whole process, saturated, writer's flush included: alone / with audit sink, CPU µs per call | "
          f"{whole['alone'][0]:.1f} / {whole['audit'][0]:.1f} (wall {whole['alone'][1]:.1f} / "
          f"{whole['audit'][1]:.1f}) | — | — |")
    print(f"| **whole-process CPU added by auditing**, saturated, per round, median (min-max) | "
          f"{statistics.median(added_whole):.1f} µs ({added_whole[0]:.1f} to {added_whole[-1]:.1f}) | — | — |")
    print(f"| sustained, batch fsync, 16 callers (whole-process CPU per record) | {sustained:,.0f} records/s "
          f"({sustained_cpu:.1f} µs) | ≥ 20,000/s | {'yes' if sustained >= 20_000 else 'no'} |")
    print(f"| durable, fsync always, 1 caller (whole-process CPU per record) | {durable:,.0f} records/s "
          f"({durable_cpu:.1f} µs) | ≥ 2,000/s | {'yes' if durable >= 2_000 else 'no'} |")
    print(f"| verify, strict JSON (default), wall (CPU per record, workers included) | {strict:,.0f} records/s "
          f"({strict_cpu:.1f} µs) | ≥ 250,000/s | {'yes' if strict >= 250_000 else 'no'} |")
    print(f"| verify --fast, wall (CPU per record, workers included) | {fast:,.0f} records/s ({fast_cpu:.1f} µs) "
          f"| ≥ 250,000/s | {'yes' if fast >= 250_000 else 'no'} |")
    print(f"| verify peak RSS, 100k records / {'400k' if not args.quick else '200k'} records | "
          f"{rss['100k'][1] / 1024:.1f} / {rss['big'][1] / 1024:.1f} MiB (interpreter + imports: "
          f"{rss['100k'][0] / 1024:.1f} MiB) | constant | "
          f"{'yes' if rss['big'][1] - rss['100k'][1] < 4096 else 'no'} |")
    print(f"\nLog line size: {line_bytes / (400_000 if not args.quick else 200_000):.0f} bytes on average.")


if __name__ == "__main__":
    main()
