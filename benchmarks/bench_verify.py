"""Verification speed against its limit: one SHA-256 pass over the same lines.

    python benchmarks/bench_verify.py                   # 200,000 records, 5 interleaved rounds
    python benchmarks/bench_verify.py --records 50000 --rounds 3 --variants fast,fast-1,sha

Builds a log with the real writer (fsync never, the request body of bench_audit.py), then
interleaves, per round, the variants asked for:

- ``sha``: a plain pass that reads every line and hashes it once with SHA-256 (the limit the issue
  sets verification against);
- ``hashes``: the hashing no verifier can leave out, in this process and nothing else: per block of
  lines, the chain hash and the RFC 6962 leaf hash of every line and the Merkle tree's interior
  nodes over the block's leaves (one per leaf, less one), each through ``map`` (the loops in C);
- ``strict`` / ``fast``: ``verify_directory`` (strict JSON, the default, and ``--fast``) as the CLI
  runs it: block scan in worker processes (one per CPU) started and stopped by the call;
- ``strict-1`` / ``fast-1``: the block scan in this process only (``jobs=1``);
- ``strict-0`` / ``fast-0``: line by line (``jobs=0``, the reference path and what verify did before).

Each figure is the CPU time of every process involved (``os.times``: this process and its waited-for
children, user + system) and wall time; the ratios to the SHA-256 pass are per round (wall to wall,
CPU to CPU), reported as median and range.

    python benchmarks/bench_verify.py --memory 100000,400000

Peak memory instead: for each log size, each of strict / --fast with workers and in one process runs
in a fresh interpreter, which prints its own peak RSS (VmHWM) and the largest peak RSS of its workers.
"""

from __future__ import annotations

import argparse
import hashlib
import operator
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MCP_COMPLY_LOG_LEVEL", "error")

VARIANTS = ("sha", "hashes", "strict", "fast", "strict-1", "fast-1", "strict-0", "fast-0")


def _sha_pass(directory: Path) -> int:
    count = 0
    for chain in sorted(directory.glob("chain-*")):
        for segment in sorted(chain.glob("segment-*.jsonl")):
            with segment.open("rb", buffering=1 << 20) as fh:
                for line in fh:
                    hashlib.sha256(line).digest()
                    count += 1
    return count


def _hashes_pass(directory: Path, block: int = 1 << 20) -> int:
    digest, leaf, node = operator.methodcaller("digest"), b"\x00".__add__, b"\x01".__add__
    count = 0
    for chain in sorted(directory.glob("chain-*")):
        for segment in sorted(chain.glob("segment-*.jsonl")):
            with segment.open("rb", buffering=0) as fh:
                rest = b""
                while data := fh.read(block):
                    lines = (rest + data).split(b"\n")
                    rest = lines.pop()
                    lines = [x + b"\n" for x in lines]
                    list(map(digest, map(hashlib.sha256, lines)))  # each line's hash: the next one's prev
                    level = list(map(digest, map(hashlib.sha256, map(leaf, lines))))
                    while len(level) > 1:
                        level = list(map(digest, map(hashlib.sha256, map(node, map(bytes.__add__, level[0::2],
                                                                                       level[1::2])))))
                    count += len(lines)
    return count


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = _cpu(), time.perf_counter()
    fn()
    return _cpu() - cpu, time.perf_counter() - wall


def _run(name: str, directory: Path) -> Callable[[], object]:
    from mcp_comply.audit.verify import verify_directory

    if name == "sha":
        return lambda: _sha_pass(directory)
    if name == "hashes":
        return lambda: _hashes_pass(directory)
    mode, _, jobs = name.partition("-")

    def verify() -> None:
        report = verify_directory(directory, strict_json=mode == "strict", jobs=int(jobs) if jobs else None)
        assert report.intact, report.findings

    return verify


def _hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # pragma: no cover - not Linux


def _rss_child(directory: str, mode: str) -> None:
    from mcp_comply.audit.verify import verify_directory

    strict, _, jobs = mode.partition("-")
    before = _hwm_kib()
    report = verify_directory(Path(directory), strict_json=strict == "strict", jobs=int(jobs) if jobs else None)
    assert report.intact, report.findings
    print(before, _hwm_kib(), resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def _memory(sizes: list[int]) -> None:
    from bench_audit import _make_log

    print("| records | mode | peak RSS after imports | peak RSS of verify | largest worker peak RSS |")
    print("|---:|---|---:|---:|---:|")
    for records in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "audit"
            _make_log(directory, records)
            for mode in ("strict", "fast", "strict-1", "fast-1"):
                out = subprocess.run([sys.executable, __file__, "--rss-child", str(directory), "--mode", mode],
                                     capture_output=True, text=True, check=True).stdout.split()
                before, after, workers = (int(x) / 1024 for x in out)
                print(f"| {records:,} | {mode} | {before:.1f} MiB | {after:.1f} MiB | "
                      + (f"{workers:.1f} MiB |" if workers else "- |"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)} (sha is always run)")
    parser.add_argument("--directory", type=Path, help="an existing log to verify instead of a new one")
    parser.add_argument("--memory", help="comma-separated log sizes: measure peak memory instead")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(args.rss_child, args.mode)
        return
    if args.memory:
        _memory([int(x) for x in args.memory.split(",")])
        return
    names = ["sha", *(v for v in args.variants.split(",") if v and v != "sha")]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    from bench_audit import _make_log

    with tempfile.TemporaryDirectory() as tmp:
        directory = args.directory or Path(tmp) / "audit"
        if args.directory is None:
            _make_log(directory, args.records)
        lines = _sha_pass(directory)
        size = sum(p.stat().st_size for p in directory.glob("chain-*/segment-*.jsonl"))
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                runs[name].append(_timed(_run(name, directory)))
    load = os.getloadavg()
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; {lines:,} lines "
          f"({size / lines:.0f} bytes each), {args.rounds} interleaved rounds; load average at the end "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| pass | lines/s (wall, median, range) | vs SHA-256 pass (wall) | CPU µs per line (all processes) "
          "| vs SHA-256 pass (CPU) |")
    print("|---|---|---|---|---|")
    base = runs["sha"]
    for name, values in runs.items():
        wall_rate = [lines / wall for _, wall in values]
        wall_ratio = [b[1] / wall for (_, wall), b in zip(values, base, strict=True)]
        cpu_us = [cpu / lines * 1e6 for cpu, _ in values]
        cpu_ratio = [b[0] / cpu for (cpu, _), b in zip(values, base, strict=True)]
        print(f"| {name} | {statistics.median(wall_rate):,.0f} ({min(wall_rate):,.0f}-{max(wall_rate):,.0f}) | "
              f"{statistics.median(wall_ratio):.3f}x ({min(wall_ratio):.3f}-{max(wall_ratio):.3f}) | "
              f"{statistics.median(cpu_us):.2f} ({min(cpu_us):.2f}-{max(cpu_us):.2f}) | "
              f"{statistics.median(cpu_ratio):.3f}x ({min(cpu_ratio):.3f}-{max(cpu_ratio):.3f}) |")


if __name__ == "__main__":
    main()
