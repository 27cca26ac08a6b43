"""C2SP signed notes and tlog checkpoints, signed with Ed25519 (``cryptography``). Pure.

A checkpoint body is ``<origin>\\n<size>\\n<base64 root>\\n``; the signed note appends a blank line
and one line per signature: ``— <key name> <base64(key id || signature)>``. The Ed25519 key id is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; a verifier key is written
``<name>+<hex key id>+<base64(0x01 || public key)>`` (the format Go's ``golang.org/x/mod/sumdb/note``
reads). Verifiers ignore signatures from unknown keys, as the spec requires.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mcp_comply.exceptions import IntegrityError

_ALG_ED25519 = b"\x01"
_DASH = "\u2014"
_MAX_SIGNATURES = 16
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")  # ASCII digits only, no leading zero, below 10**20


class NoteError(IntegrityError):
    """A note or checkpoint is malformed, or no trusted signature verifies."""


class UntrustedNoteError(NoteError):
    """A well-formed note that no trusted key signed (unsigned, or signed by another key)."""


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"invalid key name {name!r}: no spaces, '+' or control characters")


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALG_ED25519 + public_key).digest()[:4]


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    name: str
    key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, raw_public(self.key))

    def encode(self) -> str:
        raw = raw_public(self.key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(_ALG_ED25519 + raw).decode()}"

    @classmethod
    def parse(cls, text: str) -> Verifier:
        parts = text.strip().split("+", 2)  # the base64 key itself may contain '+'
        if len(parts) != 3:
            raise NoteError("verifier key must be <name>+<hex key id>+<base64 key>")
        name, hex_id, b64 = parts
        _check_name(name)
        try:
            blob = base64.b64decode(b64, validate=True)
            wanted = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise NoteError(f"verifier key is not valid hex/base64: {exc}") from None
        if len(blob) != 33 or blob[:1] != _ALG_ED25519:
            raise NoteError("verifier key is not an Ed25519 key")
        key = Ed25519PublicKey.from_public_bytes(blob[1:])
        verifier = cls(name, key)
        if verifier.key_id != wanted:
            raise NoteError("verifier key id does not match its name and key")
        return verifier


@dataclass(frozen=True)
class Signer:
    name: str
    key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.name, self.key.public_key())

    def sign(self, body: str) -> str:
        """The signed note: body, blank line, one signature line."""
        _check_body(body)
        signature = self.key.sign(body.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{body}\n{_DASH} {self.name} {blob}\n"


def _check_body(body: str) -> None:
    if not body.endswith("\n") or "\n\n" in body:
        raise NoteError("note text must end with a newline and contain no blank line")
    if any(not (c.isprintable() or c == "\n") for c in body):
        raise NoteError("note text must not contain control characters")


def open_note(note: str, verifiers: list[Verifier]) -> tuple[str, list[str]]:
    """Return (body, names of keys whose signatures verified); unknown signers are ignored.

    Raises NoteError when the note is malformed, a known key's signature is bad, or no known key
    signed it.
    """
    body, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("not a signed note (no blank line before signatures)")
    body += "\n"
    _check_body(body)
    lines = sigs[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise NoteError(f"more than {_MAX_SIGNATURES} signatures")
    by_id = {(v.name, v.key_id): v for v in verifiers}
    verified: list[str] = []
    for line in lines:
        prefix, _, rest = line.partition(" ")
        name, _, b64 = rest.partition(" ")
        if prefix != _DASH or not name or not b64 or " " in b64:
            raise NoteError(f"malformed signature line {line!r}")
        try:
            blob = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise NoteError(f"signature of {name!r} is not base64") from None
        if len(blob) < 5:
            raise NoteError(f"signature of {name!r} is too short")
        verifier = by_id.get((name, blob[:4]))
        if verifier is None:
            continue  # unknown key: ignore (cosigners, rotated keys)
        try:
            verifier.key.verify(blob[4:], body.encode())
        except InvalidSignature:
            raise NoteError(f"bad signature from key {name!r}") from None
        verified.append(name)
    if not verified:
        raise UntrustedNoteError("no signature from a trusted key")
    return body, verified


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("checkpoint needs origin, size and root lines")
        origin, size_text, root_text, *ext = lines[:-1]
        if not origin:
            raise NoteError("empty origin")
        if _SIZE.fullmatch(size_text) is None:
            raise NoteError(f"invalid tree size {size_text!r}")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise NoteError("root is not base64") from None
        if len(root) != 32:
            raise NoteError("root must be 32 bytes")
        return cls(origin, int(size_text), root, tuple(ext))
