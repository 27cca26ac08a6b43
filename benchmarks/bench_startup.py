"""Start-up of the ``mcp-comply`` command and of ``import mcp_comply``: whole-process wall and CPU time.

Each round runs every variant once, in turn, in a fresh process (A B C ..., A B C ..., so machine
noise spreads over all of them alike); a figure is the median over rounds, with min, max and the
spread (max - min), of the wall time around the process and of its CPU time (user + system, all
threads, from ``wait4``). ``python -c pass`` is the floor: the interpreter's own start-up; the last
column is each round's wall time minus the floor's in the same round (median, min to max).

Usage: python benchmarks/bench_startup.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _child import measured

ROOT = Path(__file__).resolve().parents[1]


def _script() -> list[str]:
    """The installed console script next to this interpreter (not a shell shim in front of it)."""
    script = Path(sys.executable).parent / "mcp-comply"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from mcp_comply.cli import main; sys.exit(main())"]


def variants(tmp: Path) -> dict[str, tuple[list[str], int]]:
    """name -> (command, expected exit code)."""
    cli = _script()
    py = sys.executable
    return {
        "python -c pass (floor)": ([py, "-c", "pass"], 0),
        "mcp-comply --help": ([*cli, "--help"], 0),
        "mcp-comply audit --help": ([*cli, "audit", "--help"], 0),
        "usage error (generate --only nope)": ([*cli, "generate", "--only", "nope"], 2),
        "input error (audit prove EMPTY --seq 0)": ([*cli, "audit", "prove", str(tmp), "--seq", "0"], 2),
        "import mcp_comply": ([py, "-c", "import mcp_comply"], 0),
        "import mcp_comply; mcp_comply.instrument": ([py, "-c", "import mcp_comply; mcp_comply.instrument"], 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="rounds (default 21)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory() as tmp:
        plan = variants(Path(tmp))
        for cmd, expected in plan.values():  # warm the OS file cache and the .pyc files once
            measured(cmd, expected=expected, env=dict(env, PYTHONDONTWRITEBYTECODE=""))
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in plan}
        for _ in range(args.rounds):
            for name, (cmd, expected) in plan.items():
                samples[name].append(measured(cmd, expected=expected, env=env))
    floor = samples["python -c pass (floor)"]

    def stats(values: list[float]) -> dict[str, float]:
        return {"median_ms": 1000 * statistics.median(values), "min_ms": 1000 * min(values),
                "max_ms": 1000 * max(values)}

    rows = {name: {"wall": stats([w for w, _ in s]), "cpu": stats([c for _, c in s]),
                   "above_floor": stats([w - f[0] for (w, _), f in zip(s, floor, strict=True)])}
            for name, s in samples.items()}
    if args.json:
        print(json.dumps({"rounds": args.rounds, "python": sys.version.split()[0], "variants": rows}, indent=2))
        return
    print(f"{args.rounds} rounds, interleaved; Python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print(f"| {'variant':<44} | wall ms, median (min-max) | CPU ms, median (min-max) | wall above the floor, ms |")
    print(f"|{'-' * 46}|---:|---:|---:|")

    def cell(row: dict[str, float]) -> str:
        return f"{row['median_ms']:.0f} ({row['min_ms']:.0f}-{row['max_ms']:.0f})"

    for name, row in rows.items():
        print(f"| {name:<44} | {cell(row['wall'])} | {cell(row['cpu'])} | {cell(row['above_floor'])} |")


if __name__ == "__main__":
    main()
