"""Argument types for the command line: each checks one argument where it enters and raises
``argparse.ArgumentTypeError`` with the reason, so a mistake ends as one line naming the argument
(``argument --out: ...``) and exit 2, never a traceback further in.

Only the standard library here: building the parser must stay cheap (``mcp-comply --help``).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mcp_comply._files import special_kind

__all__ = [
    "KeyKind",
    "existing_dir",
    "non_empty",
    "existing_file",
    "key_file",
    "key_kind",
    "kinds_list",
    "names_list",
    "non_negative_int",
    "out_dir",
    "positive_int",
    "rfc3339",
    "state_file",
]

KEY_MAX_BYTES = 65536  # an Ed25519 key file is under 200 bytes; RSA-16384 PEM under 13 KiB
KeyKind = str  # audit-private | audit-public | pem-private | pem-public | unknown

_AUDIT_PUBLIC = re.compile(r"^[^\s+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$")
_WHAT = {
    "audit-private": "an audit checkpoint signing key (mcp-comply audit keygen: audit-signing.key)",
    "audit-public": "an audit checkpoint public key (mcp-comply audit keygen: audit-signing.pub)",
    "pem-private": "a PEM private key (mcp-comply provenance-keygen: provenance-signing.key)",
    "pem-public": "a PEM public key (mcp-comply provenance-keygen: provenance-signing.pub)",
}


def _fail(reason: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(reason)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _path(text: str) -> Path:
    """``text`` as a path; an empty argument is refused, as Path("") would be the current folder."""
    if not text:
        raise _fail("an empty path; give a file or folder name")
    return Path(text)


def non_empty(what: str) -> Callable[[str], str]:
    """A value that says something: not empty or only spaces (an empty ``--builder-id`` would be
    compared as a builder id and reported as a finding)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise _fail(f"an empty value; give {what}")
        return text

    return parse


def existing_file(text: str) -> Path:
    """A regular file that exists and can be read."""
    path = _path(text)
    if not path.exists():
        raise _fail(f"{text}: no such file")
    if path.is_dir():
        raise _fail(f"{text}: is a folder, not a file")
    special = special_kind(path)
    if special is not None:
        raise _fail(f"{text}: not a regular file ({special})")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise _fail(f"{text}: cannot read: {_os_reason(exc)}") from None
    return path


def existing_dir(text: str) -> Path:
    """A folder that exists."""
    path = _path(text)
    if not path.exists():
        raise _fail(f"{text}: no such folder")
    if not path.is_dir():
        raise _fail(f"{text}: is a file, not a folder")
    return path


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor (or the path itself) when it is not a folder."""
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            return None if candidate.is_dir() else candidate
    return None


def out_dir(text: str) -> Path:
    """A folder to write into: it exists as a folder or can be created (nothing on the way is a
    regular file)."""
    path = _path(text)
    blocker = _blocking_file(path.absolute())
    if blocker is not None:
        if blocker == path.absolute():
            raise _fail(f"{text}: is a file, not a folder")
        raise _fail(f"{text}: cannot create a folder there: {blocker} is a file")
    return path


def state_file(text: str) -> Path:
    """A file that is read when it exists and (re)written afterwards: not a folder, and its folder
    can hold it."""
    path = _path(text)
    if path.is_dir():
        raise _fail(f"{text}: is a folder, not a file")
    special = special_kind(path)
    if special is not None:
        raise _fail(f"{text}: not a regular file ({special})")
    folder = path.absolute().parent
    blocker = _blocking_file(folder)
    if blocker is not None:
        raise _fail(f"{text}: cannot write there: {blocker} is a file")
    if not folder.is_dir():
        raise _fail(f"{text}: cannot write there: {path.parent}: no such folder")
    return path


def _int(text: str) -> int:
    """A whole number in ASCII digits (int() alone takes '1_0' as ten and other scripts' digits)."""
    try:
        if re.fullmatch(r"\s*[-+]?[0-9]+\s*", text):
            return int(text, 10)
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        pass
    raise _fail(f"{text!r} is not a whole number")


def non_negative_int(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise _fail(f"{value} is negative; give 0 or more")
    return value


def positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise _fail(f"{value} is not positive; give 1 or more")
    return value


def rfc3339(text: str) -> datetime:
    """An RFC 3339 time such as ``2026-11-24T10:00:00Z`` (a date alone means its midnight UTC)."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _fail(f"{text!r} is not an RFC 3339 time; e.g. 2026-11-24T10:00:00Z or 2026-11-24") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def kinds_list(choices: Sequence[str]) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of ``choices``, returned in the canonical order of ``choices``."""

    def parse(text: str) -> tuple[str, ...]:
        wanted = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [w for w in wanted if w not in choices]
        if unknown or not wanted:
            raise _fail(f"unknown kind(s) {', '.join(repr(u) for u in unknown) or '(none given)'}; "
                        f"choose from {','.join(choices)}")
        return tuple(k for k in choices if k in wanted)

    return parse


_NAME = re.compile(r"^[A-Za-z0-9]([-_.A-Za-z0-9]*[A-Za-z0-9])?$")


def names_list(what: str) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated list of package-style names (PEP 508: letters, digits, ``-_.`` inside);
    an empty argument is the empty list (``--sbom-extras ''``: none)."""

    def parse(text: str) -> tuple[str, ...]:
        names = [part.strip() for part in text.split(",")] if text.strip() else []
        bad = [n for n in names if not _NAME.match(n)]
        if bad:
            raise _fail(f"not {what} name: {bad[0]!r} (letters, digits and -_. inside)")
        return tuple(names)

    return parse


def key_kind(data: bytes) -> KeyKind:
    """Which of the two Ed25519 key families (and which half) a key file holds, from its text."""
    text = data.decode("utf-8", errors="replace").strip()
    if text.startswith("# key-name: "):
        return "audit-private"
    if "-----BEGIN PRIVATE KEY-----" in text or "-----BEGIN OPENSSH PRIVATE KEY-----" in text \
            or "PRIVATE KEY-----" in text:
        return "pem-private"
    if "-----BEGIN PUBLIC KEY-----" in text:
        return "pem-public"
    if "\n" not in text and _AUDIT_PUBLIC.match(text):
        return "audit-public"
    return "unknown"


def key_file(wanted: KeyKind, use: str) -> Callable[[str], Path]:
    """An existing key file of the ``wanted`` kind; any other kind is refused, saying what it is and
    which key ``use`` needs instead."""

    def parse(text: str) -> Path:
        path = existing_file(text)
        try:
            with path.open("rb") as fh:
                data = fh.read(KEY_MAX_BYTES + 1)
        except OSError as exc:
            raise _fail(f"{text}: cannot read: {_os_reason(exc)}") from None
        if len(data) > KEY_MAX_BYTES:
            raise _fail(f"{text}: {path.stat().st_size} bytes is too large for a key file (at most {KEY_MAX_BYTES})")
        found = key_kind(data)
        if found == wanted:
            return path
        needed = f"{use} needs {_WHAT[wanted]}"
        if found == "unknown":
            raise _fail(f"{text}: not a key file mcp-comply reads; {needed}")
        raise _fail(f"{text}: this is {_WHAT[found]}; {needed}")

    return parse
