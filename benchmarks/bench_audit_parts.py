"""What our request-path functions cost inside a running server (BENCHMARKS.md, "Audit CPU per call").

    python benchmarks/bench_audit_parts.py            # about 10 seconds

One ``bench_calls.py`` child (one in-process client, audit with fsync batch) with the thread CPU
clock read around ``Recorder.finish`` (the CallRecord, the request facts, metrics and every sink),
``AuditSink.__call__`` (redaction and enqueue), ``SdkFacts.read`` and ``RequestMetrics.observe``,
and on the writer thread around ``AuditSink._members`` (a call record's body text, its two keyed
digests included), ``AuditSink._digest_field`` (the keyed digests alone), ``ChainState.advance``
(leaf hash, Merkle frontier, tiles) and ``AuditWriter._sync`` (the fsync): microseconds per call, as
they run inside the server (cold caches; the wrappers that read the clocks add about 1 µs each).
Run it with ``PYTHONPATH=<another tree>/src`` to measure that tree's code the same way. What the writer's work would
cost on the event loop instead of its thread: ``bench_paired.py --variants audit --ablate onloop``.
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


def _child(seconds: float) -> None:
    from mcp_comply.audit._segments import ChainState
    from mcp_comply.audit.sink import AuditSink
    from mcp_comply.audit.writer import AuditWriter
    from mcp_comply.instrument._context import SdkFacts
    from mcp_comply.instrument._core import Recorder
    from mcp_comply.instrument._metrics import RequestMetrics

    totals = {"finish": 0.0, "sink": 0.0, "read": 0.0, "observe": 0.0, "members": 0.0, "digests": 0.0,
              "advance": 0.0, "sync": 0.0}
    _timed(Recorder, "finish", totals, "finish")
    _timed(AuditSink, "__call__", totals, "sink")
    _timed(SdkFacts, "read", totals, "read")
    _timed(RequestMetrics, "observe", totals, "observe")
    _timed(AuditSink, "_members", totals, "members")
    _timed(AuditSink, "_digest_field", totals, "digests")
    _timed(ChainState, "advance", totals, "advance")
    _timed(AuditWriter, "_sync", totals, "sync")
    sys.path.insert(0, str(HERE))
    import bench_calls

    bench_calls._child("batch", seconds, 1)  # prints its own JSON line first
    print(json.dumps(totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        _child(args.seconds)
        return
    out = subprocess.run([sys.executable, __file__, "--child", "--seconds", str(args.seconds)], capture_output=True,
                         text=True, check=True, env={**os.environ, "MCP_COMPLY_LOG_LEVEL": "error"})
    run, totals = (json.loads(line) for line in out.stdout.splitlines() if line.startswith("{"))
    print(f"{run['calls']} calls; thread CPU µs per call inside the server:")
    for key, label in (("finish", "Recorder.finish (CallRecord, facts, metrics, sinks)"),
                       ("sink", "AuditSink.__call__ (redaction, enqueue)"), ("read", "SdkFacts.read"),
                       ("observe", "RequestMetrics.observe"),
                       ("members", "writer thread: AuditSink._members (body text, digests included)"),
                       ("digests", "writer thread: AuditSink._digest_field (both keyed digests)"),
                       ("advance", "writer thread: ChainState.advance (leaf, frontier, tiles)"),
                       ("sync", "writer thread: AuditWriter._sync (fsync)")):
        print(f"  {label}: {totals[key] / run['calls'] * 1e6:.1f}")


if __name__ == "__main__":
    main()
