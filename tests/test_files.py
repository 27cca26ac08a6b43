"""mcp_comply._files: what a path is, and opening only regular files."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from mcp_comply import _files
from mcp_comply._files import NotRegularFile, not_regular, open_regular, read_regular


def test_open_regular_reads_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "a"
    path.write_bytes(b"one\ntwo\n")
    with open_regular(path) as fh:
        assert fh.read() == b"one\ntwo\n"
        assert os.get_blocking(fh.fileno())
    assert read_regular(path, 5) == b"one\nt"


@pytest.mark.parametrize(("make", "kind"), [
    pytest.param(os.mkfifo, "a FIFO", id="fifo"),
    pytest.param(lambda p: p.mkdir(), "a folder", id="folder"),
    pytest.param(lambda p: p.symlink_to("/dev/zero"), "a device", id="device"),
])
def test_open_regular_refuses_anything_else_without_blocking(tmp_path: Path, make: Callable[[Path], object],
                                                              kind: str) -> None:
    """A FIFO with no writer would block a plain open; /dev/zero would never end. Each is refused
    at once, saying what it is (the check is made on the open file, not before it)."""
    path = tmp_path / "x"
    make(path)
    with pytest.raises(NotRegularFile) as caught:
        open_regular(path)
    assert (caught.value.kind, caught.value.errno, caught.value.filename) == (kind, errno.EINVAL, str(path))
    assert str(caught.value) == f"[Errno 22] {kind}, not a regular file: '{path}'"
    assert not_regular(path) == kind


def test_open_regular_writable_reads_and_cuts_the_same_file_and_creates_none(tmp_path: Path) -> None:
    """The writer's recovery reads a segment and cuts its torn tail through one descriptor: the file
    read is the file cut. Nothing is created in place of a file that is gone, and a FIFO is refused."""
    path = tmp_path / "a"
    path.write_bytes(b"one\ntw")
    with open_regular(path, writable=True) as fh:
        assert fh.read() == b"one\ntw"
        os.ftruncate(fh.fileno(), 4)
    assert path.read_bytes() == b"one\n"
    with pytest.raises(FileNotFoundError):
        open_regular(tmp_path / "gone", writable=True)
    assert not (tmp_path / "gone").exists()
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotRegularFile):
        open_regular(tmp_path / "fifo", writable=True)


def test_open_regular_without_follow_refuses_a_link(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"x")
    (tmp_path / "link").symlink_to("target")
    with pytest.raises(OSError, match="Too many levels of symbolic links") as caught:
        open_regular(tmp_path / "link", follow=False)
    assert caught.value.errno == errno.ELOOP
    with open_regular(tmp_path / "link") as fh:
        assert fh.read() == b"x"


def test_open_regular_checks_the_open_file_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FIFO swapped in between the look before the open and the open (here: the look is told it
    is a regular file) is refused by the check on the open file, not read (which would block)."""
    fifo = tmp_path / "segment"
    os.mkfifo(fifo)
    monkeypatch.setattr(_files, "_mode", lambda _path, follow: stat.S_IFREG | 0o600)
    with pytest.raises(NotRegularFile) as caught:
        open_regular(fifo)
    assert caught.value.kind == "a FIFO"


def test_open_regular_never_opens_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening some devices has effects (/dev/watchdog arms a timer): a device is refused before
    any open."""
    opened: list[object] = []
    monkeypatch.setattr(_files.os, "open", lambda *args: opened.append(args) or -1)
    with pytest.raises(NotRegularFile):
        open_regular(Path("/dev/null"))
    assert opened == []


def test_open_append_regular_refuses_what_is_not_a_file(tmp_path: Path) -> None:
    """The writer's segment open: a FIFO, a link (here to a file the records must not reach) and a
    folder are refused, not written to; nothing there is created; a regular file is appended to."""
    from mcp_comply._files import open_append_regular

    fifo, link, folder, target = tmp_path / "f", tmp_path / "l", tmp_path / "d", tmp_path / "t"
    os.mkfifo(fifo)
    target.write_bytes(b"x")
    link.symlink_to(target)
    folder.mkdir()
    for path, kind in ((fifo, "a FIFO"), (folder, "a folder")):
        with pytest.raises(NotRegularFile) as caught:
            open_append_regular(path)
        assert caught.value.kind == kind
    with pytest.raises(OSError, match=os.strerror(errno.ELOOP)) as looped:
        open_append_regular(link)
    assert looped.value.errno == errno.ELOOP
    fd = open_append_regular(tmp_path / "new")
    os.write(fd, b"a")
    os.close(fd)
    fd = open_append_regular(tmp_path / "new")
    os.write(fd, b"b")
    os.close(fd)
    assert ((tmp_path / "new").read_bytes(), target.read_bytes()) == (b"ab", b"x")
