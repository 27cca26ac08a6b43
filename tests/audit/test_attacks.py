"""The attack table: someone with write access to the audit folder but not the signing key edits,
deletes, adds, reorders or rewrites; each attack runs on a real log written by the real writer and
is verified three ways: no key, ``--key``, ``--key --state`` (state remembered from the genuine log).

The expected verdicts are the README's table. ``set()`` means verify calls the log intact: with no
key that is the documented limit (anyone can recompute hashes), and with a key only a tail younger
than the checkpoint interval plus grace (a live writer's, or an attacker's a moment ago) passes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify as v
from mcp_comply.audit.merkle import CompactTree, leaf_hash
from mcp_comply.audit.note import Checkpoint, Signer
from mcp_comply.audit.verify import verify_directory
from mcp_comply.audit.writer import AuditWriter, WriterConfig

from .conftest import SIGNER

FORGER = Signer(SIGNER.name, Ed25519PrivateKey.generate())  # the right name, the wrong key
DAY = 86400.0


def _writer(directory: Path, clock: Callable[[], float] = time.time, **extra: Any) -> AuditWriter:
    settings: dict[str, Any] = {"checkpoint_every": 10, "checkpoint_interval_s": 3600, "max_segment_bytes": 2500,
                                "retention_days": 30, **extra}
    return AuditWriter(WriterConfig(directory=directory, signer=SIGNER, clock=clock, **settings))


def _calls(writer: AuditWriter, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        writer.submit("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": i}})
        writer.flush()


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A closed, signed chain over several segments."""
    directory = tmp_path_factory.mktemp("sealed")
    writer = _writer(directory)
    _calls(writer, 40)
    writer.close()
    return directory


@pytest.fixture(scope="module")
def pruned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sealed chain whose oldest segments retention removed (31 days later by the records' clock)."""
    directory = tmp_path_factory.mktemp("pruned")
    now = [time.time() - 40 * DAY]
    writer = _writer(directory, lambda: now[0])
    _calls(writer, 40)
    writer.close()
    now[0] += 31 * DAY
    writer = _writer(directory, lambda: now[0])
    _calls(writer, 30, 100)
    writer.close()
    assert not (directory / "chain-0" / fmt.segment_name(1)).exists()
    return directory


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A snapshot of a running writer: 5 calls after its newest checkpoint, not closed."""
    directory = tmp_path_factory.mktemp("live")
    running = tmp_path_factory.mktemp("running")
    writer = _writer(running, max_segment_bytes=1 << 20)
    _calls(writer, 25)
    shutil.copytree(running, directory, dirs_exist_ok=True)
    writer.close()
    return directory


# ---- tools of the attacker ----------------------------------------------------------------------
def _segments(d: Path) -> list[Path]:
    return fmt.segments(d / "chain-0")


def _all_lines(d: Path) -> list[tuple[Path, bytes]]:
    return [(p, line) for p in _segments(d) for line in p.read_bytes().splitlines(keepends=True)]


def _rewrite(d: Path, edit: Callable[[list[tuple[Path, bytes]]], list[tuple[Path, bytes]]]) -> None:
    lines = edit(_all_lines(d))
    for path in _segments(d):
        path.write_bytes(b"".join(line for p, line in lines if p == path))


def _notes(d: Path) -> Path:
    return d / "checkpoints" / "chain-0"


def rechain(d: Path, signer: Signer | None) -> None:
    """Recompute every link, checkpoint record and rotation frontier after an edit, delete the
    notes, and (with a signer) sign new ones where the writer would, with the origin its checkpoint
    record states: a perfect forgery but for the key."""
    shutil.rmtree(_notes(d))
    _notes(d).mkdir(parents=True)
    tree, prev = CompactTree(), None
    for path in _segments(d):
        out = []
        for raw in path.read_bytes().splitlines(keepends=True):
            record = json.loads(raw)
            if prev is None:
                prev = record["prev"]
                if record["seq"]:
                    tree = CompactTree.from_state(record["seq"], record["frontier"])
            if record["kind"] == "checkpoint":
                record.update(size=tree.size, root=fmt.b64(tree.root()))
            if record["kind"] == "rotation":
                record.update(tree_size=tree.size, frontier=tree.state())
            body = {k: val for k, val in record.items() if k not in fmt.HEADER}
            line = fmt.encode(record["seq"], record["ts"], record["chain"], record["kind"], prev, body)
            out.append(line)
            tree.append_leaf_hash(leaf_hash(line))
            prev = fmt.line_hash(line)
            if record["kind"] == "checkpoint" and signer is not None:
                text = signer.sign(Checkpoint(record["origin"], tree.size, tree.root()).body())
                (_notes(d) / f"{tree.size:012d}.note").write_text(text)
                (_notes(d) / "latest.note").write_text(text)  # what clients fetch, as the writer keeps it
        path.write_bytes(b"".join(out))


def _line(record: dict[str, Any], prev: str) -> bytes:
    body = {k: val for k, val in record.items() if k not in fmt.HEADER}
    return fmt.encode(record["seq"], record["ts"], record["chain"], record["kind"], prev, body)


def _append(d: Path, *records: tuple[str, dict[str, Any], float]) -> None:
    """Append correctly chained records (seq and prev right) to the last segment."""
    last = _segments(d)[-1]
    lines = last.read_bytes().splitlines(keepends=True)
    head = json.loads(lines[-1])
    seq, prev = head["seq"] + 1, fmt.line_hash(lines[-1])
    for kind, body, unix in records:
        line = _line({"seq": seq, "ts": fmt.timestamp(unix), "chain": "chain-0", "kind": kind, **body}, prev)
        lines.append(line)
        seq, prev = seq + 1, fmt.line_hash(line)
    last.write_bytes(b"".join(lines))


def edit_amount(d: Path) -> None:
    _rewrite(d, lambda ls: [(p, x.replace(b'"amount":7}', b'"amount":7000}')) for p, x in ls])


def delete_one(d: Path) -> None:
    _rewrite(d, lambda ls: [pl for pl in ls if b'"amount":7}' not in pl[1]])


def insert_copy(d: Path) -> None:
    _rewrite(d, lambda ls: [*ls[:9], ls[8], *ls[9:]])


def swap_two(d: Path) -> None:
    def swap(ls: list[tuple[Path, bytes]]) -> list[tuple[Path, bytes]]:
        ls = list(ls)
        (p1, a), (p2, b) = ls[5], ls[6]
        ls[5], ls[6] = (p1, b), (p2, a)
        return ls

    _rewrite(d, swap)


def truncate_tail(d: Path) -> None:
    _rewrite(d, lambda ls: ls[:-6])


def truncate_to_older_checkpoint(d: Path) -> None:
    """Cut the log back to an older signed size and delete the notes above it."""
    sizes = sorted(int(p.stem) for p in _notes(d).glob("0*.note"))
    keep = sizes[-3]
    _rewrite(d, lambda ls: ls[:keep])
    for p in _notes(d).glob("0*.note"):
        if int(p.stem) > keep:
            p.unlink()
    for name in ("latest.note", "checkpoint"):  # (a copied folder holds `checkpoint` as a file)
        shutil.copy(_notes(d) / f"{keep:012d}.note", _notes(d) / name)


def rewrite_all_delete_notes(d: Path) -> None:
    edit_amount(d)
    rechain(d, None)


def rewrite_all_sign_with_other_key(d: Path) -> None:
    edit_amount(d)
    rechain(d, FORGER)


def delete_notes(d: Path) -> None:
    shutil.rmtree(_notes(d))


def delete_newest_note(d: Path) -> None:
    newest = max(_notes(d).glob("0*.note"))
    newest.unlink()


def delete_newest_note_and_its_copies(d: Path) -> None:
    delete_newest_note(d)
    for name in ("latest.note", "checkpoint"):
        (_notes(d) / name).unlink()


def delete_newest_note_copy_the_older(d: Path) -> None:
    """What clients fetch and the newest numbered note both rolled back to the note before."""
    delete_newest_note(d)
    older = max(_notes(d).glob("0*.note"))
    for name in ("latest.note", "checkpoint"):
        shutil.copy(older, _notes(d) / name)


def roll_latest_back(d: Path) -> None:
    """An older signed note (the right key, this log) where clients fetch the newest tree."""
    older = sorted(_notes(d).glob("0*.note"))[-3]
    shutil.copy(older, _notes(d) / "latest.note")


def link_checkpoint_to_an_older_note(d: Path) -> None:
    older = sorted(_notes(d).glob("0*.note"))[-3]
    (_notes(d) / "checkpoint").unlink()
    (_notes(d) / "checkpoint").symlink_to(older.name)


def serve_a_folder_or_a_fifo(d: Path) -> None:
    """``checkpoint`` a folder whose ``index.html`` (what a web server answers for it) is an older
    note of this log, ``latest.note`` a FIFO (a server reading it hangs)."""
    older = sorted(_notes(d).glob("0*.note"))[-3]
    (_notes(d) / "checkpoint").unlink()
    (_notes(d) / "checkpoint").mkdir()
    shutil.copy(older, _notes(d) / "checkpoint" / "index.html")
    (_notes(d) / "latest.note").unlink()
    os.mkfifo(_notes(d) / "latest.note")


def flip_signature(d: Path) -> None:
    note = sorted(_notes(d).glob("0*.note"))[1]
    text = note.read_text()
    sig = text.rsplit(" ", 1)[1]
    note.write_text(text.replace(sig, ("A" if sig[10] != "A" else "B").join([sig[:10], sig[11:]])))


def edit_note_root(d: Path) -> None:
    note = sorted(_notes(d).glob("0*.note"))[1]
    lines = note.read_text().split("\n")
    lines[2] = fmt.b64(b"\x01" * 32)
    note.write_text("\n".join(lines))


def note_of_another_log(d: Path) -> None:
    """The key holder's other server signs its chain with the same key under its own origin. Its
    note of a size this chain also has is copied over this chain's note of that size (same name)."""
    other = d.with_name(d.name + ".elsewhere")
    writer = _writer(other, origin="mcp-comply/elsewhere/chain-0")
    _calls(writer, 40)
    writer.close()
    ours = {p.name for p in _notes(d).glob("0*.note")}
    both = sorted(p.name for p in _notes(other).glob("0*.note") if p.name in ours)
    assert len(both) >= 3  # the second is neither the first nor the newest: coverage is unchanged
    shutil.copy(_notes(other) / both[1], _notes(d) / both[1])


def append_after_close(d: Path) -> None:
    _append(d, ("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": 1}}, time.time()))


def append_forged_life(d: Path) -> None:
    """A made-up new life: recovery-free open record and a call, chained correctly, unsigned."""
    _append(d, ("open", {"pid": 1, "retention_days": 30, "checkpoint_interval_s": 5}, time.time()),
            ("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": 99}}, time.time()))


def append_to_live(d: Path) -> None:
    _append(d, ("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": 99}}, time.time()))


def delete_oldest_segment(d: Path) -> None:
    _segments(d)[0].unlink()


def delete_oldest_segment_forge_retention(d: Path) -> None:
    """What an attacker would write for a genuine-looking removal: the marker names exactly the
    range before the remaining rotation record, with a timestamp that makes it old enough."""
    doomed = _segments(d)[0]
    doomed.unlink()
    rotation = json.loads(_segments(d)[0].read_bytes().splitlines()[0])
    newest = fmt.parse_ts(rotation["prev_segment_newest_ts"])
    assert newest is not None
    marker = {"first_seq": 0, "last_seq": rotation["seq"] - 1, "last_hash": rotation["prev"],
              "newest_ts": rotation["prev_segment_newest_ts"], "retention_days": 30, "segments": [doomed.name]}
    _append(d, ("open", {"pid": 1, "retention_days": 30, "checkpoint_interval_s": 5}, newest + 31 * DAY),
            ("retention", marker, newest + 31 * DAY))


def append_forged_retention_after_close(d: Path) -> None:
    rotation = json.loads(_segments(d)[1].read_bytes().splitlines()[0])
    _segments(d)[0].unlink()
    marker = {"first_seq": 0, "last_seq": rotation["seq"] - 1, "last_hash": rotation["prev"],
              "newest_ts": rotation["prev_segment_newest_ts"], "retention_days": 30, "segments": []}
    _append(d, ("retention", marker, time.time() + 40 * DAY))


def delete_retention_marker(d: Path) -> None:
    _rewrite(d, lambda ls: [pl for pl in ls if b'"kind":"retention"' not in pl[1]])


def restore_older_copy(d: Path) -> None:
    """Roll the whole folder back to what it was before the last life (kept aside at the start)."""
    shutil.rmtree(d)
    shutil.copytree(d.with_name(d.name + ".older"), d)


def overlong_line(d: Path) -> None:
    last = _segments(d)[-1]
    with last.open("ab") as fh:
        fh.write(b'{"v":1,' + b" " * (fmt.MAX_LINE + 10) + b"}\n")


@dataclass(frozen=True)
class Attack:
    name: str
    base: str
    act: Callable[[Path], None]
    no_key: set[str]
    key: set[str]
    key_state: set[str]


M, INS, DEL, REO = v.MODIFIED, v.INSERTED, v.DELETED, v.REORDERED
INC, TRUNC, NA, TAIL = v.INCONSISTENT, v.TRUNCATED, v.NOT_AUTHENTICATED, v.UNSIGNED_TAIL
RET, STALE = v.BAD_RETENTION, v.STALE_LATEST

ATTACKS = [
    # A changed, removed, added or moved record breaks the chain and every checkpoint above it; with
    # a key the records after the last checkpoint that still verifies are an unsigned tail as well.
    Attack("edit a record", "sealed", edit_amount, {M, INC}, {M, INC, TAIL}, {M, INC, TAIL, v.ROLLBACK}),
    Attack("delete a record", "sealed", delete_one, {DEL, INC, TRUNC}, {DEL, INC, TRUNC, TAIL},
           {DEL, INC, TRUNC, TAIL, v.ROLLBACK}),
    Attack("insert a copy", "sealed", insert_copy, {INS, INC}, {INS, INC, TAIL}, {INS, INC, TAIL, v.ROLLBACK}),
    Attack("swap two records", "sealed", swap_two, {DEL, REO, M, INC}, {DEL, REO, M, INC, TAIL},
           {DEL, REO, M, INC, TAIL, v.ROLLBACK}),
    Attack("truncate the tail", "sealed", truncate_tail, {TRUNC}, {TRUNC}, {TRUNC, v.ROLLBACK}),
    # What a key alone cannot tell from a writer that was stopped earlier: --state can.
    Attack("truncate to an older checkpoint, delete newer notes", "sealed", truncate_to_older_checkpoint,
           set(), set(), {v.ROLLBACK}),
    Attack("roll the folder back to an older copy", "sealed", restore_older_copy, set(), set(), {v.ROLLBACK}),
    # Rewrites that recompute every hash: only the signature tells.
    Attack("rewrite everything, delete the notes", "sealed", rewrite_all_delete_notes, set(), {NA},
           {NA, v.ROLLBACK}),
    Attack("rewrite everything, sign with another key", "sealed", rewrite_all_sign_with_other_key, set(),
           {v.UNSIGNED, NA}, {v.UNSIGNED, NA, v.ROLLBACK}),
    Attack("delete every note", "sealed", delete_notes, set(), {NA}, {NA}),
    # latest.note, a copy of the newest note written before it, vouches for the same tree; deleting
    # it as well, or rolling both back, leaves a tail the remaining notes do not cover.
    Attack("delete the newest note", "sealed", delete_newest_note, set(), set(), set()),
    Attack("delete the newest note and latest.note", "sealed", delete_newest_note_and_its_copies, {STALE},
           {STALE, TAIL}, {STALE, TAIL}),
    Attack("delete the newest note, copy the one before to latest.note", "sealed",
           delete_newest_note_copy_the_older, set(), {TAIL}, {TAIL}),
    # What clients fetch as the newest tree (latest.note, and checkpoint, the tlog-tiles name)
    # rolled back to an older signed note of this very log.
    Attack("put an older note in latest.note", "sealed", roll_latest_back, {STALE}, {STALE}, {STALE}),
    Attack("link checkpoint to an older note", "sealed", link_checkpoint_to_an_older_note, {STALE}, {STALE},
           {STALE}),
    Attack("serve a folder or a FIFO as checkpoint and latest.note", "sealed", serve_a_folder_or_a_fifo, {STALE},
           {STALE}, {STALE}),
    Attack("flip a note's signature", "sealed", flip_signature, set(), {v.BAD_SIGNATURE}, {v.BAD_SIGNATURE}),
    Attack("change a note's root", "sealed", edit_note_root, {INC}, {v.BAD_SIGNATURE}, {v.BAD_SIGNATURE}),
    # A note signed with the right key for another log: its root does not match this chain's, and
    # its origin is not the one this chain's checkpoint record states (defence in depth).
    Attack("copy another log's note (same key) over one of ours", "sealed", note_of_another_log,
           {v.FOREIGN, INC}, {v.FOREIGN, INC}, {v.FOREIGN, INC}),
    # Additions at the end.
    Attack("append a record after close", "sealed", append_after_close, {v.AFTER_CLOSE}, {v.AFTER_CLOSE},
           {v.AFTER_CLOSE}),
    Attack("append a made-up new life", "sealed", append_forged_life, set(), {TAIL}, {TAIL}),
    Attack("append a multi-MB line", "sealed", overlong_line, {v.OVERLONG, v.AFTER_CLOSE},
           {v.OVERLONG, v.AFTER_CLOSE, TAIL}, {v.OVERLONG, v.AFTER_CLOSE, TAIL}),
    # The one thing no verifier can catch: a record appended to a live writer's young tail.
    Attack("append to a live writer's tail", "live", append_to_live, set(), set(), set()),
    # Deletions at the start.
    Attack("delete the oldest segment", "sealed", delete_oldest_segment, {DEL}, {DEL}, {DEL}),
    # (young records can only be "old enough" with a retention record dated in the future)
    Attack("delete the oldest segment, forge a retention record", "sealed", delete_oldest_segment_forge_retention,
           {RET}, {RET, DEL, TAIL}, {RET, DEL, TAIL}),
    Attack("forge a retention record after close", "sealed", append_forged_retention_after_close,
           {v.AFTER_CLOSE, RET}, {v.AFTER_CLOSE, RET, DEL, TAIL}, {v.AFTER_CLOSE, RET, DEL, TAIL}),
    Attack("delete the retention record of a pruned chain", "pruned", delete_retention_marker, {DEL, INC, TRUNC},
           {DEL, INC, TRUNC, TAIL}, {DEL, INC, TRUNC, TAIL, v.ROLLBACK}),
    Attack("delete the oldest remaining segment of a pruned chain", "pruned", delete_oldest_segment,
           {DEL}, {DEL}, {DEL}),
]


def _kinds(report: v.Report) -> set[str]:
    return {f.kind for f in report.findings if f.kind not in v.NOTICES}


def attacked(attack: Attack, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the attack's log, verified genuine with a remembered state, then attacked: the
    attacked folder and the state file."""
    source: Path = request.getfixturevalue(attack.base)
    target = tmp_path / "audit"
    shutil.copytree(source, target)
    shutil.copytree(source, tmp_path / "audit.older")
    state = tmp_path / "state.json"
    genuine = verify_directory(target, verifiers=[SIGNER.verifier], state_file=state)
    assert genuine.intact, genuine.findings
    if attack.act is restore_older_copy:
        # the folder grows by one more life after the state was remembered, then is rolled back
        writer = _writer(target)
        _calls(writer, 12, 500)
        writer.close()
        assert verify_directory(target, verifiers=[SIGNER.verifier], state_file=state).intact
    attack.act(target)
    return target, state


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_table(attack: Attack, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    target, state = attacked(attack, request, tmp_path)
    no_key = verify_directory(target)
    keyed = verify_directory(target, verifiers=[SIGNER.verifier])
    stated = verify_directory(target, verifiers=[SIGNER.verifier], state_file=state)
    got = (_kinds(no_key), _kinds(keyed), _kinds(stated))
    assert got == (attack.no_key, attack.key, attack.key_state), f"ACTUAL {got}"
    if not attack.key:
        # what passes with a key is at most a young tail (reported) or an older signed state
        assert {f.kind for f in keyed.findings} <= {v.YOUNG_TAIL}


def test_a_live_tail_becomes_a_finding_once_older_than_the_interval(live: Path) -> None:
    """The 5 calls after the newest checkpoint: a notice while young; a finding once a writer that
    was alive would have signed them (a crash with no restart, or an attacker's appendix)."""
    keyed = verify_directory(live, verifiers=[SIGNER.verifier])
    assert [f.kind for f in keyed.findings] == [v.YOUNG_TAIL]
    (chain,) = keyed.chains
    assert (chain.unsigned, chain.sealed) == (5, False)
    later = verify_directory(live, verifiers=[SIGNER.verifier], now=time.time() + 3600 + 60)
    assert [f.kind for f in later.findings] == [v.UNSIGNED_TAIL]
    assert "5 record(s) after the newest signed checkpoint" in later.findings[0].detail
    assert not later.intact


def test_even_the_key_holder_cannot_remove_young_records_or_change_the_period(pruned: Path, tmp_path: Path) -> None:
    """A retention record re-signed by the key holder still has to agree with the period the chain
    signed and with the age of what it removed."""
    for field_name, value, expected in (("retention_days", 1, "states 1 days; the period signed into the chain is 30"),
                                        ("newest_ts", None, "removed records were 0.00 days old")):
        target = tmp_path / field_name
        shutil.copytree(pruned, target)

        def edit(ls: list[tuple[Path, bytes]], name: str = field_name, new: Any = value) -> list[tuple[Path, bytes]]:
            out = []
            for p, line in ls:
                if b'"kind":"retention"' not in line:
                    out.append((p, line))
                    continue
                record = json.loads(line)
                record[name] = record["ts"] if new is None else new
                out.append((p, _line(record, record["prev"])))
            return out

        _rewrite(target, edit)
        rechain(target, SIGNER)
        report = verify_directory(target, verifiers=[SIGNER.verifier])
        details = [f.detail for f in report.findings if f.kind == v.BAD_RETENTION]
        assert any(expected in d for d in details), report.findings
