"""Two experiments behind BENCHMARKS.md's "Audit CPU per call": what our request-path functions cost
inside a running server, and what the writer's work would cost on the event loop instead of its thread.

    python benchmarks/bench_audit_parts.py parts            # about 10 seconds
    python benchmarks/bench_audit_parts.py onloop --rounds 3   # about a minute

``parts``: one ``bench_calls.py`` child (one in-process client, audit with fsync batch) with the
thread CPU clock read around ``Recorder.finish`` (the CallRecord, the request facts, metrics and
every sink), ``AuditSink.__call__`` (redaction and enqueue), ``SdkFacts.read`` and
``RequestMetrics.observe``: microseconds per call, as they run inside the server (cold caches).

``onloop``: per round, in turn, ``bare``, ``batch`` (the writer thread) and ``batch`` with the writer
thread replaced by a batch the event loop encodes, chains, writes and commits from a ``call_later``
every batch window (an experiment only: it blocks the loop during write and fsync, and it is not how
the product works). Whole-process CPU per call of each.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _timed(cls: Any, name: str, totals: dict[str, float], key: str) -> None:
    original = getattr(cls, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            totals[key] += time.thread_time() - start

    setattr(cls, name, timed)


def _parts_child(seconds: float) -> None:
    from mcp_comply.audit.sink import AuditSink
    from mcp_comply.instrument._context import SdkFacts
    from mcp_comply.instrument._core import Recorder
    from mcp_comply.instrument._metrics import RequestMetrics

    totals = {"finish": 0.0, "sink": 0.0, "read": 0.0, "observe": 0.0}
    _timed(Recorder, "finish", totals, "finish")
    _timed(AuditSink, "__call__", totals, "sink")
    _timed(SdkFacts, "read", totals, "read")
    _timed(RequestMetrics, "observe", totals, "observe")
    sys.path.insert(0, str(HERE))
    import bench_calls

    bench_calls._child("batch", seconds, 1)  # prints its own JSON line first
    print(json.dumps(totals))


def _onloop_child(seconds: float) -> None:
    import asyncio

    from mcp_comply.audit import writer as w

    w.AuditWriter._run = lambda self: None  # type: ignore[method-assign]  # no writer thread work

    def submit(self: Any, kind: str, body: Any, waiter: Any = None) -> bool:
        pending: list[Any] = self.__dict__.setdefault("_pending", [])
        pending.append(w._Item(kind, body, self.config.clock(), waiter))
        if len(pending) == 1:
            def commit() -> None:
                batch = list(pending)
                pending.clear()
                self._write_batch(batch)
                self._housekeeping(force_sync=False)

            asyncio.get_running_loop().call_later(self.config.batch_window_s, commit)
        return True

    w.AuditWriter.submit = submit  # type: ignore[method-assign]
    sys.path.insert(0, str(HERE))
    import bench_calls

    bench_calls._child("batch", seconds, 1)


def _run(args: list[str]) -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True,
                         env={**os.environ, "MCP_COMPLY_LOG_LEVEL": "error"})
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("parts", "onloop"))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=("parts", "onloop"))
    args = parser.parse_args()
    if args.child == "parts":
        _parts_child(args.seconds)
        return
    if args.child == "onloop":
        _onloop_child(args.seconds)
        return
    if args.what == "parts":
        run, totals = _run(["parts", "--child", "parts", "--seconds", str(args.seconds)])
        print(f"{run['calls']} calls; thread CPU µs per call inside the server:")
        for key, label in (("finish", "Recorder.finish (CallRecord, facts, metrics, sinks)"),
                           ("sink", "AuditSink.__call__ (redaction, enqueue)"), ("read", "SdkFacts.read"),
                           ("observe", "RequestMetrics.observe")):
            print(f"  {label}: {totals[key] / run['calls'] * 1e6:.1f}")
        return
    bench = str(HERE / "bench_calls.py")
    print("| round | bare | batch (writer thread) | batch on the event loop |  (whole-process CPU µs per call)")
    print("|---:|---:|---:|---:|")
    for n in range(args.rounds):
        cells = []
        for cmd in (["--child", "bare"], ["--child", "batch"]):
            out = subprocess.run([sys.executable, bench, *cmd, "--seconds", str(args.seconds), "--clients", "1"],
                                 capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            cells.append(result["cpu"] / result["calls"] * 1e6)
        (onloop,) = _run(["onloop", "--child", "onloop", "--seconds", str(args.seconds)])
        cells.append(onloop["cpu"] / onloop["calls"] * 1e6)
        print(f"| {n + 1} | " + " | ".join(f"{c:,.0f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
