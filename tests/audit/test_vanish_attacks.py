"""Attacks on the writer's start and on verify by someone with write access to the audit folder and
no signing key, made with real files: links, FIFOs and removals planted where the start or verify
reads the chain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcp_comply.audit import _format as fmt

from .conftest import SIGNER, write_log
from .conftest import start_writer as _start

SECRET = b"s3cret-api-token-0123456789"  # no newline: read as a crash's torn tail


@pytest.fixture(scope="module")
def signed_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("attacks") / "log"
    write_log(directory, 30, checkpoint_every=10, max_segment_bytes=2500)
    assert len(fmt.segments(directory / "chain-0")) >= 2
    return directory




@pytest.mark.parametrize("state", [True, False], ids=["saved-state", "full-scan"])
@pytest.mark.parametrize("where", ["next", "last"])
def test_a_link_named_like_a_segment_never_has_its_target_cut_or_copied(
        signed_log: Path, tmp_path: Path, state: bool, where: str) -> None:
    """A link named like the next segment (or put in place of the last one, to a copy of it with a
    torn tail), pointing at a file outside the audit folder that the server may write: the start's
    recovery followed it, read the target's bytes as the torn tail of a crash, copied them into a
    quarantine file in the audit folder and cut the target to the last good line (here: to nothing),
    then refused the link for the append. The start now refuses the link before reading through it:
    the target is untouched and nothing of it is copied into the audit folder."""
    target = tmp_path / "log"
    shutil.copytree(signed_log, target, symlinks=True)
    chain = target / "chain-0"
    if not state:
        (chain / "state.json").unlink()
    last = fmt.segments(chain)[-1]
    victim = tmp_path / "victim.txt"
    if where == "next":
        victim.write_bytes(SECRET)
        link = chain / fmt.segment_name((fmt.segment_index(last.name) or 0) + 1)
    else:
        victim.write_bytes(last.read_bytes() + SECRET)
        last.unlink()
        link = last
    before = victim.read_bytes()
    link.symlink_to(victim)
    assert _start(target) == (f"audit log damaged: {link} is a link, not a segment the writer wrote: run "
                              f"`mcp-comply audit verify {target}`; the writer will not continue this chain")
    assert victim.read_bytes() == before
    assert sorted(p.name for p in chain.iterdir() if ".torn-" in p.name) == []


def test_a_deletion_covered_by_a_forged_unsigned_retention_record_is_deleted(tmp_path: Path) -> None:
    """Retention removed the oldest segments under a signed ``retention`` record. The attacker removes
    the next one too and appends a ``retention`` record of their own naming it, every field right
    (range, the removed last line's hash, its newest timestamp, the signed period) and linked to the
    chain (the chain hash has no key), with no note over it. The signed record accounts for the start
    no more; the only one that does is the forged one (the oldest that accounts for the start is the
    one that counts), which no signed checkpoint covers: ``deleted``, not intact (here the chain was
    closed, so the forged record is also ``after_close`` and ``unsigned_tail``: the start's finding is
    the one this checks). Passes as committed: a guard on the "oldest accounting record" rule."""
    import json
    import time

    from mcp_comply.audit import verify as v
    from mcp_comply.audit.verify import verify_directory

    day = 86400.0
    settings: dict[str, object] = {"checkpoint_every": 10, "max_segment_bytes": 2500, "retention_days": 30}
    d = tmp_path / "log"
    now = [time.time() - 80 * day]
    write_log(d, 40, clock=lambda: now[0], **settings)
    now[0] += 40 * day
    write_log(d, 40, clock=lambda: now[0], **settings)
    chain = d / "chain-0"
    segments = fmt.segments(chain)
    genuine = verify_directory(d, verifiers=[SIGNER.verifier], now=now[0] + 60)
    assert genuine.findings == []
    assert genuine.intact
    assert genuine.chains[0].first_seq > 0
    gone, following, last = segments[0], segments[1], segments[-1]
    removed = gone.read_bytes().splitlines(keepends=True)
    rotation = json.loads(following.read_bytes().splitlines()[0])
    assert rotation["kind"] == "rotation"
    tail = last.read_bytes().splitlines(keepends=True)[-1]
    head = json.loads(tail)
    body = {"first_seq": json.loads(removed[0])["seq"], "last_seq": rotation["seq"] - 1,
            "last_hash": fmt.line_hash(removed[-1]), "newest_ts": rotation["prev_segment_newest_ts"],
            "retention_days": 30, "segments": [gone.name]}
    forged = fmt.encode(head["seq"] + 1, fmt.timestamp(now[0] + 31 * day), "chain-0", "retention",
                        fmt.line_hash(tail), body)
    with last.open("ab") as fh:
        fh.write(forged)
    gone.unlink()
    report = verify_directory(d, verifiers=[SIGNER.verifier], now=now[0] + 31 * day + 60)
    assert report.chains[0].first_seq == rotation["seq"]
    assert not report.intact
    found = [(f.kind, f.seq, f.detail) for f in report.findings]
    assert (v.DELETED, rotation["seq"], "the retention record that accounts for the start of the chain is not "
            "covered by a signed checkpoint") in found, found
