"""Durable file writes shared by the whole package (a reader never sees half a file), and what a
path is that is not a regular file."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device", stat.S_IFLNK: "a link"}


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``a file``, ``a folder``, ``a FIFO``..."""
    return "a file" if stat.S_ISREG(mode) else _KINDS.get(stat.S_IFMT(mode), "not a file")


class NotRegularFile(OSError):
    """:func:`open_regular` found something else at the path; ``kind`` says what (``a FIFO``...)."""

    def __init__(self, kind: str, path: Path | str) -> None:
        super().__init__(errno.EINVAL, f"{kind}, not a regular file", str(path))
        self.kind = kind


def open_regular(path: Path | str, *, follow: bool = True, buffering: int = -1, writable: bool = False) -> BinaryIO:
    """The regular file at ``path``, open to read (``writable``: and to write, ``r+b``, never created).
    Anything else raises :class:`NotRegularFile` instead of
    being opened: a FIFO (a plain open would block until a writer comes), a device (which would not
    end), a folder, and with ``follow=False`` a link (ELOOP). The check is made on the open file, so
    a FIFO put in place of a file between a caller's own check and this open is refused too. It is
    also made before: a device is never opened (opening some has effects: ``/dev/watchdog``)."""
    flags = (os.O_RDWR if writable else os.O_RDONLY) | (0 if follow else os.O_NOFOLLOW)
    fd = _open_checked(path, _mode(path, follow=follow), flags)
    return os.fdopen(fd, "r+b" if writable else "rb", buffering=buffering)


def open_append_regular(path: Path | str, mode: int = 0o600, *, create: bool = True) -> int:
    """A descriptor open to append to the regular file at ``path``, created when nothing is there
    (``create=False``: FileNotFoundError instead).
    Anything else raises :class:`NotRegularFile` (or ELOOP for a link) instead of being written to: a
    FIFO (a plain open to write blocks until a reader comes, and the records would go to it), a
    device (never opened: opening some has effects), a link (the records would go wherever it points).
    As in :func:`open_regular`, the check is made on the open file too."""
    try:
        before: int | None = os.lstat(path).st_mode
    except FileNotFoundError:
        before = None
    # O_NONBLOCK: a FIFO put in place after the look fails the open (ENXIO) when no reader has it open
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    return _open_checked(path, before, flags, mode)


def _open_checked(path: Path | str, before: int | None, flags: int, mode: int = 0o600) -> int:
    """Open ``path`` with ``flags`` when ``before`` (its mode as looked at, None: nothing there) is a
    regular file's, without blocking on a FIFO, and check the open file again; a descriptor in
    blocking mode (no effect on a regular file's reads and writes; kept plain for the caller)."""
    if before is not None and not stat.S_ISREG(before):
        if stat.S_ISLNK(before):
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
        raise NotRegularFile(file_kind(before), path)
    fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    kind = os.fstat(fd).st_mode
    if not stat.S_ISREG(kind):
        os.close(fd)
        raise NotRegularFile(file_kind(kind), path)
    os.set_blocking(fd, True)
    return fd


def _mode(path: Path | str, *, follow: bool) -> int:
    return os.stat(path, follow_symlinks=follow).st_mode


def read_regular(path: Path, limit: int, *, follow: bool = True) -> bytes:
    """Up to ``limit`` bytes of the regular file at ``path`` (:func:`open_regular`'s refusals)."""
    with open_regular(path, follow=follow) as fh:
        return fh.read(limit)


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


def not_regular(path: Path) -> str | None:
    """What ``path`` is (``a folder``, ``a FIFO``, ``a device``, ``a link to nothing``...) when it
    exists and is not a regular file, links followed; else None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:  # a link to nothing is something there all the same (open: ENOENT)
        return "a link to nothing" if path.is_symlink() else None
    except (OSError, ValueError):
        return None
    return None if stat.S_ISREG(mode) else file_kind(mode)


def special_kind(path: Path) -> str | None:
    """:func:`not_regular`, folders aside (the callers say "is a folder" their own way). Opening a FIFO
    to read blocks until a writer comes, and a device such as /dev/zero never ends: callers refuse
    such paths up front."""
    kind = not_regular(path)
    return None if kind == "a folder" else kind
