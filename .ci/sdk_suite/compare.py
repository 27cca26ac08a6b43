"""Compare JUnit XML reports of the mcp SDK's test suite run bare and with mcp-comply.

    python compare.py BARE.xml MODE=REPORT.xml [MODE=REPORT.xml ...] [--ids-out DIR]

Prints pass/fail/skip counts per run and every test that passed bare but not in a mode; with
``--ids-out`` writes those node ids, one file per mode (``DIR/MODE.ids``), for a re-run.
Exit 1 when any mode has such a test, 0 otherwise.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # noqa: S405 - reports we wrote ourselves
from collections import Counter
from pathlib import Path


def outcomes(report: Path) -> dict[str, str]:
    """Node id -> passed | failed | error | skipped."""
    out: dict[str, str] = {}
    for case in ET.parse(report).iter("testcase"):  # noqa: S314
        classname = case.get("classname", "")
        name = case.get("name", "")
        path = classname.replace(".", "/")
        # JUnit splits "tests/x/test_y.py::Class::test" into classname tests.x.test_y.Class
        node = f"{path}::{name}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            status = "failed"
        elif "error" in kinds:
            status = "error"
        elif "skipped" in kinds:
            status = "skipped"
        else:
            status = "passed"
        # a test can appear twice (call failed, teardown errored): the worse outcome wins
        if out.get(node) in ("failed", "error"):
            continue
        out[node] = status
    return out


def node_id(junit_id: str, root: Path) -> str:
    """A pytest node id from a JUnit classname/name pair (module path found on disk)."""
    path, _, name = junit_id.partition("::")
    parts = path.split("/")
    for cut in range(len(parts), 0, -1):
        module = Path(root, *parts[:cut]).with_suffix(".py")
        if module.is_file():
            rest = parts[cut:]
            return "::".join(["/".join(parts[:cut]) + ".py", *rest, name])
    return junit_id


KNOWN = [tuple(line.split(None, 1)) for line in
         (Path(__file__).with_name("known-regressions.txt").read_text().splitlines())
         if line.strip() and not line.startswith("#")]


def main(argv: list[str]) -> int:
    ids_out = None
    if "--ids-out" in argv:
        i = argv.index("--ids-out")
        ids_out = Path(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    root = Path.cwd()
    bare = outcomes(Path(argv[0]))
    print(f"{'run':<14} {'passed':>7} {'failed':>7} {'error':>6} {'skipped':>8}")
    counts = Counter(bare.values())
    print(f"{'bare':<14} {counts['passed']:>7} {counts['failed']:>7} {counts['error']:>6} {counts['skipped']:>8}")
    worse = 0
    for spec in argv[1:]:
        mode, _, path = spec.partition("=")
        got = outcomes(Path(path))
        counts = Counter(got.values())
        print(f"{mode:<14} {counts['passed']:>7} {counts['failed']:>7} {counts['error']:>6} {counts['skipped']:>8}")
        regressed = sorted(t for t, s in bare.items() if s == "passed" and got.get(t, "missing") != "passed")
        if ids_out is not None:
            ids_out.mkdir(parents=True, exist_ok=True)
            (ids_out / f"{mode}.ids").write_text("".join(node_id(t, root) + "\n" for t in regressed))
        for test in regressed:
            nid = node_id(test, root)
            known = any(m == mode and nid.startswith(prefix) for m, prefix in KNOWN)
            note = " (known, see known-regressions.txt)" if known else ""
            print(f"  {mode}: passed bare, {got.get(test, 'missing')} here{note}: {nid}")
            worse += 0 if known else 1
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
