"""Real audit logs on real files, written by the real writer."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_comply.audit.note import Signer
from mcp_comply.audit.writer import AuditWriter, WriterConfig

SIGNER = Signer("test-audit", Ed25519PrivateKey.generate())


def write_log(directory: Path, records: int, **config: object) -> AuditWriter:
    """A signed log; checkpoints by count only (unless the test says otherwise), so record positions
    do not depend on how fast this machine is."""
    config.setdefault("checkpoint_interval_s", 3600.0)
    writer = AuditWriter(WriterConfig(directory=directory, signer=SIGNER, **config))  # type: ignore[arg-type]
    for i in range(records):
        writer.submit("call", {"method": "tools/call", "tool": "add", "args": {"a": i, "note": "é"}})
        writer.flush()  # one record per batch: checkpoint positions are deterministic
    writer.close()
    return writer


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed log of 40 calls with checkpoints every 10 records."""
    directory = tmp_path_factory.mktemp("pristine")
    write_log(directory, 40, checkpoint_every=10)
    return directory


@pytest.fixture
def copy_of(tmp_path: Path) -> Callable[[Path], Path]:
    def copy(source: Path) -> Path:
        target = tmp_path / "copy"
        shutil.copytree(source, target, symlinks=True)  # as `cp -a` would: checkpoint stays a link
        return target

    return copy
