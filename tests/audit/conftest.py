"""Real audit logs on real files, written by the real writer."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_comply.audit.note import Signer
from mcp_comply.audit.writer import AuditError, AuditWriter, WriterConfig

SIGNER = Signer("test-audit", Ed25519PrivateKey.generate())
T = TypeVar("T")


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


def call_unblocked(call: Callable[[], T], fifos: list[Path], what: str, seconds: float = 20.0) -> T:
    """``call()`` in a thread given ``seconds``: if it blocks (a reader waiting on one of ``fifos``),
    the FIFOs get a writer that closes at once, which lets the reader go, and the test fails with
    ``what``. Its exception, if any, is raised here."""
    out: list[T | BaseException] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as exc:  # (re-raised below, in the test)
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(10)
        pytest.fail(what)
    result = out[0]
    if isinstance(result, BaseException):
        raise result
    return result


def start_writer(directory: Path) -> str:
    """Start a writer on ``directory`` and close it: "started", or the AuditError's text."""
    try:
        AuditWriter(WriterConfig(directory=directory, signer=SIGNER, checkpoint_interval_s=3600)).close()
    except AuditError as exc:
        return str(exc)
    return "started"
