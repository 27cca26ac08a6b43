"""Checkpoint notes of one chain: the signed C2SP tlog checkpoint over the Merkle tree, written
atomically as ``<size>.note`` and ``latest.note`` in the checkpoint folder (ship it off-host)."""

from __future__ import annotations

from pathlib import Path

from mcp_comply._files import write_atomic
from mcp_comply.audit.merkle import CompactTree
from mcp_comply.audit.note import Checkpoint, Signer


def note_name(size: int) -> str:
    return f"{size:012d}.note"


class NoteWriter:
    """Signs (or, without a key, only states) the tree of a chain at a given size."""

    def __init__(self, directory: Path, origin: str, signer: Signer | None) -> None:
        self.directory = directory
        self.origin = origin
        self.signer = signer
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, tree: CompactTree) -> str:
        """Write the note for the tree as it is now; returns its file name. Raises OSError."""
        body = Checkpoint(self.origin, tree.size, tree.root()).body()
        note = (self.signer.sign(body) if self.signer is not None else body).encode()
        name = note_name(tree.size)
        write_atomic(self.directory / name, note)
        # A copy under the name tlog-tiles clients fetch: atomic, but not synced (two fsyncs less per
        # checkpoint). After a crash it may be stale or empty until the restarted writer's first
        # checkpoint (right after its open record) writes it again; the numbered note is durable.
        write_atomic(self.directory / "latest.note", note, sync=False)
        return name
