"""Size, sample count and render time of ``/metrics`` for an instrumented server with 100 tools.

    python benchmarks/bench_metrics.py                          # this tree only
    python benchmarks/bench_metrics.py --before /tmp/main-src   # and another tree's src/, interleaved

One fresh interpreter per round and variant: an MCPServer with 100 tools, instrumented into a
fresh registry, is called in-process by the SDK's Client with every tool ok (3 times), a
validation error, a tool error, a crash (``exception``) and a protocol error (``protocol_error``),
plus unknown tool names. Then the body the ``/metrics`` endpoint serves (``render_metrics``, with
the Accept header of a plain client and of Prometheus 2.42, which negotiates OpenMetrics) is
rendered: the first scrape once, then 30 more; each is timed as wall time and as CPU time of the
whole process (``time.process_time``, all threads). A round reports the size, the number of
samples, the first scrape and the median of the 30, and checks the body is byte for byte what
prometheus-client's own writer gives for that header. The rounds of the variants interleave;
reported: median and range over rounds, and per round the ratio to the first variant's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOOLS = 100
RENDERS = 30


def build_server(tools: int = TOOLS) -> Any:
    """An MCPServer with ``tools`` tools ``tool_000`` ... that succeed, fail or crash on request."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.shared.exceptions import MCPError

    server = MCPServer("bench-metrics")

    def make(name: str) -> None:
        def tool(n: int, mode: str = "ok") -> int:
            if mode == "fail":
                raise ToolError("refused")
            if mode == "crash":
                raise ZeroDivisionError("boom")
            if mode == "reject":
                raise MCPError(code=-32001, message="quota exceeded")
            return n + 1

        server.add_tool(tool, name=name, description=f"Tool {name}.")

    for i in range(tools):
        make(f"tool_{i:03d}")
    return server


async def call_everything(server: Any, tools: int = TOOLS) -> None:
    """Every tool: 3 ok, a validation error, a tool error, a crash and a protocol error; 5 unknown names."""
    from mcp import Client
    from mcp.shared.exceptions import MCPError

    async with Client(server) as client:
        for i in range(tools):
            name = f"tool_{i:03d}"
            for n in range(3):
                await client.call_tool(name, {"n": n})
            await client.call_tool(name, {"n": "not a number"})
            await client.call_tool(name, {"n": 0, "mode": "fail"})
            await client.call_tool(name, {"n": 0, "mode": "crash"})
            with contextlib.suppress(MCPError):
                await client.call_tool(name, {"n": 0, "mode": "reject"})
        for i in range(5):
            await client.call_tool(f"nope{i}", {})


# Accept headers: none (curl, a browser), and what Prometheus 2.42 sends (captured from a real scrape).
ACCEPTS = {"text": "", "openmetrics": ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                                       "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")}


def _timed(render: Any) -> tuple[bytes, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    body = render()
    return body, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _child(semconv_tool_label: bool) -> None:
    os.environ["MCP_COMPLY_LOG_LEVEL"] = "error"
    import logging

    logging.disable(logging.CRITICAL)  # the SDK logs every failed call with a rich traceback
    import anyio
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    from mcp_comply import instrument
    from mcp_comply.instrument._endpoints import render_metrics

    server = build_server()
    registry = CollectorRegistry()
    if semconv_tool_label:
        from mcp_comply.config import MetricsPolicy, Policy

        instrument(server, registry=registry, env={}, policy=Policy(metrics=MetricsPolicy(semconv_tool_label=True)))
    else:
        instrument(server, registry=registry, env={})
    anyio.run(call_everything, server)
    out: dict[str, Any] = {}
    for name, accept in ACCEPTS.items():
        body, first_wall, first_cpu = _timed(lambda a=accept: render_metrics(registry, a)[0])
        walls, cpus = [], []
        for _ in range(RENDERS):
            body, wall, cpu = _timed(lambda a=accept: render_metrics(registry, a)[0])
            walls.append(wall)
            cpus.append(cpu)
        samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
        out[name] = {"bytes": len(body), "samples": samples, "first_wall": first_wall, "first_cpu": first_cpu,
                     "wall": statistics.median(walls), "cpu": statistics.median(cpus),
                     "identical": body == choose_encoder(accept)[0](registry)}
    print(json.dumps(out))


def _run(src: Path, semconv_tool_label: bool = False) -> dict[str, dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    extra = ["--semconv-tool-label"] if semconv_tool_label else []
    out = subprocess.run([sys.executable, __file__, "--child", *extra], env=env, check=True, capture_output=True,
                         text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _spread(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, help="the src/ folder of the tree to compare with")
    parser.add_argument("--semconv-tool-label", action="store_true",
                        help="also this tree with the policy's metrics.semconv_tool_label: true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.semconv_tool_label)
        return
    label = "this tree, semconv_tool_label"
    variants = {"this tree": (ROOT / "src", False)}
    if args.before is not None:
        variants = {"before": (args.before.resolve(), False), **variants}
    if args.semconv_tool_label:
        variants[label] = (ROOT / "src", True)
    results: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name in variants}
    loads = []
    for _ in range(args.rounds):
        for name, (src, tool_label) in variants.items():
            results[name].append(_run(src, tool_label))
            loads.append(os.getloadavg()[0])
    print(f"{args.rounds} interleaved rounds, {TOOLS} tools, a scrape = median of {RENDERS} after the first; "
          f"load average {min(loads):.1f}-{max(loads):.1f}")
    print("| variant | Accept | bytes | samples | identical | first scrape ms wall / CPU | "
          "scrape ms wall | scrape ms CPU |\n|---|---|---:|---:|---|---:|---:|---:|")
    for name, rounds in results.items():
        for fmt in ACCEPTS:
            got = [r[fmt] for r in rounds]
            print(f"| {name} | {fmt} | {got[0]['bytes']:,} | {got[0]['samples']:,} | "
                  f"{'yes' if all(g['identical'] for g in got) else 'NO'} | "
                  f"{statistics.median(g['first_wall'] for g in got):.1f} / "
                  f"{statistics.median(g['first_cpu'] for g in got):.1f} | "
                  f"{_spread([g['wall'] for g in got])} | {_spread([g['cpu'] for g in got])} |")
    if "before" in variants:
        print("\nPer-round ratio this tree / before, median (min-max):\n\n| Accept | wall | CPU |\n|---|---:|---:|")
        for fmt in ACCEPTS:
            ratios = {kind: [after[fmt][kind] / before[fmt][kind]
                             for before, after in zip(results["before"], results["this tree"], strict=True)]
                      for kind in ("wall", "cpu")}
            print(f"| {fmt} | {_spread(ratios['wall'], 3)} | {_spread(ratios['cpu'], 3)} |")


if __name__ == "__main__":
    main()
