"""`mcp-comply audit prove` in a large log: the Merkle tiles vs reading the whole log.

    python benchmarks/bench_proofs.py                      # builds a 1,000,000-record log (about 2 minutes)
    python benchmarks/bench_proofs.py --records 200000
    python benchmarks/bench_proofs.py --log DIR            # reuse (or keep) the log in DIR

The log is written by the real writer (fsync never, a checkpoint every 10,000 records), so its
tiles are the ones a server leaves. Each figure is one ``audit prove`` through the CLI function
(``mcp_comply.cli.main``) in a fresh child process: wall and CPU time of that call (the child's
interpreter start and the import of ``mcp_comply.cli`` not counted; the command's own lazy imports
and argument parsing counted), of a second identical call in the same child, and the child's peak
RSS (VmHWM) after the first call. Tiles: the median
of 5 children; the scan: one child per proof (about 6 s each). "scan" forces the old path by
pointing ``--checkpoints`` at a folder without tiles.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

os.environ.setdefault("MCP_COMPLY_LOG_LEVEL", "error")
sys.path.insert(0, str(Path(__file__).parent))


def _hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _child(argv: list[str]) -> None:
    """One proof through the CLI function; prints wall ms, CPU ms, peak RSS KiB, baseline RSS KiB."""
    from mcp_comply.cli import main

    before = _hwm_kib()
    figures: dict[str, float] = {}
    for run in ("", "warm_"):  # the first call pays the command's lazy imports; the second does not
        out = io.StringIO()
        wall, cpu = time.perf_counter(), time.process_time()
        with redirect_stdout(out):
            code = main(argv)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert code == 0, code
        figures.update({f"{run}wall_ms": wall * 1e3, f"{run}cpu_ms": cpu * 1e3})
        if run == "":
            figures["hwm_kib"] = _hwm_kib()
    proof = json.loads(out.getvalue())
    print(json.dumps({**figures, "base_kib": before, "hashes": len(proof["proof"]), "size": proof["size"]}))


def _run(argv: list[str], pycache: Path) -> dict[str, float]:
    # Children read compiled bytecode, as an installed package does (not the source, compiled at
    # every start when PYTHONDONTWRITEBYTECODE is set); the first child writes it.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(argv)], capture_output=True, text=True,
                         check=True, env=env)
    if "reading the whole log" in out.stderr and "--checkpoints" not in argv:
        raise SystemExit(f"the tiles did not serve {argv}: {out.stderr.strip()}")
    return json.loads(out.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--log", type=Path, help="folder for the log: reused when it holds one, else kept there")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.log or Path(tmp) / "audit"
        build_s = None
        if not (directory / "chain-0").is_dir():
            from bench_audit import _make_log

            t0 = time.perf_counter()
            _make_log(directory, args.records)
            build_s = time.perf_counter() - t0
        no_tiles = Path(tmp) / "no-tiles"
        no_tiles.mkdir()
        size = int((directory / "checkpoints" / "chain-0" / "latest.note").read_text().split("\n")[1])
        tile_files = sum(1 for p in (directory / "checkpoints" / "chain-0" / "tile").rglob("*") if p.is_file())
        proofs = {"inclusion": ["--seq", str(size // 3)], "consistency": ["--old-size", str(size // 3 + 7)]}
        rows = []
        pycache = Path(tmp) / "pycache"
        _run(["audit", "prove", str(directory), "--seq", "0"], pycache)  # writes the bytecode
        for name, which in proofs.items():
            argv = ["audit", "prove", str(directory), *which]
            tiles = [_run(argv, pycache) for _ in range(5)]
            scan = _run([*argv, "--checkpoints", str(no_tiles)], pycache)
            rows.append((name, tiles, scan))
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"a log of {size:,} records ({tile_files:,} tile files)"
          + (f", written in {build_s:.0f} s" if build_s else "") + "\n")
    print("| proof | source | wall ms | CPU ms | wall / CPU ms, second call | peak RSS (before the call) "
          "| proof hashes |")
    print("|---|---|---:|---:|---:|---|---:|")
    for name, tiles, scan in rows:
        def med(key: str, runs: list[dict[str, float]] = tiles) -> float:
            return statistics.median(t[key] for t in runs)

        walls = sorted(t["wall_ms"] for t in tiles)
        print(f"| {name} | tiles (median of 5; wall {walls[0]:.1f}-{walls[-1]:.1f}) | {med('wall_ms'):.1f} | "
              f"{med('cpu_ms'):.1f} | {med('warm_wall_ms'):.1f} / {med('warm_cpu_ms'):.1f} | "
              f"{med('hwm_kib') / 1024:.1f} MiB ({med('base_kib') / 1024:.1f}) | {tiles[0]['hashes']} |")
        print(f"| {name} | scan | {scan['wall_ms']:.0f} | {scan['cpu_ms']:.0f} | {scan['warm_wall_ms']:.0f} / "
              f"{scan['warm_cpu_ms']:.0f} | {scan['hwm_kib'] / 1024:.1f} MiB ({scan['base_kib'] / 1024:.1f}) | "
              f"{scan['hashes']} |")


if __name__ == "__main__":
    main()
