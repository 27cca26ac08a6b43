"""Audit signing keys: ``audit-signing.key`` (Ed25519, PKCS#8 PEM, 0600) and ``audit-signing.pub``
(the C2SP note verifier key: ``<name>+<key id>+<base64 key>``)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from mcp_comply._files import write_atomic
from mcp_comply.audit.note import NoteError, Signer, Verifier
from mcp_comply.exceptions import ConfigError

PRIVATE_NAME = "audit-signing.key"
PUBLIC_NAME = "audit-signing.pub"
_NAME_HEADER = "# key-name: "


def default_key_name() -> str:
    return f"mcp-comply-audit@{socket.gethostname()}"


def keygen(directory: Path, name: str | None = None) -> tuple[Path, Path]:
    """Write a new key pair; refuses to overwrite an existing private key."""
    name = name or default_key_name()
    signer = Signer(name, Ed25519PrivateKey.generate())
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    pem = signer.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError("a signing key already exists; refusing to overwrite it", source=str(private)) from None
    try:
        os.write(fd, f"{_NAME_HEADER}{name}\n".encode() + pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    write_atomic(public, (signer.verifier.encode() + "\n").encode(), mode=0o644)
    return private, public


def load_signer(path: Path) -> Signer:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key: {exc.strerror or exc}", source=str(path)) from None
    first, _, rest = data.partition(b"\n")
    if not first.startswith(_NAME_HEADER.encode()):
        raise ConfigError("not an mcp-comply audit signing key (no key-name header)", source=str(path))
    try:
        key = load_pem_private_key(rest, password=None)
    except ValueError as exc:
        raise ConfigError(f"not a PEM private key: {exc}", source=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("the signing key must be Ed25519", source=str(path))
    return Signer(first[len(_NAME_HEADER):].decode().strip(), key)


def load_verifier(path: Path) -> Verifier:
    try:
        return Verifier.parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the public key: {exc.strerror or exc}", source=str(path)) from None
    except NoteError as exc:
        raise ConfigError(str(exc), source=str(path)) from None
