"""Verification speed against its limit: one SHA-256 pass over the same lines.

    python benchmarks/bench_verify.py                   # 200,000 records, 5 interleaved rounds
    python benchmarks/bench_verify.py --records 50000 --rounds 3

Builds a log with the real writer (fsync never, the request body of bench_audit.py), then
interleaves, per round: a plain pass that reads every line and hashes it once with SHA-256 (the
limit the issue sets verification against), ``verify_directory`` strict (default) and ``--fast``.
Each figure is whole-process CPU time (``time.process_time``: all threads) and wall time; the
ratios are per round, reported as median and range.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MCP_COMPLY_LOG_LEVEL", "error")


def _sha_pass(directory: Path) -> int:
    count = 0
    for chain in sorted(directory.glob("chain-*")):
        for segment in sorted(chain.glob("segment-*.jsonl")):
            with segment.open("rb", buffering=1 << 20) as fh:
                for line in fh:
                    hashlib.sha256(line).digest()
                    count += 1
    return count


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from bench_audit import _make_log

    from mcp_comply.audit.verify import verify_directory

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "audit"
        _make_log(directory, args.records)
        lines = _sha_pass(directory)

        def strict() -> None:
            assert verify_directory(directory).intact

        def fast() -> None:
            assert verify_directory(directory, strict_json=False).intact

        runs: dict[str, list[tuple[float, float]]] = {"sha256 pass": [], "verify": [], "verify --fast": []}
        for _ in range(args.rounds):
            runs["sha256 pass"].append(_timed(lambda: _sha_pass(directory)))
            runs["verify"].append(_timed(strict))
            runs["verify --fast"].append(_timed(fast))
    print(f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; {lines:,} lines, "
          f"{args.rounds} interleaved rounds\n")
    print("| pass | lines/s (CPU, median, range) | lines/s (wall) | speed vs the SHA-256 pass (CPU) |")
    print("|---|---|---|---|")
    base = [cpu for cpu, _ in runs["sha256 pass"]]
    for name, values in runs.items():
        cpu_rate = [lines / cpu for cpu, _ in values]
        wall_rate = [lines / wall for _, wall in values]
        ratio = [b / cpu for (cpu, _), b in zip(values, base, strict=True)]
        print(f"| {name} | {statistics.median(cpu_rate):,.0f} ({min(cpu_rate):,.0f}-{max(cpu_rate):,.0f}) | "
              f"{statistics.median(wall_rate):,.0f} | {statistics.median(ratio):.3f}x "
              f"({min(ratio):.3f}-{max(ratio):.3f}) |")


if __name__ == "__main__":
    main()
