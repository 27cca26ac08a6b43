"""Memory with the audit trail on: RSS after 10k calls against RSS after 100k calls.

    python benchmarks/bench_memory.py                  # 100,000 calls (about two minutes)
    python benchmarks/bench_memory.py --calls 30000

An instrumented MCPServer (audit on, fsync batch) served in-process to one SDK client calling a tool
with a different argument each time. RSS (``/proc/self/statm``) is read after a flush of the audit
queue and a garbage collection, at every tenth of the run; the report gives the growth from the
10k-call mark (or the first tenth) to the end, in total and per call, and the largest allocation
sites that grew (``tracemalloc``, top 5) so a growth has a name.
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import tracemalloc
from pathlib import Path

os.environ.setdefault("MCP_COMPLY_LOG_LEVEL", "error")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _anon() -> int:
    """The anonymous part of RSS (heap and thread stacks; not the mapped files)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--trace", action="store_true", help="also name the allocation sites that grew")
    args = parser.parse_args()
    import anyio
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from prometheus_client import CollectorRegistry

    from mcp_comply import instrument

    server = MCPServer("memory")

    @server.tool()
    def echo(text: str, n: int) -> str:
        """Echo."""
        return text

    marks: list[tuple[int, int, int, int]] = []
    first_mark = min(10_000, args.calls // 10)
    with tempfile.TemporaryDirectory() as tmp:
        handle = instrument(server, registry=CollectorRegistry(), audit_dir=Path(tmp) / "audit", env={})
        assert handle.audit is not None
        snapshot = None

        async def run() -> None:
            nonlocal snapshot
            async with Client(server) as client:
                for i in range(1, args.calls + 1):
                    await client.call_tool("echo", {"text": f"request {i}", "n": i})
                    if i == first_mark or i % (args.calls // 10) == 0:
                        assert handle.audit is not None
                        handle.audit.writer.flush(60)
                        gc.collect()
                        traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else -1
                        marks.append((i, _rss(), _anon(), traced))
                        if i == first_mark and args.trace:
                            tracemalloc.start(10)
                            snapshot = tracemalloc.take_snapshot()

        anyio.run(run)
        top = []
        if snapshot is not None:
            top = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")[:5]
        handle.close()
    start_calls, start_rss = next((c, r) for c, r, _, _ in marks if c == first_mark)
    end_calls, end_rss, _, _ = marks[-1]
    print("| calls | RSS (MiB) | of which anonymous (MiB) | Python heap traced since the first mark (KiB) |")
    print("|---:|---:|---:|---:|")
    for calls, rss, anon, traced in marks:
        shown = f"{traced / 1024:.0f}" if traced >= 0 else "-"
        print(f"| {calls:,} | {rss / 2**20:.2f} | {anon / 2**20:.2f} | {shown} |")
    growth = end_rss - start_rss
    print(f"\ngrowth from {start_calls:,} to {end_calls:,} calls: {growth / 2**20:+.2f} MiB "
          f"({growth / (end_calls - start_calls):+.1f} bytes per call)")
    for stat in top:
        print(f"  {stat}")


if __name__ == "__main__":
    main()
