"""What our request-path functions cost inside a running server (BENCHMARKS.md, "Audit CPU per call").

    python benchmarks/bench_audit_parts.py            # about 10 seconds

One ``bench_calls.py`` child (one in-process client, audit with fsync batch) with the thread CPU
clock read around ``Recorder.finish`` (the CallRecord, the request facts, metrics and every sink),
``AuditSink.__call__`` (redaction and enqueue), ``SdkFacts.read`` and ``RequestMetrics.observe``:
microseconds per call, as they run inside the server (cold caches). What the writer's work would
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
                       ("observe", "RequestMetrics.observe")):
        print(f"  {label}: {totals[key] / run['calls'] * 1e6:.1f}")


if __name__ == "__main__":
    main()
