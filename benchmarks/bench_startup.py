"""Start-up of the ``mcp-comply`` command and of ``import mcp_comply``: whole-process wall time.

Each round runs every variant once, in turn, in a fresh process (A B C ..., A B C ..., so machine
noise spreads over all of them alike); a figure is the median over rounds, with min, max and the
spread (max - min). ``python -c pass`` is the floor: the interpreter's own start-up.

Usage: python benchmarks/bench_startup.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def timed(cmd: list[str], expected: int, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != expected:
        raise SystemExit(f"{cmd} exited {proc.returncode}, expected {expected}: {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21, help="rounds (default 21)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory() as tmp:
        plan = variants(Path(tmp))
        for cmd, expected in plan.values():  # warm the OS file cache and the .pyc files once
            timed(cmd, expected, dict(env, PYTHONDONTWRITEBYTECODE=""))
        samples: dict[str, list[float]] = {name: [] for name in plan}
        for _ in range(args.rounds):
            for name, (cmd, expected) in plan.items():
                samples[name].append(timed(cmd, expected, env))
    rows = {name: {"median_ms": 1000 * statistics.median(s), "min_ms": 1000 * min(s), "max_ms": 1000 * max(s),
                   "spread_ms": 1000 * (max(s) - min(s))} for name, s in samples.items()}
    if args.json:
        print(json.dumps({"rounds": args.rounds, "python": sys.version.split()[0], "variants": rows}, indent=2))
        return
    print(f"{args.rounds} rounds, interleaved; Python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.2f} at the end\n")
    print(f"| {'variant':<44} | median ms | min ms | max ms | spread ms |")
    print(f"|{'-' * 46}|----------:|-------:|-------:|----------:|")
    for name, row in rows.items():
        print(f"| {name:<44} | {row['median_ms']:9.0f} | {row['min_ms']:6.0f} | {row['max_ms']:6.0f} "
              f"| {row['spread_ms']:9.0f} |")


if __name__ == "__main__":
    main()
