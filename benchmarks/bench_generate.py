"""Wall time of `mcp-comply generate --only dashboards,alerts` on the example project (this repo).

Each round runs the command in a fresh interpreter (what a release job pays, imports included),
writing into an empty folder, then once more with --check; plus the in-process build alone.
Usage: python benchmarks/bench_generate.py [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "mcp_comply.cli", "generate", "--only", "dashboards,alerts"]
    fresh, check, startup = [], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as out:
            startup.append(timed([sys.executable, "-c", "import mcp_comply.cli"]))
            fresh.append(timed([*cli, "--out", out]))
            check.append(timed([*cli, "--out", out, "--check"]))
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

    def row(name: str, values: list[float]) -> str:
        return (f"| {name} | {statistics.median(values) * 1000:.0f} | {min(values) * 1000:.0f} | "
                f"{max(values) * 1000:.0f} |")

    print(f"{args.rounds} rounds; {len(artifacts)} files, {size / 1024:.0f} KiB")
    print("| measurement | median ms | min ms | max ms |\n|---|---:|---:|---:|")
    print(row("`generate --only dashboards,alerts` (fresh process, empty folder)", fresh))
    print(row("`generate ... --check` (fresh process)", check))
    print(row("interpreter start + `import mcp_comply.cli`", startup))
    print(row(f"in-process build of all {len(artifacts)} files (imports warm)", builds))


if __name__ == "__main__":
    main()
