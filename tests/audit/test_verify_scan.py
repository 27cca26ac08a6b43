"""The block scan and its worker processes give the report of the line-by-line path, on every attack.

``verify_directory(jobs=0)`` reads every line one at a time: the reference. The block scan
(``jobs=1``, in this process) and a pool of worker processes must give the same report, finding for
finding, detail for detail, however the segments are cut into tasks and blocks.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_comply.audit import _scan
from mcp_comply.audit import verify as v
from mcp_comply.audit._pool import ScanPool
from mcp_comply.audit.verify import verify_directory

from .conftest import SIGNER, call_unblocked, write_log
from .test_attacks import ATTACKS, Attack, attacked
from .test_attacks import live as live  # noqa: PLC0414 - the attack table's fixtures, used by name
from .test_attacks import pruned as pruned  # noqa: PLC0414
from .test_attacks import sealed as sealed  # noqa: PLC0414

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def pool() -> Iterator[ScanPool]:
    with ScanPool(2) as workers:
        yield workers


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed, sealed log of 60 calls over several segments, checkpoints every 7 records."""
    directory = tmp_path_factory.mktemp("segmented")
    write_log(directory, 60, checkpoint_every=7, max_segment_bytes=3000)
    return directory


def _report(directory: Path, **kwargs: Any) -> dict[str, Any]:
    return verify_directory(directory, **kwargs).to_json()


def _small(monkeypatch: pytest.MonkeyPatch, block: int, task: int) -> None:
    monkeypatch.setattr(v, "SCAN_BLOCK", block)
    monkeypatch.setattr(v, "TASK_BYTES", task)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_every_attack_gets_the_same_report_from_the_block_scan_and_the_workers(
        attack: Attack, request: pytest.FixtureRequest, tmp_path: Path, pool: ScanPool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    target, remembered = attacked(attack, request, tmp_path)
    now = time.time()
    for mode, keyed, stated in (("no key", False, False), ("key", True, False), ("key and state", True, True)):
        for strict in (True, False):
            reports = []
            for variant, block, task, extra in (("line by line", None, None, {"jobs": 0}),
                                                ("block scan", None, None, {"jobs": 1}),
                                                ("small blocks", 700, 1500, {"jobs": 1}),
                                                ("workers, small blocks", 700, 1500, {"pool": pool})):
                if block is not None and task is not None:
                    _small(monkeypatch, block, task)
                options: dict[str, Any] = {"verifiers": [SIGNER.verifier]} if keyed else {}
                if stated:  # a fresh copy each time: verify rewrites it when intact
                    options["state_file"] = tmp_path / f"state-{len(reports)}.json"
                    shutil.copy(remembered, options["state_file"])
                reports.append((variant, _report(target, strict_json=strict, now=now, **options, **extra)))
                monkeypatch.undo()
            reference = reports[0][1]
            for variant, report in reports[1:]:
                assert report == reference, (mode, strict, variant)


def test_ordinary_records_are_taken_in_runs_and_the_rest_line_by_line(segmented: Path) -> None:
    """Every call record of a genuine log is in a run; every record with chain-level meaning
    (open, checkpoint, rotation, close) is left to the per-line path, alone."""
    for segment in sorted((segmented / "chain-0").glob("segment-*.jsonl")):
        data = segment.read_bytes()
        items = _scan.scan(_scan.Task(str(segment), 0, len(data), len(data), "chain-0", True))
        assert items[0].start == 0
        assert items[-1].end == len(data)
        assert all(a.end == b.start for a, b in itertools.pairwise(items))
        for item in items:
            kinds = {json.loads(line)["kind"] for line in data[item.start:item.end].splitlines()}
            if isinstance(item, _scan.Run):
                assert kinds == {"call"}
                assert item.lines == data[item.start:item.end].count(b"\n")
            else:  # neighbours share one range
                assert "call" not in kinds


def test_runs_end_where_a_root_is_needed() -> None:
    """With a known alignment, a run is cut at every tree size whose root the verifier needs."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "log"
        write_log(directory, 30, checkpoint_every=1000)
        segment = next((directory / "chain-0").glob("segment-*.jsonl"))
        data = segment.read_bytes()
        whole = _scan.scan(_scan.Task(str(segment), 0, len(data), len(data), "chain-0", False))
        (run,) = [item for item in whole if isinstance(item, _scan.Run)]
        cut = _scan.scan(_scan.Task(str(segment), run.start, run.end, len(data), "chain-0", False,
                                    align=run.leaf_index, cuts=frozenset({run.leaf_index + 10, run.leaf_index + 11})))
    assert [(r.leaf_index, r.lines) for r in cut if isinstance(r, _scan.Run)] == [
        (run.leaf_index, 10), (run.leaf_index + 10, 1), (run.leaf_index + 11, run.lines - 11)]


_MUTATIONS = ("flip", "delete", "duplicate", "swap", "garbage", "carriage return", "nan", "truncate",
              "long line", "duplicate key", "trailing space")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), st.sampled_from(_MUTATIONS), st.booleans(), st.integers(40, 5000), st.integers(100, 20000))
def test_any_damage_gets_the_same_report_however_the_scan_is_cut(
        segmented: Path, data: st.DataObject, mutation: str, strict: bool, block: int, task: int) -> None:
    """Whatever is done to a segment (a byte changed, lines removed, repeated, swapped, added,
    cut short), the block scan with any block and task size reports exactly what the per-line
    path reports."""
    segments = sorted((segmented / "chain-0").glob("segment-*.jsonl"))
    chosen = data.draw(st.integers(0, len(segments) - 1), label="segment")
    raw = segments[chosen].read_bytes()
    lines = raw.splitlines(keepends=True)
    i = data.draw(st.integers(0, len(lines) - 1), label="line")
    if mutation == "flip":
        offset = data.draw(st.integers(0, len(raw) - 1), label="offset")
        mutated = raw[:offset] + bytes([data.draw(st.integers(0, 255), label="byte")]) + raw[offset + 1:]
    elif mutation == "delete":
        mutated = b"".join(lines[:i] + lines[i + 1:])
    elif mutation == "duplicate":
        mutated = b"".join(lines[:i + 1] + lines[i:])
    elif mutation == "swap":
        j = min(i + 1, len(lines) - 1)
        lines[i], lines[j] = lines[j], lines[i]
        mutated = b"".join(lines)
    elif mutation == "garbage":
        mutated = b"".join(lines[:i]) + data.draw(st.binary(max_size=300), label="garbage") + b"".join(lines[i:])
    elif mutation == "carriage return":
        mutated = b"".join(lines[:i]) + lines[i].replace(b",", b",\r", 1) + b"".join(lines[i + 1:])
    elif mutation == "nan":
        mutated = b"".join(lines[:i]) + lines[i].replace(b'"add"', b'"NaN"') + b"".join(lines[i + 1:])
    elif mutation == "duplicate key":
        mutated = b"".join(lines[:i]) + lines[i].replace(b'"tool":"add"', b'"tool":"add","tool":"rm"') \
            + b"".join(lines[i + 1:])
    elif mutation == "trailing space":  # still valid JSON, but not what the writer writes
        mutated = b"".join(lines[:i]) + lines[i][:-1] + b" \n" + b"".join(lines[i + 1:])
    elif mutation == "truncate":
        mutated = raw[:data.draw(st.integers(0, len(raw)), label="length")]
    else:  # a line longer than any block, still well formed
        mutated = b"".join(lines[:i]) + lines[i].replace(b'"add"', b'"' + b"a" * 6000 + b'"') + b"".join(lines[i + 1:])
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "log"
        shutil.copytree(segmented, target)
        (target / "chain-0" / segments[chosen].name).write_bytes(mutated)
        now = time.time()
        options: dict[str, Any] = {"verifiers": [SIGNER.verifier], "strict_json": strict, "now": now}
        reference = _report(target, jobs=0, **options)
        with pytest.MonkeyPatch.context() as patch:
            _small(patch, block, task)
            assert _report(target, jobs=1, **options) == reference


def test_workers_start_for_a_large_log_and_give_the_same_report(
        segmented: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[int] = []

    class Counted(ScanPool):
        def __init__(self, workers: int) -> None:
            started.append(workers)
            super().__init__(workers)

    target = tmp_path / "log"
    shutil.copytree(segmented, target)
    (segment,) = [s for s in (target / "chain-0").glob("segment-*.jsonl") if b'"a":20,' in s.read_bytes()]
    segment.write_bytes(segment.read_bytes().replace(b'"a":20,', b'"a":21,'))
    reference = _report(target, jobs=0)
    monkeypatch.setattr(v, "ScanPool", Counted)
    monkeypatch.setattr(v, "PARALLEL_MIN_BYTES", 0)
    _small(monkeypatch, 1000, 2000)
    assert _report(target, jobs=2) == reference
    assert _report(target) == reference  # one worker per CPU (none on a machine with one)
    cpus = len(os.sched_getaffinity(0))
    assert started == [2] + ([min(cpus, 8)] if cpus > 1 else [])
    assert {f["kind"] for f in reference["findings"]} == {v.MODIFIED, v.INCONSISTENT}


def test_a_worker_that_dies_leaves_its_tasks_to_the_caller(segmented: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reference = _report(segmented, jobs=0)
    _small(monkeypatch, 1000, 2000)
    with ScanPool(2) as workers:
        workers._children[1][0].kill()
        workers._children[1][0].wait()
        assert _report(segmented, pool=workers) == reference
        assert _report(segmented, pool=workers) == reference  # and the pool stays usable


def test_a_workers_error_is_raised_in_the_caller(tmp_path: Path) -> None:
    with ScanPool(1) as workers:
        unopenable = _scan.Task(str(tmp_path / "bad\x00name.jsonl"), 0, 100, 100, "chain-0", True)
        with pytest.raises(ValueError, match="embedded null byte"):
            list(workers.map([unopenable], ahead=1))
        # a file gone since the listing is no error: the verifier scans the range from its own open
        # file (retention may remove a segment it is reading), or its own open finds it gone
        missing = _scan.Task(str(tmp_path / "gone.jsonl"), 0, 100, 100, "chain-0", True)
        assert list(workers.map([missing], ahead=1)) == [[_scan.Unread(0, 100)]]
        # the pool answers the next call in order
        segment = tmp_path / "s.jsonl"
        segment.write_bytes(b"not a record\n")
        assert list(workers.map([_scan.Task(str(segment), 0, 13, 13, "chain-0", True)], ahead=1)) == [
            [_scan.Lines(0, 13)]]


def test_workers_do_not_run_the_callers_script_again(segmented: Path, tmp_path: Path) -> None:
    """multiprocessing's spawn would import the calling script in every worker: a script with no
    ``if __name__ == "__main__":`` guard would then fail. The scan pool's children do not."""
    script = tmp_path / "verify_it.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from pathlib import Path
        from mcp_comply.audit import verify
        verify.PARALLEL_MIN_BYTES = 0
        verify.TASK_BYTES = 2000
        print("started")
        report = verify.verify_directory(Path({str(segmented)!r}), jobs=2)
        print(json.dumps(report.to_json(), sort_keys=True))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    started, report = done.stdout.splitlines()
    assert started == "started"
    assert json.loads(report) == _report(segmented, jobs=0)


def test_an_integer_too_long_to_convert_is_a_finding_not_a_crash(segmented: Path, tmp_path: Path) -> None:
    target = tmp_path / "log"
    shutil.copytree(segmented, target)
    segment = sorted((target / "chain-0").glob("segment-*.jsonl"))[0]
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4].replace(b'"a":', b'"a":' + b"7" * 5000, 1)
    lines[5] = lines[5].replace(b'"seq":5,', b'"seq":' + b"5" * 5000 + b",", 1)
    segment.write_bytes(b"".join(lines))
    for strict, expected in ((True, [(v.MALFORMED, 5), (v.MALFORMED, 6), (v.MODIFIED, 7)]),
                             (False, [(v.MALFORMED, 6), (v.MODIFIED, 7)])):  # --fast does not parse line 5
        report = verify_directory(target, strict_json=strict)
        assert [(f.kind, f.line) for f in report.findings if f.line in (5, 6, 7)] == expected
        assert report.to_json() == _report(target, strict_json=strict, jobs=0)


def test_a_map_left_early_does_not_leak_answers_into_the_next(segmented: Path) -> None:
    tasks = [_scan.Task(str(p), start, start + 1500, p.stat().st_size, "chain-0", True)
             for p in sorted((segmented / "chain-0").glob("segment-*.jsonl"))
             for start in range(0, p.stat().st_size, 1500)]
    expected = [_scan.scan(task) for task in tasks]
    with ScanPool(2) as workers:
        first = workers.map(tasks, ahead=4)
        assert next(first) == expected[0]  # then left with answers still due
        assert list(workers.map(tasks, ahead=4)) == expected
        assert list(workers.map(tasks[3:], ahead=1)) == expected[3:]


def test_a_frozen_application_scans_in_its_own_process(segmented: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In a frozen build sys.executable is the application itself: no children are started."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    with ScanPool(2) as workers:
        assert workers._children == []
        assert _report(segmented, pool=workers) == _report(segmented, jobs=0)


def test_a_range_of_a_segment_swapped_for_a_fifo_is_left_to_the_verifier(tmp_path: Path) -> None:
    """A worker's range of a segment that has become a FIFO since the verifier listed it: the scan
    hands the range back unread (the verifier's own open then reports the FIFO, or it scans the range
    from the file it has open) instead of blocking on the open, which would hold the verifier waiting
    on the worker."""
    fifo = tmp_path / "segment-000001.jsonl"
    os.mkfifo(fifo)
    task = _scan.Task(str(fifo), 0, 1 << 20, 5000, "chain-0", True)
    assert call_unblocked(lambda: _scan.scan(task), [fifo], "the scan blocked on a FIFO") == [
        _scan.Unread(0, 1 << 20)]
