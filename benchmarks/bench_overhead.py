"""Request-path cost of mcp-comply: the middleware alone, and an in-process SDK round trip.

    python benchmarks/bench_overhead.py              # full run, prints a Markdown table
    python benchmarks/bench_overhead.py --quick      # fewer rounds and calls

Each (variant, round) runs in a fresh interpreter, rounds interleave the variants (A B C D,
A B C D, ...), and the reported figure is the median over rounds of each round's median cost per
call, as wall time (``perf_counter``) and as CPU time of the whole process (``process_time``: every
thread, user and system); differences and ratios are per round, with their range.
OpenTelemetry allows one global TracerProvider per process, which is why variants with the
OTel SDK configured need their own processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

MICRO = ("bare", "comply", "sdk-otel", "sdk-otel+comply")
ROUNDTRIP = ("bare", "comply", "sdk-otel", "sdk-otel+comply")


def _configure_sdk(*, synchronous: bool = False) -> None:
    """An OTel SDK whose spans record, exported to a discarding exporter: by a BatchSpanProcessor
    (its own thread, as deployed), or with ``synchronous`` a SimpleSpanProcessor (ended spans handed
    over in the caller's thread: no exporter thread to land its work in one count or another)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Discard()) if synchronous else BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)


Batch = tuple[float, float]  # (wall µs, whole-process CPU µs) per call over one batch


def _micro(variant: str, calls: int) -> list[Batch]:
    """Per-call µs of one middleware chain around a stub handler, in batches."""
    import asyncio
    from types import SimpleNamespace

    from opentelemetry import trace
    from prometheus_client import CollectorRegistry

    from mcp_comply.instrument._catalog import ToolCatalog
    from mcp_comply.instrument._context import SdkFacts
    from mcp_comply.instrument._core import Recorder
    from mcp_comply.instrument._metrics import Metrics
    from mcp_comply.instrument._sdk import AmbientCapture, ComplyMiddleware

    if variant.startswith("sdk-otel"):
        _configure_sdk()
    from mcp.server._otel import OpenTelemetryMiddleware
    from mcp.shared.exceptions import MCPError
    from pydantic import ValidationError

    result = {"content": [{"type": "text", "text": "3"}], "isError": False}

    async def handler(_ctx: Any) -> Any:
        return result

    info = SimpleNamespace(name="bench-client", version="1.0")
    session = SimpleNamespace(client_params=SimpleNamespace(client_info=info),
                              _connection=SimpleNamespace(state={}))
    ctx = SimpleNamespace(method="tools/call", params={"name": "add", "arguments": {"a": 1, "b": 2}},
                          request_id=7, request=None, meta=None, protocol_version="2026-07-28", session=session)
    recorder = Recorder(framework="bench", metrics=Metrics(CollectorRegistry()),
                        tracer=trace.get_tracer("bench"), catalog=ToolCatalog(live={"add": None}), sinks=[],
                        protocol_error=MCPError, params_error=ValidationError)
    chain: list[Any] = []
    if variant == "sdk-otel+comply":
        chain.append(AmbientCapture())  # instrument() adds it only once spans are recorded
    if variant.startswith("sdk-otel"):
        chain.append(OpenTelemetryMiddleware())
    if variant in ("comply", "sdk-otel+comply"):
        chain.append(ComplyMiddleware(recorder, SdkFacts(None, None), own_span=False, detail=True))

    def compose() -> Any:
        # The SDK's runner composes the chain with functools.partial; so does this.
        call = handler
        for mw in reversed(chain):
            call = partial(mw, call_next=call)
        return call

    call = compose()

    async def run() -> list[Batch]:
        for _ in range(2000):
            await call(ctx)
        batches = []
        batch = 1000
        for _ in range(max(1, calls // batch)):
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(batch):
                await call(ctx)
            batches.append(((time.perf_counter() - t0) / batch * 1e6, (time.process_time() - c0) / batch * 1e6))
        return batches

    return asyncio.run(run())


def _roundtrip(variant: str, calls: int) -> list[Batch]:
    """Per-call µs of `await client.call_tool("add", ...)` against an in-process MCPServer."""
    if variant.startswith("sdk-otel"):
        _configure_sdk()
    import anyio
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from prometheus_client import CollectorRegistry

    server = MCPServer("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        return a + b

    if variant in ("comply", "sdk-otel+comply"):
        from mcp_comply import instrument

        instrument(server, registry=CollectorRegistry(), env={})

    async def run() -> list[Batch]:
        async with Client(server) as client:
            for i in range(200):
                await client.call_tool("add", {"a": i, "b": 1})
            batches = []
            batch = 250
            for _ in range(max(1, calls // batch)):
                t0, c0 = time.perf_counter(), time.process_time()
                for i in range(batch):
                    await client.call_tool("add", {"a": i, "b": 1})
                batches.append(((time.perf_counter() - t0) / batch * 1e6,
                                (time.process_time() - c0) / batch * 1e6))
            return batches

    return anyio.run(run)


def _child(kind: str, variant: str, calls: int) -> None:
    os.environ["MCP_COMPLY_LOG_LEVEL"] = "error"
    import logging

    logging.disable(logging.WARNING)
    fn = _micro if kind == "micro" else _roundtrip
    print(json.dumps({"kind": kind, "variant": variant, "batches": fn(variant, calls)}))


def _run_child(kind: str, variant: str, calls: int) -> Batch:
    """(median wall µs, median CPU µs) per call over the child's batches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, __file__, "--child", kind, variant, "--calls", str(calls)],
                         capture_output=True, text=True, check=True, env=env)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return (float(statistics.median(b[0] for b in data["batches"])),
            float(statistics.median(b[1] for b in data["batches"])))


def _spread(values: list[float], fmt: str) -> str:
    """median (min to max)."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("KIND", "VARIANT"))
    parser.add_argument("--calls", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], args.calls)
        return

    rounds = 3 if args.quick else args.rounds
    micro_calls = 20_000 if args.quick else 100_000
    rt_calls = 500 if args.quick else 2_000
    results: dict[tuple[str, str], list[Batch]] = {}
    for r in range(rounds):
        for variant in MICRO:
            results.setdefault(("micro", variant), []).append(_run_child("micro", variant, micro_calls))
        for variant in ROUNDTRIP:
            results.setdefault(("roundtrip", variant), []).append(_run_child("roundtrip", variant, rt_calls))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}; load average {os.getloadavg()[0]:.2f} at the end")
    print(f"Rounds: {rounds} (interleaved, fresh process per variant and round); "
          f"micro {micro_calls} calls/round, round trip {rt_calls} calls/round\n")
    print("| measurement | variant | wall µs/call, median | CPU µs/call (whole process), median | "
          "CPU, all rounds (µs) |")
    print("|---|---|---:|---:|---|")
    for (kind, variant), values in results.items():
        walls, cpus = [v[0] for v in values], [v[1] for v in values]
        print(f"| {kind} | {variant} | {statistics.median(walls):.2f} | {statistics.median(cpus):.2f} | "
              f"{', '.join(f'{c:.2f}' for c in cpus)} |")

    def per_round(kind: str, a: str, b: str, i: int, ratio: bool) -> list[float]:
        pairs = zip(results[(kind, a)], results[(kind, b)], strict=True)
        return [(x[i] / y[i] - 1) * 100 if ratio else x[i] - y[i] for x, y in pairs]

    rows = (
        ("middleware added per request (comply - bare), no OTel SDK, µs", "micro", "comply", "bare", False,
         "≤ 5 µs"),
        ("middleware added per request with OTel SDK recording (sdk-otel+comply - sdk-otel), µs", "micro",
         "sdk-otel+comply", "sdk-otel", False, "—"),
        ("SDK's own OTel tracing middleware (sdk-otel - bare), µs", "micro", "sdk-otel", "bare", False,
         "ours must cost less"),
        ("in-process round trip, instrumented vs bare, %", "roundtrip", "comply", "bare", True, "≤ +2 %"),
        ("in-process round trip, SDK tracing vs bare, %", "roundtrip", "sdk-otel", "bare", True, "reference"),
        ("in-process round trip, SDK tracing + comply vs SDK tracing, %", "roundtrip", "sdk-otel+comply",
         "sdk-otel", True, "—"),
    )
    print("\n| figure (per round: median, min to max) | wall | CPU, whole process | target |")
    print("|---|---:|---:|---|")
    for label, kind, a, b, ratio, target in rows:
        fmt = "+.1f" if ratio else ".2f"
        print(f"| {label} | {_spread(per_round(kind, a, b, 0, ratio), fmt)} | "
              f"{_spread(per_round(kind, a, b, 1, ratio), fmt)} | {target} |")


if __name__ == "__main__":
    main()
