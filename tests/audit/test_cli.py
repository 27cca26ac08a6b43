"""`mcp-comply audit ...` exit codes and output, table-driven, on real logs."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_comply.audit import merkle
from mcp_comply.cli import main

from .conftest import SIGNER, call_unblocked, write_log


@pytest.fixture
def log(tmp_path: Path) -> Path:
    directory = tmp_path / "audit"
    write_log(directory, 12, checkpoint_every=5)
    (tmp_path / "key.pub").write_text(SIGNER.verifier.encode() + "\n")
    return directory


def test_verify_exit_codes(log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = str(tmp_path / "key.pub")
    assert main(["audit", "verify", str(log), "--key", key]) == 0
    assert "intact" in capsys.readouterr().out
    segment = log / "chain-0" / "segment-000001.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b'"a":3', b'"a":4'))
    assert main(["audit", "verify", str(log), "--key", key, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["intact"] is False
    assert {f["kind"] for f in report["findings"]} >= {"modified", "inconsistent_checkpoint"}
    first = next(f for f in report["findings"] if f["kind"] == "modified")
    assert first["file"].endswith("segment-000001.jsonl")
    # open, checkpoint, then calls a=0.. from seq 2: a=3 is seq 5, so the link of seq 6 breaks
    assert first["line"] == 7
    assert first["seq"] == 6
    assert main(["audit", "verify", str(tmp_path / "nowhere")]) == 2
    assert main(["audit", "verify", str(log), "--key", str(tmp_path / "missing.pub")]) == 2
    assert "missing.pub" in capsys.readouterr().err


def test_keygen_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "keygen", "--out", str(tmp_path / "k"), "--name", "ops"]) == 0
    assert (tmp_path / "k" / "audit-signing.pub").read_text().startswith("ops+")
    assert main(["audit", "keygen", "--out", str(tmp_path / "k")]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err


def test_show_filters(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "show", str(log), "--kind", "checkpoint", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # at open, after every 5 records since the last one, and at close
    assert [r["size"] for r in records] == [1, 7, 13, 17]
    assert main(["audit", "show", str(log), "--tool", "add"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 12


def test_prove_outputs_proofs_that_verify(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "prove", str(log), "--seq", "3"]) == 0
    inclusion = json.loads(capsys.readouterr().out)
    b64 = base64.b64decode
    merkle.verify_inclusion(b64(inclusion["leaf_hash"]), 3, inclusion["size"],
                            [b64(h) for h in inclusion["proof"]], b64(inclusion["root"]))
    assert main(["audit", "prove", str(log), "--old-size", "8", "--size", "14"]) == 0
    consistency = json.loads(capsys.readouterr().out)
    merkle.verify_consistency(8, 14, b64(consistency["old_root"]), b64(consistency["root"]),
                              [b64(h) for h in consistency["proof"]])
    # the roots are the ones the signed checkpoints carry
    notes = log / "checkpoints" / "chain-0"
    assert consistency["old_root"] == (notes / "000000000008.note").read_text().split("\n")[2]
    assert consistency["root"] == (notes / "000000000014.note").read_text().split("\n")[2]
    assert main(["audit", "prove", str(log)]) == 2


def test_verify_jobs_gives_the_same_report(log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = str(tmp_path / "key.pub")
    segment = log / "chain-0" / "segment-000001.jsonl"
    segment.write_bytes(segment.read_bytes().replace(b'"a":3', b'"a":4'))
    outputs = []
    for jobs in ("1", "2"):
        assert main(["audit", "verify", str(log), "--key", key, "--json", "--jobs", jobs]) == 1
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["findings"][0]["line"] == 7
    assert main(["audit", "verify", str(log), "--jobs", "0"]) == 2
    assert "argument --jobs: 0 is not positive; give 1 or more" in capsys.readouterr().err


def test_show_prints_damaged_and_hostile_records_safely(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Records that lack fields, hold other types or are not objects (a damaged or forged log:
    verify's findings) are shown as far as they go, not a KeyError traceback; names a client
    chose are printed with control characters escaped: no fake line, no terminal escapes."""
    segment = sorted((log / "chain-0").glob("segment-*.jsonl"))[-1]
    evil = {"ts": "t", "kind": "call", "method": "tools/call", "tool": "evil\x1b[31mRED\nFAKE 2026 chain-0#1",
            "client": {"name": "c\r\x1b]0;title\x07\u202e"}, "args": {}}
    with segment.open("a") as fh:
        fh.write('[1]\n5\n{"kind":"call"}\n{"ts":"x","seq":"a","chain":1,"kind":null,"client":5}\n')
        fh.write(json.dumps(evil) + "\n")
    assert main(["audit", "show", str(log)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[-3:] == [
        "? ?#?      call       None  -> None (None µs) by - args=null",
        "x 1#a      None       ",
        "t ?#?      call       tools/call evil\\x1b[31mRED\\nFAKE 2026 chain-0#1 -> None (None µs) by "
        "c\\r\\x1b]0;title\\x07\\u202e args={}",
    ]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The command in its own process, with a timeout: a FIFO that is opened blocks for good, and
    this test must fail then, not hang."""
    code = "import sys; from mcp_comply.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=30,
                          check=False)


@pytest.mark.parametrize(("where", "kind", "detail"), [
    pytest.param("chain-0/segment-000099.jsonl", "malformed",
                 "segment-000099.jsonl is not a regular file (a FIFO): not a segment the writer wrote", id="segment"),
    pytest.param("chain-0/segment-000001.jsonl", "malformed",
                 "segment-000001.jsonl is not a regular file (a FIFO): not a segment the writer wrote",
                 id="first-segment"),
])
def test_a_fifo_in_the_audit_dir_is_a_finding_not_a_hang(log: Path, tmp_path: Path, where: str, kind: str,
                                                        detail: str) -> None:
    """Someone with write access to the log folder puts a FIFO where a segment belongs: verify
    reports it (exit 1) instead of blocking on the open for good; show and prove refuse it,
    naming it (exit 1). (Notes, latest.note and checkpoint: tests/audit/test_verify.py.)"""
    path = log / where
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    proc = _cli("audit", "verify", str(log), "--key", str(tmp_path / "key.pub"), "--json")
    assert proc.returncode == 1, proc.stderr
    findings = [(f["kind"], f["file"], f["detail"]) for f in json.loads(proc.stdout)["findings"]]
    assert (kind, str(path), detail) in findings
    if where.startswith("chain-0/"):
        for command in (["show", str(log)], ["prove", str(log), "--seq", "1"]):
            proc = _cli("audit", *command)
            assert (proc.returncode, proc.stdout) == (1, "")
            assert proc.stderr == (f"mcp-comply audit {command[0]}: error: {path}: not a regular file (a FIFO): not "
                                   "a segment the writer wrote (mcp-comply audit verify reports it)\n")


def test_prove_skips_a_tile_that_is_a_fifo(log: Path) -> None:
    """The widest level-0 tile, the one the proof needs, is a FIFO: prove reads the log instead
    (and says so) rather than blocking on the tile for good."""
    widest = max((log / "checkpoints" / "chain-0" / "tile" / "0" / "000.p").iterdir(), key=lambda p: int(p.name))
    widest.unlink()
    os.mkfifo(widest)
    proc = _cli("audit", "prove", str(log), "--seq", "1", "--size", widest.name)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["kind"] == "inclusion"
    assert "cannot serve this proof" in proc.stderr
    assert "reading the whole log" in proc.stderr


def test_show_refuses_a_segment_swapped_for_a_fifo_after_the_listing(
        log: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The segment becomes a FIFO between show's look at the folder (told here that every path is a
    regular file) and its open: the open refuses it, with the same one line as a FIFO seen up front,
    instead of blocking for good."""
    from mcp_comply import _files

    path = log / "chain-0" / "segment-000001.jsonl"
    path.unlink()
    os.mkfifo(path)
    monkeypatch.setattr(_files, "not_regular", lambda _path: None)
    code = call_unblocked(lambda: main(["audit", "show", str(log)]), [path], "show blocked on a FIFO")
    assert code == 1
    assert capsys.readouterr().err == (f"mcp-comply audit show: error: {path}: not a regular file (a FIFO): not a "
                                       "segment the writer wrote (mcp-comply audit verify reports it)\n")


def test_prove_from_tiles_does_not_open_a_note_that_is_a_fifo(log: Path) -> None:
    """The checkpoint note of the proof's size (read to check the tiles' root) is a FIFO: prove
    answers from the tiles rather than blocking on the note for good."""
    note = log / "checkpoints" / "chain-0" / f"{10:012d}.note"
    note.unlink(missing_ok=True)
    os.mkfifo(note)
    proc = _cli("audit", "prove", str(log), "--seq", "1", "--size", "10")
    assert proc.returncode == 0, proc.stderr
    assert (json.loads(proc.stdout)["kind"], json.loads(proc.stdout)["size"]) == ("inclusion", 10)


def test_a_link_to_nothing_in_the_chain_is_a_finding_not_bad_input(log: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A link to nothing named like a segment: verify reports it (exit 1, the rest of the chain
    checked) rather than stopping at exit 2 with 'No such file or directory' as if its input were
    wrong; show and prove refuse it, naming it (exit 1)."""
    path = log / "chain-0" / "segment-000099.jsonl"
    path.symlink_to(tmp_path / "nothing")
    assert main(["audit", "verify", str(log), "--key", str(tmp_path / "key.pub"), "--json"]) == 1
    findings = [(f["kind"], f["file"], f["detail"]) for f in json.loads(capsys.readouterr().out)["findings"]]
    assert findings == [("malformed", str(path), "segment-000099.jsonl is not a regular file (a link to nothing): "
                         "not a segment the writer wrote")]
    for command in (["show", str(log)], ["prove", str(log), "--seq", "1"]):
        assert main(["audit", *command]) == 1
        assert capsys.readouterr().err == (
            f"mcp-comply audit {command[0]}: error: {path}: not a regular file (a link to nothing): not a segment "
            "the writer wrote (mcp-comply audit verify reports it)\n")
