"""Checkpoint notes of one chain: the signed C2SP tlog checkpoint over the Merkle tree, written
atomically as ``<size>.note`` and ``latest.note`` in the checkpoint folder (ship it off-host)."""

from __future__ import annotations

from pathlib import Path

from mcp_comply._files import write_atomic
from mcp_comply.audit.merkle import CompactTree
from mcp_comply.audit.note import Checkpoint, Signer

LATEST = "latest.note"


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
        # First the copy under the name clients fetch (``checkpoint`` links to it), synced, then the
        # numbered note, whose folder fsync makes both renames durable. So after any crash
        # ``latest.note`` is the newest numbered note or newer, never older, and ``audit verify``
        # can call an older one what it is: a rollback of what clients see (``stale_latest_note``).
        write_atomic(self.directory / LATEST, note, sync_dir=False)
        write_atomic(self.directory / name, note)
        return name
