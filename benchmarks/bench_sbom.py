"""SBOM of this project's own environment: mcp-comply vs `cyclonedx-py environment`, side by side.

Builds a fresh virtualenv with this project and its ``release`` extra (what a release job installs
to run ``generate``; ``pip install --report``, so the installation itself records the artefact
hashes, as a release job would), then alternates
the two generators on that same environment, both validating their output:

  mcp-comply generate --only sbom --sbom-scope all --hashes-from install-report.json
  cyclonedx-py environment --sv 1.6 --of JSON <venv python>       (validates by default)

Counts components, components with a hash, components with a licence and dependency-graph edges;
times each run as wall time around the process and its CPU time (user + system, all threads, from
``wait4``), and gives the per-round ratio mcp-comply / cyclonedx-py with its range;
lists the components and edges only one of them has.
Usage: python benchmarks/bench_sbom.py [--rounds N] [--venv DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _child import measured
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def summary(path: Path) -> dict[str, int]:
    data = json.loads(path.read_text())
    comps = data.get("components", [])
    hashed = sum(1 for c in comps if c.get("hashes") or any(r.get("hashes") for r in c.get("externalReferences", [])))
    return {"components": len(comps), "in component.hashes": sum(1 for c in comps if c.get("hashes")),
            "any hash": hashed, "licences": sum(1 for c in comps if c.get("licenses")),
            "edges": sum(len(d.get("dependsOn", [])) for d in data.get("dependencies", []))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "mcp-comply-bench-sbom")
    args = parser.parse_args()
    venv, report = args.venv / "env", args.venv / "install-report.json"
    if not (venv / "bin" / "mcp-comply").exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin/pip"), "install", "-q", "--report", str(report), f"{ROOT}[release]"])
    tool_venv = args.venv / "cyclonedx"
    if not (tool_venv / "bin" / "cyclonedx-py").exists():
        run([sys.executable, "-m", "venv", str(tool_venv)])
        run([str(tool_venv / "bin/pip"), "install", "-q", "cyclonedx-bom>=7,<8"])
    out = args.venv / "out"
    ours_cmd = [str(venv / "bin/mcp-comply"), "generate", "--config", str(ROOT / "pyproject.toml"), "--only", "sbom",
                "--sbom-scope", "all", "--hashes-from", str(report), "--out", str(out)]
    theirs_out = args.venv / "cyclonedx-py.cdx.json"
    theirs_cmd = [str(tool_venv / "bin/cyclonedx-py"), "environment", "--sv", "1.6", "--of", "JSON",
                  "--output-reproducible", "-o", str(theirs_out), str(venv / "bin/python")]
    times: dict[str, list[tuple[float, float]]] = {"mcp-comply": [], "cyclonedx-py": []}
    for _ in range(args.rounds):
        times["mcp-comply"].append(measured(ours_cmd, cwd=ROOT))
        times["cyclonedx-py"].append(measured(theirs_cmd))
    ours, theirs = summary(out / "release/sbom.cdx.json"), summary(theirs_out)
    def names(path: Path) -> set[str]:
        components = json.loads(path.read_text())["components"]
        return {f"{canonicalize_name(c['name'])}=={c.get('version')}" for c in components}

    our_names, their_names = names(out / "release/sbom.cdx.json"), names(theirs_out)
    print(f"{args.rounds} rounds, alternating; environment: {ours['components']} components")
    print("| generator | wall s, median | CPU s, median | all rounds, wall / CPU (s) | components "
          "| with hash (component.hashes) | with any hash | with licence | graph edges |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
    for name, counts in (("mcp-comply", ours), ("cyclonedx-py", theirs)):
        rounds = ", ".join(f"{w:.2f} / {c:.2f}" for w, c in times[name])
        print(f"| {name} | {statistics.median(w for w, _ in times[name]):.2f} | "
              f"{statistics.median(c for _, c in times[name]):.2f} | {rounds} | {counts['components']} | "
              f"{counts['in component.hashes']} | {counts['any hash']} | {counts['licences']} | {counts['edges']} |")
    for i, what in ((0, "wall"), (1, "CPU")):
        ratios = [a[i] / b[i] for a, b in zip(times["mcp-comply"], times["cyclonedx-py"], strict=True)]
        print(f"{what} ratio mcp-comply / cyclonedx-py, per round: {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"components only in cyclonedx-py: {sorted(their_names - our_names) or 'none'}")
    print(f"components only in mcp-comply: {sorted(our_names - their_names) or 'none'}")
    our_edges, their_edges = edges(out / "release/sbom.cdx.json"), edges(theirs_out)
    print(f"edges only in cyclonedx-py: {sorted(their_edges - our_edges) or 'none'}")
    print(f"edges only in mcp-comply: {sorted(our_edges - their_edges) or 'none'}")


def edges(path: Path) -> set[tuple[str, str]]:
    """(from, to) by package name; the root is metadata.component in ours, a component in theirs."""
    data = json.loads(path.read_text())
    components = [*data.get("components", []), *([data["metadata"]["component"]] if "component" in data["metadata"]
                                                 else [])]
    name = {c["bom-ref"]: canonicalize_name(c["name"]) for c in components}
    return {(name[d["ref"]], name[t]) for d in data.get("dependencies", []) for t in d.get("dependsOn", [])
            if d["ref"] in name and t in name}


if __name__ == "__main__":
    main()
