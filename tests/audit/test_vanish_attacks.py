"""Attacks on the writer's start and on verify by someone with write access to the audit folder and
no signing key, made with real files: links, FIFOs and removals planted where the start or verify
reads the chain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mcp_comply.audit import _format as fmt
from mcp_comply.audit.writer import AuditError, AuditWriter, WriterConfig

from .conftest import SIGNER, write_log

SECRET = b"s3cret-api-token-0123456789"  # no newline: read as a crash's torn tail


@pytest.fixture(scope="module")
def signed_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("attacks") / "log"
    write_log(directory, 30, checkpoint_every=10, max_segment_bytes=2500)
    assert len(fmt.segments(directory / "chain-0")) >= 2
    return directory


def _start(directory: Path) -> str:
    try:
        AuditWriter(WriterConfig(directory=directory, signer=SIGNER, checkpoint_interval_s=3600)).close()
    except AuditError as exc:
        return str(exc)
    return "started"


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
