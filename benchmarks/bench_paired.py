"""CPU per in-process call of an instrumented server over a bare one, both in ONE process.

    python benchmarks/bench_paired.py                      # metrics only and span enrichment
    python benchmarks/bench_paired.py --variants aa        # the method's own noise: bare vs bare
    PYTHONPATH=src python benchmarks/bench_paired.py --before /tmp/before/src   # before/after, interleaved

Fresh processes differ by more than the effect measured here (a bare server's CPU per call varies
by a quarter between two interpreters on this VM), so comparing one process per variant cannot
decide a 2 % target. Here each process serves two MCPServer instances with the same tool, A (bare)
and B (treated), each to its own in-process SDK client, and alternates their calls in small
blocks (A B, B A, A B, ...; the order flips every pair so neither side always runs after the
other). A block's cost is the CPU of the whole process (``time.process_time``: all threads, user
and system) over its calls; a round's ratio is B's CPU over A's across the round's pairs. What
drifts (other processes, CPU frequency, the allocator) drifts for both sides alike.

``instrument()`` changes only the server it is given on mcp 2.x (middleware on that server's own
list, ``call_tool`` on that instance, metrics in the registry passed), so the bare server in the
same process runs exactly as without mcp-comply: ``--check`` asserts that.

Variants (each in its own processes, because OpenTelemetry allows one TracerProvider per process):

- ``metrics``: no OTel SDK; A bare, B ``instrument(server, registry=..., env={})``.
- ``enrich``: the OTel SDK configured (BatchSpanProcessor, discarding exporter), so the SDK's own
  ``OpenTelemetryMiddleware`` records a span on both; B also instrumented (our enrichment of it).
- ``audit``: no OTel SDK; B instrumented with the audit log on (``fsync: batch``, a temporary
  directory). Each B block ends with ``writer.flush()`` inside its measured CPU, so B pays for
  every record it caused (serialising, hashing, writing and one extra fsync per block: a
  conservative figure) and no writer work spills into the next A block.
- ``audit-always``: as ``audit`` with ``fsync: always`` (every call's record on disk before its
  answer).
- ``enrich-audit``: as ``enrich`` (the OTel SDK recording on both sides), B also with the audit log
  (``fsync: batch``): the issue's "full spans + audit" configuration.
- ``aa``: no OTel SDK, both bare: the spread of the ratio when there is nothing to find.

Printed: per variant, the median of the per-round ratios and their range, interquartile range and
a 95 % confidence interval of the median (order statistics), over all processes' rounds; and the
median per process (each with its own hash seed), so process-level effects show; the same for the
rounds' wall time (``perf_counter`` around each block). Then B's extra CPU
per call split by thread: the event loop's (``time.thread_time`` of the thread that runs both
servers and clients) and every other thread's (the rest of the process CPU: the audit writer, the
worker threads that run sync tools).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

VARIANTS = ("metrics", "enrich", "audit", "audit-always", "enrich-audit", "aa")


def _server(name: str) -> Any:
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name)

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    return server


def _state(server: Any) -> tuple[object, ...]:
    """What instrument() could have changed on a server: its middleware and its call_tool."""
    low = server._lowlevel_server
    return (tuple(type(m).__qualname__ for m in low.middleware), "call_tool" in vars(server),
            type(server).call_tool)


ABLATIONS = ("none", "sink", "enqueue", "encode", "checkpoints", "tiles", "fsync", "onloop")


def _ablate(part: str) -> None:
    """An experiment for the ``audit`` variant: leave one part of the audit work out (or, ``onloop``,
    do the writer's work on the event loop) to see what it costs. Not how the product runs."""
    from mcp_comply.audit import sink as s
    from mcp_comply.audit import writer as w

    if part == "sink":  # no redaction, no record: what instrument() with audit costs besides
        s.AuditSink.__call__ = lambda self, record: None  # type: ignore[method-assign]
    elif part == "enqueue":  # the sink's request-path work, but the writer gets nothing
        w.AuditWriter.submit = lambda self, kind, body, waiter=None: True  # type: ignore[method-assign]
    elif part == "encode":  # the writer writes a fixed line: no body, digests or JSON
        line = b'{"v":1}' + b" " * 790 + b"\n"
        w.AuditWriter._encode = lambda self, kind, body, unix, seq, prev: line  # type: ignore[method-assign]
    elif part == "checkpoints":
        w.AuditWriter._checkpoint = lambda self: True  # type: ignore[method-assign]
    elif part == "tiles":
        def no_tiles(self: Any, segments: Any) -> None:
            self._tiles = None
            self._state.leaf_sink = None

        w.AuditWriter._attach_tiles = no_tiles  # type: ignore[method-assign]
    elif part == "fsync":
        def no_sync(self: Any) -> bool:
            self._dirty = False
            return True

        w.AuditWriter._sync = no_sync  # type: ignore[method-assign]
    elif part == "onloop":
        import asyncio

        w.AuditWriter._run = lambda self: None  # type: ignore[method-assign]

        def commit(self: Any) -> None:
            pending = self.__dict__.setdefault("_pending", [])
            batch = list(pending)
            pending.clear()
            if batch:
                self._write_batch(batch)
            self._housekeeping(force_sync=False)

        def submit(self: Any, kind: str, body: Any, waiter: Any = None) -> bool:
            pending = self.__dict__.setdefault("_pending", [])
            pending.append(w._Item(kind, body, self.config.clock(), waiter))
            if len(pending) == 1:
                asyncio.get_running_loop().call_later(self.config.batch_window_s, commit, self)
            return True

        def flush(self: Any, timeout: float = 10.0) -> bool:
            commit(self)
            self._housekeeping(force_sync=True)
            return True

        w.AuditWriter.submit = submit  # type: ignore[method-assign]
        w.AuditWriter.flush = flush  # type: ignore[method-assign]


def _child(variant: str, rounds: int, pairs: int, block: int, check: bool, gc_mode: str,
           ablate: str = "none") -> None:
    os.environ["MCP_COMPLY_LOG_LEVEL"] = "error"
    import logging

    logging.disable(logging.WARNING)
    if variant.startswith("enrich"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_overhead import _configure_sdk  # the OTel SDK set-up bench_overhead.py measures with

        _configure_sdk()
    import anyio
    from mcp import Client
    from prometheus_client import CollectorRegistry

    bare, treated = _server("bench"), _server("bench")
    before = _state(bare)
    flush: Any = None
    tmp = tempfile.TemporaryDirectory()
    if "audit" in variant:
        _ablate(ablate)
        from mcp_comply import instrument
        from mcp_comply.config import AuditPolicy, Policy

        handle = instrument(treated, registry=CollectorRegistry(), env={}, audit_dir=Path(tmp.name) / "audit",
                            policy=Policy(audit=AuditPolicy(fsync="always" if variant == "audit-always" else "batch")))
        assert handle.audit is not None
        flush = handle.audit.writer.flush
    elif variant != "aa":
        from mcp_comply import instrument

        instrument(treated, registry=CollectorRegistry(), env={})
    if check:
        # instrument() on one instance leaves another instance of the same class as it was
        assert _state(bare) == before, (_state(bare), before)
        assert variant == "aa" or _state(treated) != before

    async def run() -> list[list[float]]:
        async with Client(bare) as client_a, Client(treated) as client_b:
            clients = (client_a, client_b)

            async def calls(side: int, n: int) -> tuple[float, float, float]:
                call = clients[side].call_tool
                cpu0, loop0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
                for i in range(n):
                    await call("add", {"a": i, "b": side})
                if side == 1 and flush is not None:
                    flush()  # the block's records written and committed, on its account
                return time.process_time() - cpu0, time.thread_time() - loop0, time.perf_counter() - wall0

            for _ in range(3):  # warm-up: validators, caches, the worker thread pool
                await calls(0, block)
                await calls(1, block)
            if gc_mode == "freeze":
                # What start-up allocated (the SDK, pydantic, OpenTelemetry) moves out of the
                # collector's reach, so a full collection no longer lands a 10-30 ms spike on
                # one side's block; collections of what the calls allocate still count.
                gc.collect()
                gc.freeze()
            out = []
            for r in range(rounds):
                # whole process; the event loop's thread alone; wall time
                cpu, loop, wall = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
                for p in range(pairs):
                    order = (0, 1) if (r * pairs + p) % 2 == 0 else (1, 0)
                    for side in order:
                        whole, own, elapsed = await calls(side, block)
                        cpu[side] += whole
                        loop[side] += own
                        wall[side] += elapsed
                out.append([*cpu, *loop, *wall])
            return out

    result = anyio.run(run)
    tmp.cleanup()
    if check:
        assert _state(bare) == before
    print(json.dumps({"rounds": result}))


def _quantile_ci(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95 % confidence interval of the median: order statistics around n/2."""
    ordered = sorted(values)
    n = len(ordered)
    half = 1.96 * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - half)), min(n - 1, math.ceil(n / 2 + half))
    return ordered[lo], ordered[hi]


def _pct(x: float) -> str:
    return f"{x * 100:+.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="metrics,enrich", help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--processes", type=int, default=4, help="fresh processes per variant (each its own seed)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per process")
    parser.add_argument("--pairs", type=int, default=4, help="A/B block pairs per round")
    parser.add_argument("--block", type=int, default=200, help="calls per block")
    parser.add_argument("--ablate", choices=ABLATIONS, default="none",
                        help="audit variant only, an experiment: leave one part of the audit work out "
                             "(onloop: the writer's work on the event loop)")
    parser.add_argument("--gc", choices=("freeze", "on"), default="freeze",
                        help="freeze: gc.freeze() after the warm-up (default); on: leave the collector as is")
    parser.add_argument("--check", action="store_true", help="assert the bare server is untouched")
    parser.add_argument("--before", metavar="SRC",
                        help="also run every process with PYTHONPATH=SRC (another tree's src), the two trees "
                             "alternating (order flipped every seed): before and after, interleaved")
    parser.add_argument("--child", choices=VARIANTS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.rounds, args.pairs, args.block, args.check, args.gc, args.ablate)
        return
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS):
        parser.error(f"--variants names only {', '.join(VARIANTS)}")
    if args.before is not None and not (Path(args.before) / "mcp_comply").is_dir():
        parser.error(f"--before {args.before}: not a src folder holding mcp_comply")
    # (label, PYTHONPATH for the children): this tree's as given, and the --before tree
    trees = [("", os.environ.get("PYTHONPATH"))]
    if args.before is not None:
        trees = [("before ", str(Path(args.before).resolve())), ("after ", os.environ.get("PYTHONPATH"))]
    rows = [f"{tree}{v}" for v in variants for tree, _ in trees]
    load0 = os.getloadavg()
    loads = [load0[0]]
    ratios: dict[str, list[list[float]]] = {r: [] for r in rows}
    wall_ratios: dict[str, list[float]] = {r: [] for r in rows}
    cpu_a: dict[str, list[float]] = {r: [] for r in rows}
    # B minus A per call, µs, per round: the event loop's thread, and every other thread
    split: dict[str, list[tuple[float, float]]] = {r: [] for r in rows}
    t0 = time.monotonic()
    for p in range(args.processes):
        for variant in variants:  # processes of the variants interleave too
            for tree, path in trees if p % 2 == 0 else trees[::-1]:
                env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                env["PYTHONHASHSEED"] = str(p)
                if path is not None:
                    env["PYTHONPATH"] = path
                out = subprocess.run([sys.executable, __file__, "--child", variant, "--rounds", str(args.rounds),
                                      "--pairs", str(args.pairs), "--block", str(args.block), "--gc", args.gc,
                                      "--ablate", args.ablate, *(["--check"] if args.check else [])],
                                     capture_output=True, text=True, check=True, env=env)
                rounds = json.loads(out.stdout.strip().splitlines()[-1])["rounds"]
                per_call = 1e6 / (args.pairs * args.block)
                row = f"{tree}{variant}"
                ratios[row].append([b / a - 1 for a, b, *_ in rounds])
                wall_ratios[row].extend(wb / wa - 1 for *_, wa, wb in rounds)
                cpu_a[row].extend(a * per_call for a, *_ in rounds)
                split[row].extend(((lb - la) * per_call, ((b - lb) - (a - la)) * per_call)
                                  for a, b, la, lb, *_ in rounds)
                loads.append(os.getloadavg()[0])
        print(f"process {p + 1}/{args.processes} done", file=sys.stderr)
    load1 = os.getloadavg()
    calls = args.pairs * args.block
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end (1-minute, {min(loads):.2f} to "
          f"{max(loads):.2f} between processes); {time.monotonic() - t0:.0f} s")
    print(f"{args.processes} processes x {args.rounds} rounds per variant; a round = {args.pairs} pairs of "
          f"{args.block}-call blocks (A B, B A, ...), {calls} calls per side\n")
    print("| variant | rounds | B vs A CPU per call: median | 95 % CI of median | interquartile | range "
          "| median per process | A's CPU µs per call |")
    print("|---|---:|---:|---|---|---|---|---:|")
    for variant in rows:
        flat = [x for proc in ratios[variant] for x in proc]
        q = statistics.quantiles(flat, n=4)
        lo, hi = _quantile_ci(flat)
        per_proc = ", ".join(f"{statistics.median(proc) * 100:+.1f}" for proc in ratios[variant])
        print(f"| {variant} | {len(flat)} | **{_pct(statistics.median(flat))}** | {_pct(lo)} to {_pct(hi)} "
              f"| {_pct(q[0])} to {_pct(q[2])} | {_pct(min(flat))} to {_pct(max(flat))} | {per_proc} % "
              f"| {statistics.median(cpu_a[variant]):,.0f} |")
    print("\nThe same rounds in wall time (B's wall time over A's, per round):\n")
    print("| variant | rounds | B vs A wall per call: median | 95 % CI of median | interquartile | range |")
    print("|---|---:|---:|---|---|---|")
    for variant in rows:
        flat = wall_ratios[variant]
        q = statistics.quantiles(flat, n=4)
        lo, hi = _quantile_ci(flat)
        print(f"| {variant} | {len(flat)} | {_pct(statistics.median(flat))} | {_pct(lo)} to {_pct(hi)} "
              f"| {_pct(q[0])} to {_pct(q[2])} | {_pct(min(flat))} to {_pct(max(flat))} |")
    print("\nB minus A, CPU µs per call, by thread (median over rounds, interquartile range):\n")
    print("| variant | the event loop's thread | every other thread (the audit writer, worker threads) |")
    print("|---|---|---|")
    for variant in rows:
        cols = []
        for k in (0, 1):
            values = [row[k] for row in split[variant]]
            q = statistics.quantiles(values, n=4)
            cols.append(f"{statistics.median(values):+.1f} ({q[0]:+.1f} to {q[2]:+.1f})")
        print(f"| {variant} | {cols[0]} | {cols[1]} |")
    if args.before is not None:
        print("\nAfter minus before, per seed (the two processes of one seed ran one after the other), "
              "in points of the per-process medians:\n")
        for variant in variants:
            diffs = [statistics.median(a) - statistics.median(b)
                     for a, b in zip(ratios[f"after {variant}"], ratios[f"before {variant}"], strict=True)]
            print(f"- {variant}: **{statistics.median(diffs) * 100:+.2f} points** (median; "
                  + ", ".join(f"{d * 100:+.1f}" for d in diffs) + ")")


if __name__ == "__main__":
    main()
