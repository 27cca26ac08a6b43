"""What instrument() adds to one in-process tool call, counted instead of timed: Python function
calls, C function calls, bytecodes, and (under callgrind) machine instructions.

    python benchmarks/bench_count.py                       # calls and bytecodes per call, by function
    python benchmarks/bench_count.py --otel                # the same with an OTel SDK (spans recording)
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p python3.11 benchmarks/bench_count.py \
        --callgrind bare,metrics,bare2                     # instructions per call (slow: minutes)
    ... --exact                                            # an async tool, no collection: steadier

(``python3.11`` must be the interpreter's own binary, not pyenv's shim script: valgrind does not
follow the shim's ``exec``.)

Counts do not drift with the machine's load, so they tell a change of a few hundred instructions
per call that timing on a busy 2-core VM cannot. Two servers in one process (as bench_paired.py):
A bare, B ``instrument(server, registry=..., env={})``, each with its own in-process SDK client,
the same sync tool (``add``); both warmed up first.

``sys.setprofile`` sees every Python and C call of the event loop's thread, ``sys.settrace`` with
``f_trace_opcodes`` every bytecode (worker threads are the same for both: they run ``add``).
Under valgrind (``--callgrind``), the instructions of each server's calls are dumped separately
(``callgrind_control -z``/``-d`` around them): ``grep summary /tmp/cg.*`` gives the totals, and a
second bare server (``bare2``) shows how much two identical servers differ.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import logging
import os
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from types import FrameType
from typing import Any, TypeAlias

Counter: TypeAlias = "collections.Counter[tuple[str, str]]"


ASYNC_TOOL = False
NO_GC = False


def _server(treated: bool) -> Any:
    from mcp.server.mcpserver import MCPServer
    from prometheus_client import CollectorRegistry

    server = MCPServer("bench")

    if ASYNC_TOOL:
        @server.tool()
        async def add(a: int, b: int) -> int:
            """Add."""
            for _ in range(3):  # suspended as often as a sync tool waiting for its worker thread
                await asyncio.sleep(0)
            return a + b
    else:
        @server.tool()
        def add(a: int, b: int) -> int:
            """Add."""
            return a + b

    if treated:
        from mcp_comply import instrument

        instrument(server, registry=CollectorRegistry(), env={})
    return server


def _where(frame: FrameType) -> tuple[str, str]:
    code = frame.f_code
    path = code.co_filename
    for marker in ("site-packages/", "/src/"):
        path = path.split(marker)[-1]
    return path, code.co_name


async def _run(names: list[str], calls: int, callgrind: bool) -> dict[str, tuple[Counter, Counter]]:
    from mcp import Client

    servers = {name: _server(not name.startswith("bare")) for name in names}
    out: dict[str, tuple[Counter, Counter]] = {}
    async with AsyncExitStack() as stack:
        clients = {name: await stack.enter_async_context(Client(server)) for name, server in servers.items()}
        for client in clients.values():  # warm-up: validators, caches, the worker thread pool
            for i in range(50):
                await client.call_tool("add", {"a": i, "b": 1})
        gc.collect()
        gc.freeze()
        if NO_GC:
            gc.disable()
        for name, client in clients.items():
            if callgrind:
                # blocking on purpose: the counters are zeroed before the calls, dumped after them
                subprocess.run(["callgrind_control", "-z", str(os.getpid())], check=True, capture_output=True)  # noqa: ASYNC221
                for i in range(calls):
                    await client.call_tool("add", {"a": i, "b": 1})
                subprocess.run(["callgrind_control", "-d", name, str(os.getpid())],  # noqa: ASYNC221
                               check=True, capture_output=True)
                continue
            functions: Counter = collections.Counter()
            opcodes: Counter = collections.Counter()

            def profile(frame: FrameType, event: str, arg: Any, functions: Counter = functions) -> None:
                if event == "call":
                    functions[_where(frame)] += 1
                elif event == "c_call":
                    functions["C", getattr(arg, "__qualname__", repr(arg))] += 1

            def trace(frame: FrameType, event: str, arg: Any, opcodes: Counter = opcodes) -> Any:
                frame.f_trace_opcodes = True
                if event == "opcode":
                    opcodes[_where(frame)] += 1
                return trace

            sys.setprofile(profile)
            for i in range(calls):
                await client.call_tool("add", {"a": i, "b": 1})
            sys.setprofile(None)
            sys.settrace(trace)
            for i in range(calls):
                await client.call_tool("add", {"a": i, "b": 1})
            sys.settrace(None)
            out[name] = functions, opcodes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="tool calls per server")
    parser.add_argument("--otel", action="store_true",
                        help="configure the OTel SDK first: spans record on both servers (the enrichment's cost)")
    parser.add_argument("--callgrind", metavar="SERVERS",
                        help="under valgrind: comma-separated servers (bare..., or metrics), one dump each")
    parser.add_argument("--exact", action="store_true",
                        help="an async tool that yields once (no worker thread, whose scheduling varies the event "
                             "loop's work) "
                             "and no cyclic collection during the counted calls: identical servers count "
                             "within a few instructions, for attributing a few hundred")
    args = parser.parse_args()
    global ASYNC_TOOL, NO_GC  # noqa: PLW0603 - the harness's two switches
    ASYNC_TOOL = NO_GC = args.exact
    os.environ["MCP_COMPLY_LOG_LEVEL"] = "error"
    logging.disable(logging.WARNING)
    import anyio

    if args.otel:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_overhead import _configure_sdk  # synchronous: no exporter thread in one count or another

        _configure_sdk(synchronous=True)
    if args.callgrind:
        anyio.run(_run, args.callgrind.split(","), args.calls, True)
        return
    counts = anyio.run(_run, ["bare", "metrics"], args.calls, False)
    (bare_f, bare_o), (ours_f, ours_o) = counts["bare"], counts["metrics"]
    n: int = args.calls

    def total(counter: Counter, c_calls: bool | None = None) -> float:
        return sum(v for k, v in counter.items() if c_calls is None or (k[0] == "C") == c_calls) / n

    print(f"per tool call, bare -> instrumented ({'spans recording' if args.otel else 'metrics only'}), "
          f"{n} calls each:")
    for what, a, b in (("Python function calls", total(bare_f, False), total(ours_f, False)),
                       ("C function calls", total(bare_f, True), total(ours_f, True)),
                       ("bytecodes", total(bare_o), total(ours_o))):
        print(f"  {what}: {a:,.0f} -> {b:,.0f} ({b - a:+,.0f}, {(b - a) / a * 100:+.1f} %)")
    for title, a_counter, b_counter in (("calls", bare_f, ours_f), ("bytecodes", bare_o, ours_o)):
        diff = collections.Counter(b_counter)
        diff.subtract(a_counter)
        print(f"\n{title} added per tool call, by function (|difference| >= 0.5):")
        for (where, name), value in sorted(diff.items(), key=lambda kv: -abs(kv[1])):
            if abs(value) >= n / 2:
                print(f"  {value / n:+7.1f}  {where}:{name}")


if __name__ == "__main__":
    main()
