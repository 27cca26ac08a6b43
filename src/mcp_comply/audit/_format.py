"""The audit line format: one JSON object per line, the chain fields first. Pure."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
GENESIS = "0" * 64
SEGMENT_PREFIX = "segment-"
SEGMENT_SUFFIX = ".jsonl"

KIND_CALL = "call"
KIND_INTENT = "intent"
KIND_OPEN = "open"
KIND_ROTATION = "rotation"
KIND_RECOVERY = "recovery"
KIND_CHECKPOINT = "checkpoint"
KIND_GAP = "gap"
KIND_CLOSE = "close"
KIND_CLOCK_JUMP = "clock_jump"
KIND_RETENTION = "retention"
KINDS = frozenset({KIND_CALL, KIND_INTENT, KIND_OPEN, KIND_ROTATION, KIND_RECOVERY, KIND_CHECKPOINT, KIND_GAP,
                   KIND_CLOSE, KIND_CLOCK_JUMP, KIND_RETENTION})

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=repr)


def timestamp(unix: float) -> str:
    """RFC 3339, UTC, microseconds, ``Z``."""
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(seq: int, ts: str, chain: str, kind: str, prev: str, body: dict[str, Any]) -> bytes:
    """The exact bytes of one record, newline included; the chain fields lead in a fixed order."""
    record = {"v": FORMAT_VERSION, "seq": seq, "ts": ts, "chain": chain, "kind": kind, "prev": prev}
    record.update(body)
    return (_encoder.encode(record) + "\n").encode("utf-8", "surrogatepass")


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def segment_name(index: int) -> str:
    return f"{SEGMENT_PREFIX}{index:06d}{SEGMENT_SUFFIX}"


def segment_index(name: str) -> int | None:
    if not (name.startswith(SEGMENT_PREFIX) and name.endswith(SEGMENT_SUFFIX)):
        return None
    digits = name[len(SEGMENT_PREFIX): -len(SEGMENT_SUFFIX)]
    return int(digits) if digits.isdigit() else None


def segments(chain_dir: Path) -> list[Path]:
    """The segment files of one chain, in order."""
    indexed = sorted((i, p) for p in chain_dir.iterdir() if (i := segment_index(p.name)) is not None)
    return [p for _, p in indexed]


class StrictJSONError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise StrictJSONError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)


def parse_line(line: bytes) -> dict[str, Any]:
    """Strictly parse one stored line (without its newline): UTF-8, no BOM, one object,
    no duplicate keys, no NaN/Infinity."""
    if line.startswith(b"\xef\xbb\xbf"):
        raise StrictJSONError("byte order mark")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"invalid UTF-8 at byte {exc.start}") from None
    try:
        value = _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise StrictJSONError("a record must be a JSON object")
    return value
