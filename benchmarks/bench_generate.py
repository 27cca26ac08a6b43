"""Wall and CPU time of `mcp-comply generate --only dashboards,alerts`, whole process.

Each round runs the installed console script (`mcp-comply`, what a release job runs) in a fresh
process on this repository's project (its `[tool.mcp-comply]` and policy), into an empty folder,
then once more with --check against what it wrote; and `import mcp_comply.cli` alone. With
``--before SRC`` (another tree's src/ folder, e.g. main's) every round runs the same commands with
that code too, alternating which goes first, so machine noise falls on both alike; the figures are
medians over rounds with min-max, and the per-round ratio this tree / before. CPU is user + system
time of the child (all threads), from the rusage of the waited-for process.

    python benchmarks/bench_generate.py                       # --rounds N (default 15)
    python benchmarks/bench_generate.py --before /tmp/main/src
    python benchmarks/bench_generate.py --stages              # where this tree's CPU goes

``--stages`` runs the command's steps cumulatively, each in a fresh process (interleaved rounds),
and prints the CPU time each step adds: what the profile says, without a profiler's overhead.
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
COMMANDS = ("generate", "generate --check", "import mcp_comply.cli")


def _script() -> list[str]:
    """The installed console script next to this interpreter, else the same entry point via -c."""
    script = Path(sys.executable).parent / "mcp-comply"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from mcp_comply.cli import main; sys.exit(main())"]


def timed(cmd: list[str], src: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one run of ``cmd`` with ``src`` first on the path; it must exit 0."""
    env = dict(os.environ, PYTHONPATH=str(src))
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} with {src} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def one_round(src: Path) -> dict[str, tuple[float, float]]:
    cli = [*_script(), "generate", "--only", "dashboards,alerts"]
    with tempfile.TemporaryDirectory() as out:
        return {
            "generate": timed([*cli, "--out", out, "--quiet"], src),
            "generate --check": timed([*cli, "--out", out, "--check"], src),
            "import mcp_comply.cli": timed([sys.executable, "-c", "import mcp_comply.cli"], src),
        }


# Each stage does everything the previous one did, then one more step of `generate`.
_STAGES = {
    "interpreter start (`python -c pass`, site included)": "",
    "import mcp_comply.cli, build the parser, parse": (
        "from mcp_comply import cli\n"
        "args = cli._parser(ARGV).parse_args(ARGV)\n"),
    "import PyYAML": "import yaml\n",
    "import pydantic (BaseModel)": "from pydantic import BaseModel\n",
    "define the 15 policy and config models (import mcp_comply.config)": "import mcp_comply.config\n",
    "resolve the project: read pyproject and the policy, validate both": (
        "from mcp_comply.generate import resolve_project\n"
        "project = resolve_project()\n"),
    "import the dashboard and rule builders": "from mcp_comply.generate import dashboards, rules\n",
    "build the 10 files (JSON, SVG, YAML)": (
        "from mcp_comply.generate import build\n"
        "build(project, ['dashboards', 'alerts'])\n"),
}
_CPU = "import resource\nu = resource.getrusage(resource.RUSAGE_SELF)\nprint(u.ru_utime + u.ru_stime)\n"


def stages(rounds: int, trees: dict[str, Path]) -> None:
    argv = "ARGV = ['generate', '--only', 'dashboards,alerts', '--quiet']\n"
    codes, code = {}, argv
    for name, step in _STAGES.items():
        code += step
        codes[name] = code + _CPU
    cpu: dict[tuple[str, str], list[float]] = {(tree, name): [] for tree in trees for name in codes}
    for _ in range(rounds + 1):  # the first round warms the .pyc files and is not counted
        for name, source in codes.items():
            for tree, src in trees.items():
                env = dict(os.environ, PYTHONPATH=str(src))
                out = subprocess.run([sys.executable, "-c", source], cwd=ROOT, env=env, capture_output=True, text=True,
                                     check=True).stdout
                cpu[tree, name].append(float(out))
    print(f"{rounds} interleaved rounds, CPU of the whole process; load average {os.getloadavg()[0]:.1f} at the end\n")
    print("| step | " + " | ".join(f"{tree}: CPU ms (cumulative), median | adds" for tree in trees) + " |")
    print("|---|" + "---:|---:|" * len(trees))
    previous = dict.fromkeys(trees, 0.0)
    for name in codes:
        cells = []
        for tree in trees:
            median = statistics.median(cpu[tree, name][1:])
            cells.append(f"{median * 1000:.0f} | {(median - previous[tree]) * 1000:+.0f}")
            previous[tree] = median
        print(f"| {name} | " + " | ".join(cells) + " |")


def _spread(values: list[float], scale: float = 1000, digits: int = 0) -> str:
    return (f"{statistics.median(values) * scale:.{digits}f} "
            f"({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})")


def _in_process(rounds: int) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from mcp_comply.generate import build, resolve_project

    project = resolve_project(ROOT)
    build(project, ["dashboards", "alerts"])  # warm the imports
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        build(project, ["dashboards", "alerts"])
        times.append(time.perf_counter() - start)
    return _spread(times, digits=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", type=Path, help="the src/ folder of the tree to compare with")
    parser.add_argument("--stages", action="store_true", help="the CPU each step of the command adds")
    args = parser.parse_args()
    trees = {"this tree": ROOT / "src"}
    if args.before is not None:
        trees = {"before": args.before.resolve(), **trees}
    if args.stages:
        stages(args.rounds, trees)
        return
    for src in trees.values():  # warm the file cache and the .pyc files
        one_round(src)
    results: dict[str, list[dict[str, tuple[float, float]]]] = {name: [] for name in trees}
    names = list(trees)
    for i in range(args.rounds):
        for name in names[i % len(names):] + names[:i % len(names)]:
            results[name].append(one_round(trees[name]))
    print(f"{args.rounds} interleaved rounds; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; load average "
          f"{os.getloadavg()[0]:.1f} at the end\n")
    print("| tree | command | wall ms, median (min-max) | CPU ms, median (min-max) |\n|---|---|---:|---:|")
    for name, rounds in results.items():
        for command in COMMANDS:
            walls, cpus = [r[command][0] for r in rounds], [r[command][1] for r in rounds]
            print(f"| {name} | `{command}` | {_spread(walls)} | {_spread(cpus)} |")
    print(f"\nIn-process build of the same files, imports warm (this tree): {_in_process(args.rounds)} ms")
    if args.before is not None:
        print("\nPer-round ratio this tree / before, median (min-max):\n\n| command | wall | CPU |\n|---|---:|---:|")
        for command in COMMANDS:
            ratios = [[after[command][k] / before[command][k]
                       for before, after in zip(results["before"], results["this tree"], strict=True)]
                      for k in (0, 1)]
            print(f"| `{command}` | {_spread(ratios[0], 1, 2)} | {_spread(ratios[1], 1, 2)} |")


if __name__ == "__main__":
    main()
