"""Adversarial review of the audit trail (issue 10): attacks beyond the attack table.

Each test builds a real log with the real writer, attacks it as someone with write access to the
audit folder (and its checkpoint folder) but without the signing key, or crashes the writer, and
asserts what a correct verifier (or writer) must do. Tests marked ``HOLE`` in their docstring
failed on the code they were written against (a review of the issue-10 rework) and pass since the
fixes; the others confirmed a defence from the start.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify as v
from mcp_comply.audit.verify import verify_directory

from .conftest import SIGNER
from .test_attacks import (
    DAY,
    _append,
    _calls,
    _line,
    _notes,
    _segments,
    _writer,
    delete_oldest_segment_forge_retention,
    edit_amount,
    rechain,
)

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _kinds(report: v.Report) -> set[str]:
    return {f.kind for f in report.findings if f.kind not in v.NOTICES}


def _sealed(directory: Path, calls: int = 40, clock: Any = time.time) -> Path:
    writer = _writer(directory, clock)
    _calls(writer, calls)
    writer.close()
    return directory


def _restart(directory: Path, calls: int = 0, clock: Any = time.time) -> None:
    """The operator restarts the server: a genuine writer opens the chain again."""
    writer = _writer(directory, clock)
    _calls(writer, calls, 900)
    writer.close()


def _remember(directory: Path, state: Path) -> None:
    genuine = verify_directory(directory, verifiers=[SIGNER.verifier], state_file=state)
    assert genuine.intact, genuine.findings


# ---- the genuine writer signs what an attacker wrote while it was stopped -----------------------
def test_restart_signs_a_forged_life_appended_after_close(tmp_path: Path) -> None:
    """HOLE. A sealed chain (close + final signed checkpoint). While the server is stopped the
    attacker appends a made-up life (open + a call). The operator restarts the server: recovery
    only checks seq/prev links, so the genuine writer continues after the forged records and its
    open checkpoint signs them. ``verify --key --state`` then calls the log intact although the
    records were never written by the writer and the previous life had sealed the chain."""
    d = _sealed(tmp_path / "audit")
    state = tmp_path / "state.json"
    _remember(d, state)
    _append(d, ("open", {"pid": 1, "retention_days": 30, "checkpoint_interval_s": 5}, time.time()),
            ("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": 1_000_000}}, time.time()))
    before = verify_directory(d, verifiers=[SIGNER.verifier], state_file=tmp_path / "scratch.json")
    assert v.UNSIGNED_TAIL in _kinds(before)  # caught while the server stays down
    _restart(d)
    after = verify_directory(d, verifiers=[SIGNER.verifier], state_file=state)
    assert not after.intact, "a forged life after a sealed chain became authenticated by the next restart"


def test_restart_signs_a_full_rewrite_whose_notes_were_deleted(tmp_path: Path) -> None:
    """HOLE. The attacker rewrites the whole sealed chain (an amount changed, every hash, checkpoint
    record and frontier recomputed), deletes the notes and the writer's state.json hint: ``--key``
    says not_authenticated. Then the server restarts: recovery accepts the rewritten chain (its
    links are consistent) and the open checkpoint signs it. ``verify --key`` now says intact (only
    --state notices the rewrite)."""
    d = _sealed(tmp_path / "audit")
    edit_amount(d)
    rechain(d, None)
    assert _kinds(verify_directory(d, verifiers=[SIGNER.verifier])) == {v.NOT_AUTHENTICATED}
    (d / "chain-0" / "state.json").unlink()  # the writer's recovery hint: recovery then reads every link
    _restart(d)
    report = verify_directory(d, verifiers=[SIGNER.verifier])
    assert b'"amount":7000}' in b"".join(p.read_bytes() for p in _segments(d))
    assert not report.intact, "a rewritten chain became authenticated by the next restart"


def test_restart_signs_a_forged_retention_record(tmp_path: Path) -> None:
    """HOLE. The attacker deletes the oldest segment (young records, covered by signed
    checkpoints) and appends a new life with a made-up retention record dated far enough in the
    future. After the next restart the genuine writer's checkpoint covers the marker, so ``verify
    --key --state`` accepts the deletion: --state skips its check because the remembered size is
    now "below the first remaining seq, removed by retention"."""
    d = _sealed(tmp_path / "audit")
    state = tmp_path / "state.json"
    _remember(d, state)
    delete_oldest_segment_forge_retention(d)
    _restart(d)
    report = verify_directory(d, verifiers=[SIGNER.verifier], state_file=state)
    assert not report.intact, "signed records deleted, verify --key --state says intact"


# ---- verifier holes without any restart ---------------------------------------------------------
def test_a_recovery_record_after_close_turns_a_sealed_chain_into_a_young_tail(tmp_path: Path) -> None:
    """HOLE. After ``close`` the verifier allows ``recovery`` (as well as open/checkpoint) and a
    recovery record clears "sealed". The genuine writer never writes recovery without an open right
    after it. So: append ``recovery`` + a call with the current time to a sealed chain, and
    ``verify --key --state`` reports only a young_unsigned_tail notice (exit 0) instead of
    after_close / unsigned_tail."""
    d = _sealed(tmp_path / "audit")
    state = tmp_path / "state.json"
    _remember(d, state)
    now = time.time()
    _append(d, ("recovery", {"segment": "x", "discarded_bytes": 0}, now),
            ("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": 1_000_000}}, now))
    report = verify_directory(d, verifiers=[SIGNER.verifier], state_file=state)
    assert _kinds(report) & {v.AFTER_CLOSE, v.UNSIGNED_TAIL}, report.findings


def test_deleting_a_whole_chain_passes_verify_with_state(tmp_path: Path) -> None:
    """HOLE. Two processes wrote two chains; --state remembers both. The attacker deletes chain-1
    and its checkpoint folder. verify only walks the chains it finds, so --key --state says
    intact although the state remembers a signed chain-1."""
    d = tmp_path / "audit"
    first, second = _writer(d), _writer(d)  # two live processes: chain-0 and chain-1
    _calls(first, 12)
    _calls(second, 12, 100)
    first.close()
    second.close()
    state = tmp_path / "state.json"
    _remember(d, state)
    assert set(json.loads(state.read_text())) == {"chain-0", "chain-1"}
    shutil.rmtree(d / "chain-1")
    shutil.rmtree(d / "checkpoints" / "chain-1")
    report = verify_directory(d, verifiers=[SIGNER.verifier], state_file=state)
    assert v.ROLLBACK in _kinds(report), report.findings


# ---- hostile input: crashes and memory ----------------------------------------------------------
def test_deeply_nested_json_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """HOLE. A line of 200,000 ``[`` (200 KB, far under the 16 MiB line limit): the stdlib JSON
    decoder raises RecursionError, which parse_line does not catch, so verify dies with a
    traceback (and so do show, recovery and the retention planner, which use the same parser)."""
    d = _sealed(tmp_path / "audit")
    with _segments(d)[-1].open("ab") as fh:
        fh.write(b'{"v":1,"x":' + b"[" * 200_000 + b"\n")
    report = verify_directory(d)
    assert v.MALFORMED in _kinds(report)


def test_deeply_nested_json_does_not_stop_the_writer(tmp_path: Path) -> None:
    """HOLE (same cause): recovery meets the nested line and raises RecursionError instead of its
    own AuditError ("damaged, not a torn tail"); a caller that handles AuditError gets a crash."""
    d = _sealed(tmp_path / "audit")
    (d / "chain-0" / "state.json").unlink()  # recovery reads everything
    with _segments(d)[-1].open("ab") as fh:
        fh.write(b'{"v":1,"x":' + b"[" * 200_000 + b"]" * 200_000 + b"}\n")
    from mcp_comply.audit.writer import AuditError
    with pytest.raises(AuditError):
        _writer(d)


def test_a_huge_frontier_height_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """HOLE. A rotation record whose frontier names a subtree of height 2**62: CompactTree.from_state
    computes ``1 << height`` and raises MemoryError (smaller heights, e.g. 2**33, really allocate a
    gigabyte). Only ValueError/TypeError are caught, so verify crashes. Here: the first segment is
    deleted and the next one's rotation record (the pruned-start path) carries the frontier."""
    d = _sealed(tmp_path / "audit")
    _segments(d)[0].unlink()
    seg = _segments(d)[0]
    lines = seg.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[0])
    record["frontier"] = [[2**62, "00" * 32]]
    lines[0] = _line(record, record["prev"])
    seg.write_bytes(b"".join(lines))
    report = verify_directory(d)
    assert {v.MODIFIED, v.DELETED} <= _kinds(report)


def test_a_note_with_a_unicode_digit_size_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    """HOLE (no --key). Checkpoint.parse accepts any str.isdigit() size; ``"²".isdigit()`` is True
    but ``int("²")`` raises ValueError, which read_notes does not catch: verify without a key
    crashes on one hostile note file. (A 5,000-digit size hits Python's int-digits limit the same
    way.)"""
    d = _sealed(tmp_path / "audit")
    (_notes(d) / "evil.note").write_text(f"origin\n²\n{fmt.b64(bytes(32))}\n\n— x AAAAAAAA\n")
    report = verify_directory(d)
    assert v.BAD_SIGNATURE in _kinds(report) or v.MALFORMED in _kinds(report)


def test_retention_records_with_huge_fields_hold_memory(tmp_path: Path) -> None:
    """HOLE. The verifier keeps every retention marker (its ``last_hash``, any string) and every
    rotation record's ``prev_segment_newest_ts`` (any JSON value) until the end of the chain. 24
    appended retention records with a 1 MiB ``last_hash`` each make verify hold ~24 MiB: memory
    grows with the file, not constant. (Each could be 16 MiB; and one marker per line.)"""
    d = _sealed(tmp_path / "audit")
    now = time.time()
    big = "a" * (1 << 20)
    _append(d, *[("retention", {"first_seq": 0, "last_seq": 1, "last_hash": big, "newest_ts": fmt.timestamp(now),
                                "retention_days": 30}, now) for _ in range(24)])
    tracemalloc.start()
    try:
        verify_directory(d)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = sum(p.stat().st_size for p in _segments(d))
    assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MiB for a {size}-byte log"


# ---- retention abuse and crash windows ---------------------------------------------------------
KILL_IN_UNLINK = textwrap.dedent("""
    import os, pathlib, signal, sys, time
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from mcp_comply.audit.note import Signer
    from mcp_comply.audit.writer import AuditWriter, WriterConfig
    kill_at, calls = int(sys.argv[4]), [0]
    real = pathlib.Path.unlink
    def unlink(self, missing_ok=False):
        if self.name.startswith("segment-"):
            calls[0] += 1
            if calls[0] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(self, missing_ok=missing_ok)
    pathlib.Path.unlink = unlink
    signer = Signer("test-audit", Ed25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[3])))
    AuditWriter(WriterConfig(directory=Path(sys.argv[2]), signer=signer, checkpoint_every=10,
                             checkpoint_interval_s=3600, max_segment_bytes=2500, retention_days=30))
    print("not killed", flush=True)
""")


@pytest.mark.parametrize("kill_at", [1, 2], ids=["before-any-unlink", "between-unlinks"])
def test_sigkill_during_retention_is_not_called_tampering(kill_at: int, tmp_path: Path) -> None:
    """HOLE (crash window). Retention writes the marker, signs it, then unlinks the doomed segments.
    A SIGKILL before the unlinks are done leaves (a) the doomed segments, or some of them, and (b)
    a signed marker. Between-unlinks: verify says ``deleted`` (the chain starts inside the marker's
    range, not at its end). After the restart the writer plans the same removal again and writes a
    second marker for the same range: verify says ``invalid_retention`` ("does not move past the
    previous one") forever. No one tampered with anything."""
    d = tmp_path / "audit"
    _sealed(d, 40, clock=lambda: time.time() - 40 * DAY)
    assert len(_segments(d)) >= 4
    key = SIGNER.key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()).hex()
    proc = subprocess.run([sys.executable, "-c", KILL_IN_UNLINK, SRC, str(d), key, str(kill_at)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    crashed = verify_directory(d, verifiers=[SIGNER.verifier])
    _restart(d, 3)
    restarted = verify_directory(d, verifiers=[SIGNER.verifier])
    assert (crashed.intact, restarted.intact) == (True, True), (crashed.findings, restarted.findings)


def test_crash_between_new_segment_and_rotation_record_stalls_retention(tmp_path: Path) -> None:
    """HOLE (crash window). _rotate creates the next segment file, then writes the rotation record
    into it. A crash in between leaves an empty segment; the next life writes open/checkpoint into
    it, so that segment never starts with a rotation record. retention.plan stops at the first
    segment without one, so from then on nothing older is ever removed (here all records are 100
    days old with a 30-day period, and 4 old segments stay)."""
    d = tmp_path / "audit"
    t0 = time.time() - 100 * DAY
    _sealed(d, 40, clock=lambda: t0)
    last = fmt.segment_index(_segments(d)[-1].name)
    assert last is not None
    (d / "chain-0" / fmt.segment_name(last + 1)).touch(mode=0o600)  # what the crash leaves
    _restart(d, 40, clock=lambda: t0 + DAY)
    _restart(d, 0, clock=time.time)
    kept = [p.name for p in _segments(d)]
    assert len(kept) <= 2, f"all records are 99+ days old with a 30-day period, still kept: {kept}"


def test_a_tampered_rotation_record_makes_the_writer_delete_young_records(tmp_path: Path) -> None:
    """HOLE (retention abuse). The retention planner trusts the rotation record's
    ``prev_segment_newest_ts`` as read from the file; it only checks that the rotation's ``prev``
    matches the previous segment's last line, not that the rotation line itself is the one the
    chain links to. Backdate it (same length, recovery starts from state.json and never rereads
    it) and the genuine writer deletes a segment of one-hour-old records, with a signed marker."""
    d = _sealed(tmp_path / "audit", 40, clock=lambda: time.time() - 3600)
    seg = _segments(d)[1]
    raw = seg.read_bytes()
    first = raw.split(b"\n", 1)[0]
    ts = json.loads(first)["prev_segment_newest_ts"].encode()
    seg.write_bytes(raw.replace(ts, b"2000-01-01T00:00:00.000000Z", 1))
    oldest = _segments(d)[0]
    _restart(d)
    # verify does notice the edited rotation line afterwards, but the records are gone
    assert v.MODIFIED in _kinds(verify_directory(d, verifiers=[SIGNER.verifier]))
    assert oldest.exists(), "the genuine writer deleted one-hour-old records on a forged rotation record"


# ---- defences that hold -------------------------------------------------------------------------
def test_defence_forged_life_after_close_without_restart(tmp_path: Path) -> None:
    """Holds: without a restart the forged life is an unsigned tail that contains an open."""
    d = _sealed(tmp_path / "audit")
    _append(d, ("open", {"pid": 1, "retention_days": 30, "checkpoint_interval_s": 5}, time.time()),
            ("call", {"method": "tools/call", "tool": "transfer", "args": {"amount": 1}}, time.time()))
    assert _kinds(verify_directory(d, verifiers=[SIGNER.verifier])) == {v.UNSIGNED_TAIL}


def test_defence_checkpoint_record_after_close(tmp_path: Path) -> None:
    """Holds: a correct checkpoint record (with extra fields) after close keeps the chain sealed, so
    with a key it is an unsigned tail of a sealed chain."""
    d = _sealed(tmp_path / "audit")
    report = verify_directory(d)
    size = report.chains[0].records
    root = report.chains[0].root
    _append(d, ("checkpoint", {"size": size, "root": fmt.b64(bytes.fromhex(root)), "tool": "transfer"}, time.time()))
    assert _kinds(verify_directory(d, verifiers=[SIGNER.verifier])) == {v.UNSIGNED_TAIL}


def test_defence_torn_forged_line_after_close_is_dropped_by_show_and_recovery(tmp_path: Path) -> None:
    """Holds (as documented): a forged line without newline after close is a torn_tail notice; it
    is not a record: the next start quarantines it and verify is clean."""
    d = _sealed(tmp_path / "audit")
    with _segments(d)[-1].open("ab") as fh:
        fh.write(b'{"v":1,"seq":99,"kind":"call","tool":"transfer"}')
    assert {f.kind for f in verify_directory(d, verifiers=[SIGNER.verifier]).findings} == {v.TORN_TAIL}
    _restart(d)
    assert verify_directory(d, verifiers=[SIGNER.verifier]).intact


def test_defence_note_from_another_chain(tmp_path: Path) -> None:
    """Holds: chain-1's signed notes copied over chain-0's do not match chain-0's roots."""
    d = tmp_path / "audit"
    first, second = _writer(d), _writer(d)
    _calls(first, 12)
    _calls(second, 12, 100)
    first.close()
    second.close()
    for note in _notes(d).glob("0*.note"):
        note.unlink()
    for note in (d / "checkpoints" / "chain-1").glob("0*.note"):
        shutil.copy(note, _notes(d) / note.name)
    assert v.INCONSISTENT in _kinds(verify_directory(d, verifiers=[SIGNER.verifier]))


def test_defence_hostile_huge_note_and_overlong_line(tmp_path: Path) -> None:
    """Holds: a 1 MiB note is a malformed finding; a 20 MiB line is hashed, reported, not held."""
    d = _sealed(tmp_path / "audit")
    (_notes(d) / "999999999999.note").write_bytes(b"x" * (1 << 20))
    with _segments(d)[-1].open("ab") as fh:
        fh.write(b"{" + b" " * (20 << 20) + b"}\n")
    tracemalloc.start()
    try:
        report = verify_directory(d, verifiers=[SIGNER.verifier])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert {v.MALFORMED, v.OVERLONG} <= _kinds(report)
    assert peak < 40 << 20


def test_defence_state_json_forgery_is_not_signed_silently(tmp_path: Path) -> None:
    """Holds: the writer signs its state file, so a forged state.json (a prev that does not match
    the files) is ignored: the restarted writer reads the chain from the start, anchored on its
    newest signed checkpoint, and continues it correctly."""
    d = _sealed(tmp_path / "audit")
    state_path = d / "chain-0" / "state.json"
    saved = json.loads(state_path.read_text())
    saved["prev"] = "f" * 64
    state_path.write_text(json.dumps(saved))
    _restart(d)
    report = verify_directory(d, verifiers=[SIGNER.verifier])
    assert report.findings == []
    assert report.chains[0].sealed
