"""Segments that vanish while a reader has them listed: retention removes the oldest segments while
the server runs, so ``verify``, ``show``, ``prove`` and the writer's start can list a segment and
find it gone when they open it. Retention's removal is no finding and no crash; an attacker's is a
finding; a file that keeps vanishing is one line naming it.

The races are made deterministic on real files: the reader's own listing (``fmt.segments``) or its
look at each listed file (``not_regular``), each still doing its real work, is followed by the
removal, right where a concurrent writer could do it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mcp_comply import _files
from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify as v
from mcp_comply.audit.verify import verify_directory
from mcp_comply.cli import main

from .conftest import SIGNER, write_log
from .conftest import start_writer as _start

DAY = 86400.0
SETTINGS: dict[str, Any] = {"checkpoint_every": 10, "max_segment_bytes": 2500, "retention_days": 30}


class Logs:
    """``sealed``: one life of 40 calls over several segments. ``pruned``: the same chain 31 days
    later, after a second life whose retention removed the ``doomed`` segments (all but the last of
    the first life's)."""

    def __init__(self, root: Path) -> None:
        now = [time.time() - 40 * DAY]
        self.pruned = root / "pruned"
        write_log(self.pruned, 40, clock=lambda: now[0], **SETTINGS)
        self.sealed = root / "sealed"
        shutil.copytree(self.pruned, self.sealed, symlinks=True)
        now[0] += 31 * DAY
        write_log(self.pruned, 30, clock=lambda: now[0], **SETTINGS)
        self.now = now[0] + 60
        kept = {p.name for p in fmt.segments(self.pruned / "chain-0")}
        self.doomed = [p.name for p in fmt.segments(self.sealed / "chain-0") if p.name not in kept]
        assert len(self.doomed) >= 2
        assert self.doomed[0] == fmt.segment_name(1)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Logs:
    return Logs(tmp_path_factory.mktemp("vanish"))


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def _before_the_unlinks(logs: Logs, target: Path) -> Path:
    """The pruned log as it is between retention's signed marker and its deletions: the doomed
    segments still there (verify calls this intact: a crash there is no tampering)."""
    _copy(logs.pruned, target)
    for name in logs.doomed:
        shutil.copy2(logs.sealed / "chain-0" / name, target / "chain-0" / name)
    return target


def _verify(directory: Path, now: float, **kwargs: Any) -> v.Report:
    return verify_directory(directory, verifiers=[SIGNER.verifier], now=now, **kwargs)


def _remove_after_the_look(monkeypatch: pytest.MonkeyPatch, at: Path, doomed: list[Path]) -> list[int]:
    """Once verify has looked at ``at`` (the last listed segment: every segment is listed, looked at
    and sized by then), ``doomed`` are removed, before any of them is opened. Returns a one-item
    list counting the removals."""
    real = v.not_regular
    fired = [0]

    def look(path: Path) -> str | None:
        kind = real(path)
        if path == at and not fired[0]:
            fired[0] += 1
            for gone in doomed:
                gone.unlink()
        return kind

    monkeypatch.setattr(v, "not_regular", look)
    return fired


@pytest.mark.parametrize("jobs", [0, 1, 2], ids=["line-by-line", "in-process-scan", "worker-scan"])
def test_segments_retention_removes_while_verify_runs_are_no_finding(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """Retention signs its marker, then deletes the oldest segments; verify had listed them. The open
    (by verify, by its in-process block scan, or by a worker) finds them gone: verify lists the chain
    again and checks it as it now is, which is what it says of the pruned log (intact), instead of
    stopping at exit 2 with 'No such file or directory'."""
    target = _before_the_unlinks(logs, tmp_path / "log")
    chain = target / "chain-0"
    reference = _verify(_copy(logs.pruned, tmp_path / "reference"), logs.now, jobs=0)
    assert reference.findings == []
    assert reference.chains[0].first_seq > 0
    fired = _remove_after_the_look(monkeypatch, fmt.segments(chain)[-1], [chain / n for n in logs.doomed])
    report = _verify(target, logs.now, jobs=jobs)
    assert fired == [1]
    assert report.to_json() == reference.to_json()


@pytest.mark.parametrize("jobs", [1, 2], ids=["in-process-scan", "worker-scan"])
def test_a_segment_retention_removes_while_verify_reads_it_is_read_to_its_end(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """Retention removes the oldest segment while verify reads it (verify has it open: on a live
    server, the steady state of a long verify). The block scan opens it by name for each range, in
    this process or a worker, and found it gone: FileNotFoundError, exit 2. Now such a range is read
    by verify from its own open file, so the report is the one for the log as listed, with no new
    pass (ranges of 300 bytes: most of the segment's are scanned after its removal)."""
    monkeypatch.setattr(v, "SCAN_BLOCK", 200)
    monkeypatch.setattr(v, "TASK_BYTES", 300)
    target = _copy(logs.sealed, tmp_path / "log")
    reference = _verify(_copy(logs.sealed, tmp_path / "reference"), logs.now, jobs=0)
    first = fmt.segments(target / "chain-0")[0]
    real = v.open_regular
    opened: list[Path] = []

    def open_then_retention_runs(path: Path, **kwargs: Any) -> Any:
        fh = real(path, **kwargs)
        opened.append(path)
        if path == first:
            path.unlink()
        return fh

    monkeypatch.setattr(v, "open_regular", open_then_retention_runs)
    report = _verify(target, logs.now, jobs=jobs)
    assert not first.exists()
    assert [p.name for p in opened] == [p.name for p in fmt.segments(logs.sealed / "chain-0")]  # one pass
    _same(report, target, reference, tmp_path / "reference")


@pytest.mark.parametrize("where", ["first", "middle"])
@pytest.mark.parametrize("jobs", [0, 2], ids=["line-by-line", "worker-scan"])
def test_a_segment_an_attacker_removes_while_verify_runs_is_still_a_finding(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, jobs: int) -> None:
    """No retention record names the segment: checked again as the chain now is, the chain starts
    above seq 0 unaccounted for (``deleted``), or has a hole (``missing_segment``): the same report
    as for the segment removed before verify started."""
    segments = fmt.segments(logs.sealed / "chain-0")
    name = segments[0 if where == "first" else 1].name
    upfront = _copy(logs.sealed, tmp_path / "upfront")
    (upfront / "chain-0" / name).unlink()
    reference = _verify(upfront, logs.now, jobs=0)
    kinds = {f.kind for f in reference.findings}
    assert (v.DELETED if where == "first" else v.MISSING_SEGMENT) in kinds
    target = _copy(logs.sealed, tmp_path / "log")
    chain = target / "chain-0"
    fired = _remove_after_the_look(monkeypatch, chain / segments[-1].name, [chain / name])
    report = _verify(target, logs.now, jobs=jobs)
    assert fired == [1]
    _same(report, target, reference, upfront)
    assert not report.intact


def test_segments_retention_removes_while_verify_reads_the_notes_are_no_finding(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify reads a chain's notes, then lists its segments. Retention's marker is signed before
    its deletions, but both can fall between those two steps: the notes read then lack the one that
    covers the marker, while the listing already lacks the deleted segments. Verify said the start of
    the chain was not accounted for by a signed record (``deleted``), among others. It now sees the
    listing changed since it read the notes and starts the chain again."""
    target = _before_the_unlinks(logs, tmp_path / "log")
    chain, notes = target / "chain-0", target / "checkpoints" / "chain-0"
    marker = next(json.loads(line) for p in fmt.segments(chain) for line in p.read_bytes().splitlines()
                  if b'"kind":"retention"' in line)
    aside = tmp_path / "later-notes"
    aside.mkdir()
    later = [p for p in notes.glob("0*.note") if int(p.stem) > marker["seq"]]  # not written yet
    assert len(later) >= 2
    for note in later:
        note.rename(aside / note.name)
    shutil.copy2((notes / "latest.note").resolve(), aside / "latest.note")
    newest = max(notes.glob("0*.note"), key=lambda p: int(p.stem))
    shutil.copy2(newest, notes / "latest.note")
    real = v.read_served  # read right after the numbered notes
    fired = [0]

    def read_then_retention_runs(directory: Path, verifiers: list[Any], report: v.Report) -> Any:
        out = real(directory, verifiers, report)
        if not fired[0]:
            fired[0] += 1
            for note in aside.iterdir():
                os.replace(note, notes / note.name)
            for name in logs.doomed:
                (chain / name).unlink()
        return out

    monkeypatch.setattr(v, "read_served", read_then_retention_runs)
    report = _verify(target, logs.now)
    assert fired == [1]
    reference = _verify(_copy(logs.pruned, tmp_path / "reference"), logs.now)
    assert report.to_json() == reference.to_json()
    assert report.intact


def test_a_retention_record_appended_after_the_notes_were_read_is_no_finding(tmp_path: Path) -> None:
    """A live writer's moment: its third life has appended a second ``retention`` record, naming the
    segments the chain now starts with, and has not signed it yet (nor deleted them). The chain's
    start is accounted for by the first ``retention`` record, which is signed; verify took the newest
    one that names the start, found it unsigned and said ``deleted`` ("the retention record that
    accounts for the start of the chain is not covered by a signed checkpoint"). A verify that reads the
    notes just before the writer appends the record sees this too (measured: 3 runs of 37 against a
    real writer pruning every rotation). The oldest record that accounts for the start now counts."""
    d = tmp_path / "log"
    now = [time.time() - 80 * DAY]
    write_log(d, 40, clock=lambda: now[0], **SETTINGS)
    now[0] += 40 * DAY
    write_log(d, 40, clock=lambda: now[0], **SETTINGS)
    before = _copy(d, tmp_path / "before")
    now[0] += 40 * DAY
    write_log(d, 5, clock=lambda: now[0], **SETTINGS)
    chain, notes = d / "chain-0", d / "checkpoints" / "chain-0"
    (where, second), = _markers(chain)
    for name in second["segments"]:  # not deleted yet
        shutil.copy2(before / "chain-0" / name, chain / name)
    markers = _markers(chain)
    assert [m["seq"] for _, m in markers] == [markers[0][1]["seq"], second["seq"]]
    lines = where.read_bytes().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if b'"kind":"retention"' in line) + 1
    where.write_bytes(b"".join(lines[:cut]))  # the writer is about to append its checkpoint record
    for later in fmt.segments(chain):
        if fmt.segment_index(later.name) > fmt.segment_index(where.name):  # type: ignore[operator]
            later.unlink()
    for note in notes.glob("0*.note"):
        if int(note.stem) > second["seq"]:
            note.unlink()
    newest = max(notes.glob("0*.note"), key=lambda p: int(p.stem))
    shutil.copy2(newest, notes / "latest.note")
    report = _verify(d, fmt.parse_ts(second["ts"]) + 1)  # type: ignore[operator]
    assert report.chains[0].first_seq == markers[0][1]["last_seq"] + 1 == second["first_seq"]
    assert [(f.kind, f.seq) for f in report.findings] == [(v.YOUNG_TAIL, second["seq"])]
    assert report.intact


def _markers(chain: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [(p, json.loads(line)) for p in fmt.segments(chain) for line in p.read_bytes().splitlines()
            if b'"kind":"retention"' in line]


def _same(report: v.Report, target: Path, reference: v.Report, upfront: Path) -> None:
    """The two reports are the same but for the folder each was made of."""
    assert json.dumps(report.to_json()).replace(str(target), "X") == \
        json.dumps(reference.to_json()).replace(str(upfront), "X")


@pytest.mark.parametrize("name", ["checkpoint", "latest.note"])
def test_a_served_link_gone_between_verify_s_look_and_its_read_counts_as_not_there(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``checkpoint`` (the writer's link to latest.note), or a ``latest.note`` someone made a link,
    removed between verify's look at the name and its read of the link: verify stopped at exit 2 'No
    such file or directory', with no report. Now it reports what it does for the name removed before
    it started."""
    target = _copy(logs.sealed, tmp_path / "log")
    notes = target / "checkpoints" / "chain-0"
    if name == "latest.note":
        (notes / name).unlink()
        (notes / name).symlink_to(sorted(notes.glob("0*.note"))[1].name)
    upfront = _copy(target, tmp_path / "upfront")
    (upfront / "checkpoints" / "chain-0" / name).unlink()
    reference = _verify(upfront, logs.now)
    real = v._lmode
    fired = [0]

    def look(path: Path) -> int | None:
        mode = real(path)
        if path == notes / name and mode is not None:
            fired[0] += 1
            path.unlink()
        return mode

    monkeypatch.setattr(v, "_lmode", look)
    report = _verify(target, logs.now)
    assert fired == [1]
    _same(report, target, reference, upfront)
    assert [f.kind for f in report.findings] == ([] if name == "checkpoint" else [v.STALE_LATEST])


def test_a_note_gone_between_verify_s_listing_and_its_read_is_no_malformed_note(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A numbered note removed after verify listed the notes was ``malformed`` ('cannot be read as a
    note: No such file or directory'); removed a moment earlier it was no finding. Now both are the
    same report (a link to nothing named like a note is still ``malformed``: test_verify.py)."""
    target = _copy(logs.sealed, tmp_path / "log")
    note = sorted((target / "checkpoints" / "chain-0").glob("0*.note"))[2]
    upfront = _copy(target, tmp_path / "upfront")
    (upfront / "checkpoints" / "chain-0" / note.name).unlink()
    reference = _verify(upfront, logs.now)
    real = v.read_regular

    def read(path: Path, limit: int, *, follow: bool = True) -> bytes:
        if path == note and path.exists():
            path.unlink()
        return real(path, limit, follow=follow)

    monkeypatch.setattr(v, "read_regular", read)
    report = _verify(target, logs.now)
    assert not note.exists()
    _same(report, target, reference, upfront)
    assert report.intact


def _keeps_vanishing(monkeypatch: pytest.MonkeyPatch, segment: Path) -> None:
    """Every listing of the segment's chain shows it, and right after it is gone (until the next
    listing): what no retention does (it removes a segment once)."""
    real = fmt.segments
    hidden = segment.with_name(".hidden")

    def listing(chain_dir: Path) -> list[Path]:
        if hidden.exists():
            hidden.rename(segment)
        out = real(chain_dir)
        if chain_dir == segment.parent:
            segment.rename(hidden)
        return out

    monkeypatch.setattr(fmt, "segments", listing)


@pytest.mark.parametrize("command", ["verify", "show", "prove"])
def test_a_segment_that_vanishes_after_the_listing_is_one_line_and_exit_1(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        command: str) -> None:
    """show and prove stream what they list; verify checks it again up to 3 times. A segment gone
    each time it is opened ends each in one line naming it, exit 1 (it is no mistake in the command
    line: exit 2 would blame the operator), not exit 2 'No such file or directory'."""
    target = _copy(logs.sealed, tmp_path / "log")
    segment = fmt.segments(target / "chain-0")[1]
    shutil.rmtree(target / "checkpoints" / "chain-0" / "tile")  # (prove reads every segment, as without tiles)
    _keeps_vanishing(monkeypatch, segment)
    argv = {"verify": ["verify", str(target)], "show": ["show", str(target)],
            "prove": ["prove", str(target), "--seq", "1"]}[command]
    assert main(["audit", *argv]) == 1
    err = capsys.readouterr().err
    what = ("vanished 3 times in a row between verify's listing of the chain and its open (retention removes "
            "a segment once, after the listing that shows it): nothing was verified"
            if command == "verify" else
            f"vanished between {command}'s listing of the chain and its open (retention removes the oldest "
            "segments while the server runs): run again; mcp-comply audit verify checks what is left")
    assert err == f"mcp-comply audit {command}: error: {segment}: {what}\n"


def test_prove_refuses_a_segment_swapped_for_a_fifo_after_the_listing_with_exit_1(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """prove's reads of the chain (its size, its leaves) refuse a FIFO swapped in after the listing
    was checked (told here that every path is a regular file): exit 1 with show's line, not exit 2
    'a FIFO, not a regular file' as if the command line were wrong."""
    target = _copy(logs.sealed, tmp_path / "log")
    segment = fmt.segments(target / "chain-0")[1]
    segment.unlink()
    os.mkfifo(segment)
    monkeypatch.setattr(_files, "not_regular", lambda _path: None)
    shutil.rmtree(target / "checkpoints" / "chain-0" / "tile")  # the proof reads every segment
    assert main(["audit", "prove", str(target), "--seq", "1"]) == 1
    assert capsys.readouterr().err == (f"mcp-comply audit prove: error: {segment}: not a regular file (a FIFO): not "
                                       "a segment the writer wrote (mcp-comply audit verify reports it)\n")


LIVE_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from mcp_comply.audit.note import Signer
    from mcp_comply.audit.writer import AuditWriter, WriterConfig
    signer = Signer("test-audit", Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[3])))
    # a segment every ~15 records, and every record older than 0.3 s is past the retention period:
    # each rotation removes the segments before it
    writer = AuditWriter(WriterConfig(directory=Path(sys.argv[2]), signer=signer, max_segment_bytes=1500,
                                      retention_days=0.3 / 86400, checkpoint_every=5, checkpoint_interval_s=0.5))
    end = time.monotonic() + float(sys.argv[4])
    while time.monotonic() < end:
        writer.submit("call", {"pad": "x" * 60})
        writer.flush()
        time.sleep(0.002)
    writer.close()
""")


def test_verify_against_a_real_writer_that_prunes_at_every_rotation_finds_nothing(tmp_path: Path) -> None:
    """A real writer process whose retention removes segments at every rotation (a few times a
    second), and verify run against it over and over, in this process and with workers: every run
    is intact (notices aside) or, when a segment vanished at each of its 3 passes (retention here
    removes faster than verify reads), SegmentVanished; never another finding or exception. Before:
    FileNotFoundError in most runs, and false ``deleted`` findings."""
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    d = tmp_path / "audit"
    key = SIGNER.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    src = str(Path(__file__).resolve().parents[2] / "src")
    writer = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, src, str(d), key, "6"])
    outcomes: Counter[str] = Counter()
    try:
        deadline = time.monotonic() + 20
        while not (d / "chain-0" / fmt.segment_name(3)).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        while writer.poll() is None:
            jobs = [0, 2][sum(outcomes.values()) % 2]
            try:
                report = verify_directory(d, verifiers=[SIGNER.verifier], jobs=jobs)
            except v.SegmentVanished:
                outcomes["vanished"] += 1
                continue
            outcomes["intact" if report.intact else "findings"] += 1
            assert report.intact, [str(f) for f in report.findings]
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=30)
    assert writer.returncode == 0
    assert outcomes["intact"] >= 1, outcomes
    assert not (d / "chain-0" / fmt.segment_name(1)).exists()  # retention ran
    assert _verify(d, time.time()).intact  # and the sealed result is intact


# ---- the writer's start ---------------------------------------------------------------------------------------




def _damaged(directory: Path, path: Path, why: str) -> str:
    return (f"audit log damaged: {path} {why}: run `mcp-comply audit verify {directory}`; the writer will not "
            "continue this chain")


@pytest.mark.parametrize("state", [True, False], ids=["saved-state", "full-scan"])
def test_a_link_to_nothing_named_like_a_segment_stops_the_writer_s_start_naming_it(
        logs: Logs, tmp_path: Path, state: bool) -> None:
    """The start said 'No such file or directory' (through instrument(): 'cannot open the audit log
    in DIR: No such file or directory'), naming neither the file nor what it is."""
    target = _copy(logs.sealed, tmp_path / "log")
    if not state:
        (target / "chain-0" / "state.json").unlink()
    link = target / "chain-0" / fmt.segment_name(99)
    link.symlink_to(tmp_path / "nothing")
    assert _start(target) == _damaged(target, link, "is a link to nothing, not a segment the writer wrote")


@pytest.mark.parametrize("which", ["first", "last"])
@pytest.mark.parametrize("state", [True, False], ids=["saved-state", "full-scan"])
def test_a_segment_gone_after_the_writer_s_listing_stops_its_start_naming_it(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: bool, which: str) -> None:
    """The chain is locked: nothing but this writer removes its segments, so one gone between the
    start's listing and its reads was removed by someone else. The start raised FileNotFoundError (a
    traceback in the host, or instrument()'s line naming only the folder); now it is refused like
    other damage, naming the file."""
    target = _copy(logs.sealed, tmp_path / "log")
    if not state:
        (target / "chain-0" / "state.json").unlink()
    segments = fmt.segments(target / "chain-0")
    gone = segments[0 if which == "first" else -1]
    real = fmt.segments
    fired = [0]

    def listing(chain_dir: Path) -> list[Path]:
        out = real(chain_dir)
        if chain_dir == gone.parent and not fired[0]:
            fired[0] += 1
            gone.unlink()
        return out

    monkeypatch.setattr(fmt, "segments", listing)
    if state and which == "first":  # the saved state starts the scan at the last segment: the first is not read
        assert _start(target) == "started"
        return
    assert _start(target) == _damaged(target, gone, "vanished while the writer read the chain (it holds the "
                                      "chain's lock: nothing else removes its segments)")


@pytest.mark.parametrize("what", ["gone", "link"])
def test_the_segment_recovery_read_is_continued_only_as_it_was_read(
        logs: Logs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    """Between recovery's read of the last segment and the writer's open of it to append, the segment
    is removed, or replaced by a link to a copy of it (recovery follows links; the writer never
    writes through one). The open created an empty segment of that name and the chain went on (a
    hole verify reports as damage), or said 'Too many levels of symbolic links' naming no file. Now
    the start is refused, naming the file."""
    from mcp_comply.audit import writer as writer_module

    target = _copy(logs.sealed, tmp_path / "log")
    last = fmt.segments(target / "chain-0")[-1]
    real = writer_module.recover

    def recover_then_it_changes(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        if what == "link":
            shutil.copy2(last, tmp_path / "copy.jsonl")
            last.unlink()
            last.symlink_to(tmp_path / "copy.jsonl")
        else:
            last.unlink()
        return out

    monkeypatch.setattr(writer_module, "recover", recover_then_it_changes)
    why = ("is a link, not a segment the writer wrote" if what == "link" else
           "vanished while the writer read the chain (it holds the chain's lock: nothing else removes its segments)")
    assert _start(target) == _damaged(target, last, why)
    assert last.is_symlink() if what == "link" else not last.exists()


def _lines(directory: Path) -> Iterator[bytes]:
    for path in fmt.segments(directory / "chain-0"):
        yield from path.read_bytes().splitlines()


def test_the_fixture_has_a_signed_retention_marker(logs: Logs) -> None:
    markers = [json.loads(line) for line in _lines(logs.pruned) if b'"kind":"retention"' in line]
    assert [m["segments"] for m in markers] == [logs.doomed]

