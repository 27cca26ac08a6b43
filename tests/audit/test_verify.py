"""The verifier catches every kind of tampering, names where, and says what it could not check."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify as v
from mcp_comply.audit.merkle import CompactTree, leaf_hash
from mcp_comply.audit.note import Checkpoint
from mcp_comply.audit.verify import verify_directory

from .conftest import SIGNER, call_unblocked, write_log

SEGMENT = Path("chain-0") / fmt.segment_name(1)


def _verify(directory: Path, **kwargs: object) -> v.Report:
    return verify_directory(directory, verifiers=[SIGNER.verifier], **kwargs)  # type: ignore[arg-type]


def _kinds(report: v.Report) -> set[str]:
    return {f.kind for f in report.findings}


def test_pristine_log_is_intact(pristine: Path) -> None:
    report = _verify(pristine)
    assert report.intact
    assert report.findings == []
    (chain,) = report.chains
    # open + 40 calls + close + 6 checkpoint records (at open, every 10 records and at close),
    # each followed by a signed note whose tree includes it
    assert chain.records == 48
    assert chain.checkpoints_verified == 6
    assert chain.latest_checkpoint == 48
    assert (chain.authenticated, chain.unsigned, chain.sealed) == (48, 0, True)
    assert report.unchecked == ["no remembered state (--state): a rollback to an older copy of the whole "
                                "directory cannot be ruled out"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data(), st.booleans())
def test_every_single_byte_change_is_caught(pristine: Path, data: st.DataObject, strict: bool) -> None:
    """Any byte of any record, changed to any other value, is reported as a problem (with the
    full JSON parse and with --fast)."""
    raw = (pristine / SEGMENT).read_bytes()
    offset = data.draw(st.integers(0, len(raw) - 1), label="offset")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != raw[offset]), label="new byte")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "log"
        shutil.copytree(pristine, target)
        mutated = bytearray(raw)
        mutated[offset] = value
        (target / SEGMENT).write_bytes(bytes(mutated))
        report = _verify(target, strict_json=strict)
    assert not report.intact, (offset, value, strict)


def _lines(directory: Path) -> list[bytes]:
    return (directory / SEGMENT).read_bytes().splitlines(keepends=True)


def _write_lines(directory: Path, lines: list[bytes]) -> None:
    (directory / SEGMENT).write_bytes(b"".join(lines))


def test_deleted_record(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    target = copy_of(pristine)
    lines = _lines(target)
    del lines[5]
    _write_lines(target, lines)
    report = _verify(target)
    deleted = [f for f in report.findings if f.kind == v.DELETED]
    assert [(f.line, f.seq) for f in deleted] == [(6, 6)]
    assert deleted[0].file.endswith(str(SEGMENT))


def test_inserted_and_reordered_records(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    target = copy_of(pristine)
    lines = _lines(target)
    lines.insert(8, lines[7])  # duplicate seq 7
    _write_lines(target, lines)
    assert v.INSERTED in _kinds(_verify(target))

    lines = _lines(pristine)
    lines[10], lines[11] = lines[11], lines[10]
    _write_lines(target, lines)
    swapped = [(f.kind, f.line, f.seq) for f in _verify(target).findings
                if f.kind in (v.DELETED, v.REORDERED)]
    # seq 11 where 10 was due looks like a deletion; seq 10 after it is then out of order
    assert swapped == [(v.DELETED, 11, 11), (v.REORDERED, 12, 10)]


def test_modified_record_names_line_and_seq(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    target = copy_of(pristine)
    lines = _lines(target)
    lines[4] = lines[4].replace(b'"a":2', b'"a":9')  # open, checkpoint, a=0, a=1, a=2 (seq 4)
    _write_lines(target, lines)
    report = _verify(target)
    modified = [f for f in report.findings if f.kind == v.MODIFIED]
    assert [(f.line, f.seq) for f in modified] == [(6, 5)]  # the next record's link breaks
    assert v.INCONSISTENT in _kinds(report)  # and every checkpoint above it disagrees


def test_truncation_below_a_checkpoint(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    target = copy_of(pristine)
    _write_lines(target, _lines(target)[:30])
    report = _verify(target)
    truncated = [f for f in report.findings if f.kind == v.TRUNCATED]
    assert sorted(f.seq for f in truncated) == [35, 46, 48]  # checkpoints the short log cannot reach
    assert not report.intact


def test_rewrite_without_the_key_is_caught(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    """Recompute the whole chain and the checkpoints, but sign with another key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mcp_comply.audit.note import Signer

    target = copy_of(pristine)
    shutil.rmtree(target)
    forger = Signer(SIGNER.name, Ed25519PrivateKey.generate())
    from mcp_comply.audit.writer import AuditWriter, WriterConfig

    writer = AuditWriter(WriterConfig(directory=target, signer=forger, checkpoint_every=10))
    for i in range(40):
        writer.submit("call", {"method": "tools/call", "tool": "add", "args": {"a": -i}})
    writer.close()
    report = _verify(target)
    assert v.UNSIGNED in _kinds(report)  # a signature by the right name but the wrong key is no signature
    assert report.chains[0].checkpoints_verified == 0
    assert not report.intact
    # without the key, the same forgery looks intact, and the report says so plainly
    unkeyed = verify_directory(target)
    assert unkeyed.intact
    assert any("no public key given" in u for u in unkeyed.unchecked)


def test_forged_signature_is_a_bad_signature(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    target = copy_of(pristine)
    note = target / "checkpoints" / "chain-0" / "000000000013.note"
    text = note.read_text()
    sig = text.rsplit(" ", 1)[1]
    flipped = ("A" if sig[10] != "A" else "B").join([sig[:10], sig[11:]])
    note.write_text(text.replace(sig, flipped))
    report = _verify(target)
    assert [f.kind for f in report.findings] == [v.BAD_SIGNATURE]


def _resign(note: Path, origin: str) -> None:
    """The key holder's note over the same tree, signed for another log (``origin``)."""
    checkpoint = Checkpoint.parse(note.read_text().split("\n\n")[0] + "\n")
    note.write_text(SIGNER.sign(Checkpoint(origin, checkpoint.size, checkpoint.root).body()))


def _origin(note: Path) -> str:
    return Checkpoint.parse(note.read_text().split("\n\n")[0] + "\n").origin


def test_a_note_signed_for_another_origin_vouches_for_nothing(pristine: Path,
                                                              copy_of: Callable[[Path], Path]) -> None:
    """The root check cannot tell a note over this very tree signed for another log (same key,
    another origin); the origin check can, and such a note authenticates nothing."""
    target = copy_of(pristine)
    notes = target / "checkpoints" / "chain-0"
    chain_origin = _origin(notes / "000000000013.note")
    assert chain_origin == f"mcp-comply/{socket.gethostname()}/chain-0"  # the writer's default
    _resign(notes / "000000000013.note", "mcp-comply/elsewhere/chain-0")
    report = _verify(target)
    assert [(f.kind, f.file, f.line, f.seq) for f in report.findings] == [
        (v.FOREIGN, str(notes / "000000000013.note"), None, 13)]
    assert report.findings[0].detail == (f"checkpoint is for origin 'mcp-comply/elsewhere/chain-0' but this chain "
                                         f"states origin {chain_origin!r} there: a note of another log")
    assert (report.chains[0].checkpoints_verified, report.chains[0].authenticated) == (5, 48)
    assert [f.kind for f in verify_directory(target).findings] == [v.FOREIGN]  # no key: the body is read alike
    # the newest note: the sealed chain is no longer covered to its end
    _resign(notes / "000000000048.note", "mcp-comply/elsewhere/chain-0")
    _resign(notes / "latest.note", "mcp-comply/elsewhere/chain-0")  # its copy, which would still vouch
    report = _verify(target)
    assert [(f.kind, f.seq) for f in report.findings] == [(v.FOREIGN, 13), (v.FOREIGN, 48), (v.UNSIGNED_TAIL, 46)]
    assert (report.chains[0].checkpoints_verified, report.chains[0].authenticated) == (4, 46)


def test_each_life_signs_with_its_origin_and_a_pruned_chain_still_states_it(tmp_path: Path) -> None:
    """A writer restarted under another origin (a new host name) signs with it: not a finding.
    Retention removed the first life's open record; the checkpoint records left state the origin
    that life's remaining notes must carry."""
    d = tmp_path / "audit"
    now = [time.time() - 40 * 86400]
    settings: dict[str, object] = {"checkpoint_every": 10, "max_segment_bytes": 2500, "retention_days": 30,
                                   "clock": lambda: now[0]}
    write_log(d, 40, origin="mcp-comply/old-host/chain-0", **settings)
    now[0] += 31 * 86400
    write_log(d, 30, origin="mcp-comply/new-host/chain-0", **settings)
    report = _verify(d)
    assert report.findings == []
    (chain,) = report.chains
    first = fmt.segments(d / "chain-0")[0]
    assert chain.first_seq > 0
    assert b'"kind":"open"' not in first.read_bytes().split(b"\n")[0]  # the old life's open is gone
    above = [n for n in sorted((d / "checkpoints" / "chain-0").glob("0*.note")) if int(n.stem) > chain.first_seq]
    assert {_origin(n) for n in above} == {"mcp-comply/old-host/chain-0", "mcp-comply/new-host/chain-0"}
    assert chain.checkpoints_verified == len(above)
    old = next(n for n in above if _origin(n) == "mcp-comply/old-host/chain-0")
    _resign(old, "mcp-comply/new-host/chain-0")
    assert [(f.kind, f.seq) for f in _verify(d).findings] == [(v.FOREIGN, int(old.stem))]
    _resign(old, "mcp-comply/old-host/chain-0")
    # Before the first checkpoint record left (the rotation record and the call after it), the
    # origin is the first one the records state: the key holder's note there must carry it.
    rotation, call = first.read_bytes().splitlines(keepends=True)[:2]
    tree = CompactTree.from_state(chain.first_seq, json.loads(rotation)["frontier"])
    tree.append_leaf_hash(leaf_hash(rotation))
    tree.append_leaf_hash(leaf_hash(call))
    early = d / "checkpoints" / "chain-0" / f"{tree.size:012d}.note"
    assert json.loads(call)["kind"] == "call"
    assert not early.exists()
    for origin, findings in (("mcp-comply/new-host/chain-0", [(v.FOREIGN, tree.size)]),
                             ("mcp-comply/old-host/chain-0", [])):
        early.write_text(SIGNER.sign(Checkpoint(origin, tree.size, tree.root()).body()))
        report = _verify(d)
        assert [(f.kind, f.seq) for f in report.findings] == findings
        assert report.chains[0].checkpoints_verified == len(above) + (not findings)


def test_rollback_detected_with_remembered_state(tmp_path: Path) -> None:
    older = tmp_path / "older"
    write_log(older, 5, checkpoint_every=10)
    state = tmp_path / "state.json"
    current = tmp_path / "current"
    shutil.copytree(older, current)
    # extend the same chain: the writer continues it
    write_log(current, 30, checkpoint_every=10)
    assert _verify(current, state_file=state).intact
    remembered = json.loads(state.read_text())["chain-0"]["size"]
    assert remembered > 20
    shutil.rmtree(current)
    shutil.copytree(older, current)
    report = _verify(current, state_file=state)
    assert [f.kind for f in report.findings] == [v.ROLLBACK]


def test_duplicate_keys_nan_and_invalid_utf8(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    for bad, kind in ((b'"tool":"add"', v.DUPLICATE_KEY), (b'"a":NaN', v.MALFORMED), (b"\xff\xfe", v.INVALID_UTF8)):
        target = copy_of(pristine)
        lines = _lines(target)
        line = lines[5]  # the call with a=3
        if kind == v.DUPLICATE_KEY:
            lines[5] = line.replace(b'"tool":"add"', b'"tool":"add","tool":"delete_all"')
        elif kind == v.MALFORMED:
            lines[5] = line.replace(b'"a":3', bad)
        else:
            lines[5] = line.replace(b"\xc3\xa9", bad)
        assert lines[5] != line
        _write_lines(target, lines)
        report = _verify(target)
        assert [(f.kind, f.line) for f in report.findings if f.line == 6] == [(kind, 6)]
        shutil.rmtree(target)


def test_torn_tail_is_a_notice_not_tampering(tmp_path: Path) -> None:
    directory = tmp_path / "log"
    write_log(directory, 5, checkpoint_every=1000)
    segment = directory / SEGMENT
    segment.write_bytes(segment.read_bytes() + b'{"v":1,"seq":9,"ts":"2026')
    # the final note covers every complete record, so only the torn tail is reported
    report = _verify(directory)
    assert [f.kind for f in report.findings] == [v.TORN_TAIL]
    assert report.intact


def test_latest_note_older_than_the_newest_note_is_a_rollback_of_what_clients_see(
        pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    """``latest.note`` is written (synced) before the numbered note of the same tree, so no crash
    leaves it older: an older note there, though signed by the key for this very log, is a finding,
    with and without a key; ``checkpoint`` (the tlog-tiles name) links to it and is read through it."""
    target = copy_of(pristine)
    notes = target / "checkpoints" / "chain-0"
    sizes = sorted(int(p.stem) for p in notes.glob("0*.note"))
    assert os.readlink(notes / "checkpoint") == "latest.note"
    shutil.copy(notes / f"{sizes[1]:012d}.note", notes / "latest.note")
    for report in (_verify(target), verify_directory(target)):
        assert [(f.kind, f.file, f.seq, f.detail) for f in report.findings] == [
            (v.STALE_LATEST, str(notes / "latest.note"), sizes[-1],
             f"states size {sizes[1]} but the newest checkpoint is size {sizes[-1]}: clients fetching it see an "
             "older tree")]
        assert not report.intact


def test_a_linked_latest_note_is_not_followed(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    target = copy_of(pristine)
    notes = target / "checkpoints" / "chain-0"
    (notes / "latest.note").unlink()
    (notes / "latest.note").symlink_to("/etc/passwd")
    report = _verify(target)
    assert [(f.kind, f.file, f.detail) for f in report.findings] == [
        (v.STALE_LATEST, str(notes / "latest.note"),
         "is a link to '/etc/passwd': the writer writes it as a file, a copy of the newest note")]


def test_a_checkpoint_file_is_checked_like_latest_note(pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    """A checkpoint folder copied by a tool that follows links holds ``checkpoint`` as a file: what it
    says is checked like ``latest.note`` (here: a note whose root this log does not have)."""
    target = copy_of(pristine)
    notes = target / "checkpoints" / "chain-0"
    newest = max(notes.glob("0*.note"))
    (notes / "checkpoint").unlink()
    shutil.copy(newest, notes / "checkpoint")
    assert _verify(target).findings == []
    size = int(newest.stem)
    forged = Checkpoint.parse(newest.read_text().split("\n\n")[0] + "\n")
    (notes / "checkpoint").write_text(SIGNER.sign(Checkpoint(forged.origin, size, b"\x01" * 32).body()))
    report = _verify(target)
    assert [(f.kind, f.file, f.seq) for f in report.findings] == [(v.INCONSISTENT, str(notes / "checkpoint"), size)]


def _verify_bounded(target: Path, fifos: list[Path]) -> v.Report:
    """verify given 20 s: a reader blocked on a FIFO is let go (and the test fails)."""
    return call_unblocked(lambda: _verify(target), fifos, "verify blocked on a FIFO named like a note")


def test_a_note_name_that_is_not_a_regular_file_is_a_finding_not_a_hang_or_a_traceback(
        pristine: Path, copy_of: Callable[[Path], Path]) -> None:
    """Someone with write access to the checkpoint folder, no key: a FIFO named like a note blocked
    verify forever, a folder or a broken link named like one made it stop with a traceback (exit 2,
    no report). Each is a ``malformed`` finding, and the rest of the log is verified."""
    target = copy_of(pristine)
    notes = target / "checkpoints" / "chain-0"
    os.mkfifo(notes / "000000000099.note")
    (notes / "000000000098.note").symlink_to("gone.note")
    (notes / "zz.note").mkdir()
    report = _verify_bounded(target, [notes / "000000000099.note"])
    assert [(f.kind, f.file, f.detail) for f in report.findings] == [
        (v.MALFORMED, str(notes / "000000000098.note"), "cannot be read as a note: No such file or directory"),
        (v.MALFORMED, str(notes / "000000000099.note"), "cannot be read as a note: a FIFO, not a regular file"),
        (v.MALFORMED, str(notes / "zz.note"), "cannot be read as a note: a folder, not a regular file")]
    assert (report.chains[0].authenticated, report.chains[0].unsigned) == (48, 0)


@pytest.mark.parametrize("name", ["latest.note", "checkpoint"])
@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_served_name_that_is_a_folder_or_a_fifo_is_a_finding(
        pristine: Path, copy_of: Callable[[Path], Path], name: str, kind: str) -> None:
    """What clients fetch as the newest tree replaced by a folder (a web server serving the checkpoint
    folder answers ``GET /checkpoint`` with the folder's ``index.html``: here an older signed note of
    this log) or by a FIFO (the server's read hangs): verify, with and without a key, said intact."""
    target = copy_of(pristine)
    notes = target / "checkpoints" / "chain-0"
    older = sorted(notes.glob("0*.note"))[1]
    (notes / name).unlink()
    if kind == "folder":
        (notes / name).mkdir()
        shutil.copy(older, notes / name / "index.html")
    else:
        os.mkfifo(notes / name)
    what = "a folder" if kind == "folder" else "a FIFO"
    detail = (f"is {what}: the writer writes it as a file, a copy of the newest note; clients fetching it get none"
              if name == "latest.note" else f"is {what}, not the link to latest.note: clients fetching checkpoint "
              "are not served this chain's newest note")
    for report in (_verify_bounded(target, [notes / name]), verify_directory(target)):
        assert [(f.kind, f.file, f.seq, f.detail) for f in report.findings] == [
            (v.STALE_LATEST, str(notes / name), None, detail)]
        assert not report.intact


@pytest.mark.parametrize("jobs", [0, 1, 2])
def test_a_segment_swapped_for_a_fifo_after_the_listing_is_a_finding_not_a_hang(
        pristine: Path, copy_of: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch, jobs: int) -> None:
    """Someone with write access swaps a segment for a FIFO between verify's look at the folder and
    its open of the file (here: the look is told every path is a regular file). The open itself
    refuses the FIFO, so this is the same finding as a FIFO seen up front, not a reader blocked for
    good; with the block scan and its workers too."""
    target = copy_of(pristine)
    segment = fmt.segments(target / "chain-0")[0]
    segment.unlink()
    os.mkfifo(segment)
    monkeypatch.setattr(v, "not_regular", lambda _path: None)
    report = call_unblocked(lambda: verify_directory(target, verifiers=[SIGNER.verifier], now=time.time(), jobs=jobs),
                            [segment], "verify blocked on a FIFO swapped in for a segment")
    malformed = [(f.file, f.detail) for f in report.findings if f.kind == v.MALFORMED]
    assert malformed == [(str(segment), f"{segment.name} is not a regular file (a FIFO): not a segment the "
                                         "writer wrote")]
    assert not report.intact
    assert report.chains[0].records == 0  # nothing was read from it
