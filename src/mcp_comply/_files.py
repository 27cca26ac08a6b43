"""Durable file writes shared by the whole package: a reader never sees half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, sync: bool = True, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync it, rename it
    over ``path`` and fsync the folder. The temporary file is removed if anything fails.

    ``sync=False`` keeps the rename (a reader sees the old file or the new one, never half of one)
    but skips both fsyncs: for derived files that are checked and rebuilt after a crash.
    ``sync_dir=False`` skips only the folder's fsync: for a file whose rename the caller's next
    synced write in the same folder makes durable (a journaling file system commits renames in
    order)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync and sync_dir:
        fsync_dir(path.parent)
