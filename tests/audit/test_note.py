"""C2SP signed notes: the published example verifies; our notes round-trip; bad ones fail."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mcp_comply.audit.note import Checkpoint, NoteError, Signer, Verifier, open_note

# The example key and note from the signed-note specification (golang.org/x/mod/sumdb/note).
SPEC_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
SPEC_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_the_specification_example_verifies() -> None:
    verifier = Verifier.parse(SPEC_VKEY)
    assert verifier.key_id.hex() == "c74f20a3"
    body, names = open_note(SPEC_NOTE, [verifier])
    assert names == ["PeterNeumann"]
    assert body.startswith("If you think cryptography")


def test_round_trip_unknown_keys_ignored_bad_signature_rejected() -> None:
    signer = Signer("audit@host", Ed25519PrivateKey.generate())
    other = Signer("witness", Ed25519PrivateKey.generate())
    body = Checkpoint("mcp-comply/host/chain-0", 42, bytes(range(32))).body()
    note = signer.sign(body)
    assert open_note(note, [signer.verifier]) == (body, ["audit@host"])
    cosigned = note + other.sign(body).split("\n\n", 1)[1]
    assert open_note(cosigned, [signer.verifier]) == (body, ["audit@host"])  # unknown cosigner ignored
    with pytest.raises(NoteError, match="no signature from a trusted key"):
        open_note(note, [other.verifier])
    tampered = note.replace("\n42\n", "\n43\n")
    with pytest.raises(NoteError, match="bad signature"):
        open_note(tampered, [signer.verifier])
    assert Checkpoint.parse(body) == Checkpoint("mcp-comply/host/chain-0", 42, bytes(range(32)))
    assert Verifier.parse(signer.verifier.encode()) == signer.verifier


@pytest.mark.parametrize("body", ["origin\n01\n" + base64.b64encode(bytes(32)).decode() + "\n",
                                  "origin\n1\nnot-base64!\n", "\n1\n" + base64.b64encode(bytes(32)).decode() + "\n",
                                  "origin\n1\n" + base64.b64encode(bytes(31)).decode() + "\n"])
def test_malformed_checkpoints_are_rejected(body: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(body)


def test_key_id_mismatch_and_bad_names() -> None:
    with pytest.raises(NoteError, match="key id"):
        Verifier.parse(SPEC_VKEY.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(NoteError):
        Signer("has space", Ed25519PrivateKey.generate())
