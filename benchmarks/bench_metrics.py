"""Size, sample count and render time of ``/metrics`` for an instrumented server with 100 tools.

    python benchmarks/bench_metrics.py                          # this tree only
    python benchmarks/bench_metrics.py --before /tmp/main-src   # and another tree's src/, interleaved

One fresh interpreter per round and variant: an MCPServer with 100 tools, instrumented into a
fresh registry, is called in-process by the SDK's Client with every tool ok (3 times), a
validation error, a tool error, a crash (``exception``) and a protocol error (``protocol_error``),
plus unknown tool names. Then the registry is rendered with ``generate_latest`` (what the
``/metrics`` endpoint serves) 30 times; the round reports the size in bytes, the number of samples
and the median render time. The rounds of the variants interleave; reported: median and range.
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


def _child() -> None:
    os.environ["MCP_COMPLY_LOG_LEVEL"] = "error"
    import logging

    logging.disable(logging.CRITICAL)  # the SDK logs every failed call with a rich traceback
    import anyio
    from prometheus_client import CollectorRegistry, generate_latest

    from mcp_comply import instrument

    server = build_server()
    registry = CollectorRegistry()
    instrument(server, registry=registry, env={})
    anyio.run(call_everything, server)
    times = []
    body = b""
    for _ in range(RENDERS):
        start = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - start)
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    print(json.dumps({"bytes": len(body), "samples": samples, "render_ms": statistics.median(times) * 1000}))


def _run(src: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, __file__, "--child"], env=env, check=True, capture_output=True,
                         text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", type=Path, help="the src/ folder of the tree to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child()
        return
    variants = {"this tree": ROOT / "src"}
    if args.before is not None:
        variants = {"before": args.before.resolve(), **variants}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, src in variants.items():
            results[name].append(_run(src))
    print(f"{args.rounds} interleaved rounds, {TOOLS} tools, render = median of {RENDERS} generate_latest calls")
    print("| variant | bytes | samples | render ms, median (min-max of rounds) |\n|---|---:|---:|---:|")
    for name, rounds in results.items():
        ms = [r["render_ms"] for r in rounds]
        print(f"| {name} | {int(rounds[0]['bytes']):,} | {int(rounds[0]['samples']):,} | "
              f"{statistics.median(ms):.1f} ({min(ms):.1f}-{max(ms):.1f}) |")


if __name__ == "__main__":
    main()
