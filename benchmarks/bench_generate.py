"""Wall time of `mcp-comply generate --only dashboards,alerts` on the example project (this repo).

Each round runs the command in a fresh interpreter (what a release job pays, imports included),
writing into an empty folder, then once more with --check; plus the in-process build alone. The
rounds interleave the three commands; each reports wall time and the child process's CPU time
(user + system, from the rusage of the waited-for child).
Usage: PYTHONPATH=src python benchmarks/bench_generate.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


CPU: dict[str, list[float]] = {}


def timed(cmd: list[str], name: str = "") -> float:
    """Wall seconds of one run of ``cmd``; its CPU seconds (all threads) go to ``CPU[name]``."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, cmd)
    CPU.setdefault(name, []).append(usage.ru_utime + usage.ru_stime)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "mcp_comply.cli", "generate", "--only", "dashboards,alerts"]
    fresh, check, startup = [], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as out:
            startup.append(timed([sys.executable, "-c", "import mcp_comply.cli"], "startup"))
            fresh.append(timed([*cli, "--out", out], "fresh"))
            check.append(timed([*cli, "--out", out, "--check"], "check"))
    sys.path.insert(0, str(ROOT / "src"))
    from mcp_comply.generate import build, resolve_project

    project = resolve_project(ROOT)
    build(project, ["dashboards", "alerts"])  # warm imports
    builds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        artifacts = build(project, ["dashboards", "alerts"])
        builds.append(time.perf_counter() - start)
    size = sum(len(a.content) for a in artifacts)

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:.0f} ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"

    def row(name: str, values: list[float], cpu: list[float] | None) -> str:
        return f"| {name} | {ms(values)} | {ms(cpu) if cpu else '-'} |"

    print(f"{args.rounds} interleaved rounds; {len(artifacts)} files, {size / 1024:.0f} KiB")
    print("| measurement | wall ms, median (min-max) | CPU ms, median (min-max) |\n|---|---:|---:|")
    print(row("`generate --only dashboards,alerts` (fresh process, empty folder)", fresh, CPU["fresh"]))
    print(row("`generate ... --check` (fresh process)", check, CPU["check"]))
    print(row("interpreter start + `import mcp_comply.cli`", startup, CPU["startup"]))
    print(row(f"in-process build of all {len(artifacts)} files (imports warm)", builds, None))


if __name__ == "__main__":
    main()
