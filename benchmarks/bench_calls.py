"""What a call costs with mcp-comply, whole process, and acknowledged durable calls per second.

    python benchmarks/bench_calls.py --clients 1 --variants bare,metrics,batch    # cost per call
    python benchmarks/bench_calls.py --clients 16 --variants bare,batch,always    # durable calls/s

One process per round and variant (a fresh interpreter, so no variant inherits another's warm-up):
an MCPServer served in-process to N SDK clients (in-memory transport) that call a tool as fast as
they can. Variants: ``bare`` (no mcp-comply), ``metrics`` (instrument(), no audit), ``batch``
(audit, fsync batch: a crash may lose the 10 ms window), ``always`` (audit, fsync always: each
response waits until its record is on disk; concurrent calls share fsyncs). Reported per variant:
acknowledged calls/s (wall), CPU per call of the whole process (all threads:
``time.process_time``), and fsyncs per second, median and range over the rounds; the rounds of all
variants interleave, and "vs bare" is each round's ratio to the bare run of the same round.
The CPU is also split by thread (each thread's own CPU clock): the event loop's thread (client,
server, middleware, redaction), the audit writer thread (record bodies, digests, JSON, hashes,
Merkle tiles, write, fsync), and the others (AnyIO's worker threads that run sync tools).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ("bare", "metrics", "batch", "always")


def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every live thread, by ident, with its class: loop, writer or other."""
    import threading

    main_ident = threading.main_thread().ident
    out: dict[int, tuple[str, float]] = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        try:
            cpu = time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        except OSError:  # ended meanwhile
            continue
        kind = ("loop" if thread.ident == main_ident else
                "writer" if thread.name.startswith("mcp-comply-audit") else "other")
        out[thread.ident] = (kind, cpu)
    return out


def _split(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    split = {"loop": 0.0, "writer": 0.0, "other": 0.0}
    for ident, (kind, cpu) in after.items():
        split[kind] += cpu - before.get(ident, (kind, 0.0))[1]
    return split


def _child(variant: str, seconds: float, clients: int) -> None:
    os.environ["MCP_COMPLY_LOG_LEVEL"] = "error"
    import anyio
    from mcp import Client
    from mcp.server.mcpserver import MCPServer
    from prometheus_client import CollectorRegistry

    server = MCPServer("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    fsyncs = [0]
    handle = None
    with tempfile.TemporaryDirectory() as tmp:
        if variant == "metrics":
            from mcp_comply import instrument

            handle = instrument(server, registry=CollectorRegistry(), env={})
        elif variant != "bare":
            from mcp_comply import instrument
            from mcp_comply.config import AuditPolicy, Policy

            handle = instrument(server, registry=CollectorRegistry(), audit_dir=Path(tmp) / "audit", env={},
                                policy=Policy(audit=AuditPolicy(fsync=variant)))  # type: ignore[arg-type]
            real_fsync = os.fsync

            def counting_fsync(fd: int) -> None:
                fsyncs[0] += 1
                real_fsync(fd)

            os.fsync = counting_fsync
        done = [0]

        async def one(client_no: int) -> None:
            async with Client(server) as client:
                await client.call_tool("add", {"a": -1, "b": client_no})  # warm-up: tools/list, validators
                ready.append(client_no)
                if len(ready) == clients:
                    all_ready.set()
                await go.wait()
                i = 0
                while time.monotonic() < stop_at[0]:
                    await client.call_tool("add", {"a": i, "b": client_no})
                    i += 1
                    done[0] += 1

        ready: list[int] = []
        all_ready, go = anyio.Event(), anyio.Event()
        stop_at = [float("inf")]
        measured: dict[str, float] = {}

        async def main() -> None:
            async with anyio.create_task_group() as group:
                for n in range(clients):
                    group.start_soon(one, n)
                await all_ready.wait()
                fsyncs[0] = 0
                threads[0] = _thread_cpu()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                stop_at[0] = time.monotonic() + seconds
                go.set()
            measured.update(cpu=time.process_time() - cpu0, wall=time.perf_counter() - wall0)
            measured.update(_split(threads[0], _thread_cpu()))

        threads: list[dict[int, tuple[str, float]]] = [{}]

        anyio.run(main)
        if handle is not None:
            handle.close()
    print(json.dumps({"calls": done[0], "fsyncs": fsyncs[0], **measured}))


def _run(variant: str, seconds: float, clients: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", variant, "--seconds", str(seconds),
                          "--clients", str(clients)], capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _fmt(values: list[float], digits: int = 0) -> str:
    return f"{statistics.median(values):,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--variants", default="bare,batch,always",
                        help=f"comma-separated, from {', '.join(VARIANTS)}; bare first (the reference)")
    parser.add_argument("--child", choices=VARIANTS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.seconds, args.clients)
        return
    variants = [v for v in args.variants.split(",") if v]
    if variants[:1] != ["bare"] or set(variants) - set(VARIANTS):
        parser.error(f"--variants must start with bare and name only {', '.join(VARIANTS)}")
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    for _ in range(args.rounds):
        for variant in variants:
            results[variant].append(_run(variant, args.seconds, args.clients))
    bare_cpu = [r["cpu"] / r["calls"] for r in results["bare"]]
    print(f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.rounds} interleaved rounds x {args.seconds:g} s, {args.clients} in-process clients\n")
    print("| variant | acknowledged calls/s | CPU µs per call (whole process) | vs bare CPU | fsyncs/s "
          "| loop / writer / other threads, CPU µs per call |")
    print("|---|---|---|---|---|---|")
    for variant in variants:
        rows = results[variant]
        rate = [r["calls"] / r["wall"] for r in rows]
        cpu = [r["cpu"] / r["calls"] * 1e6 for r in rows]
        ratio = [(r["cpu"] / r["calls"]) / b - 1 for r, b in zip(rows, bare_cpu, strict=True)]
        fsyncs = [r["fsyncs"] / r["wall"] for r in rows]
        split = " / ".join(f"{statistics.median(r[kind] / r['calls'] * 1e6 for r in rows):,.0f}"
                           for kind in ("loop", "writer", "other"))
        print(f"| {variant} | {_fmt(rate)} | {_fmt(cpu)} | {_fmt([x * 100 for x in ratio], 1)} % | "
              f"{_fmt(fsyncs) if variant not in ('bare', 'metrics') else '-'} | {split} |")


if __name__ == "__main__":
    main()
