"""The audit line format: one JSON object per line, the chain fields first. Pure."""

from __future__ import annotations

import base64
import hashlib
import json
import json.encoder
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from mcp_comply.exceptions import IntegrityError

FORMAT_VERSION = 1
MAX_LINE = 16 * 1024 * 1024
"""The longest record line (newline included) readers take whole; longer lines are hashed in
bounded chunks and reported, never held in memory."""
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
_make_encoder: Callable[..., Callable[[Any, int], list[str]]] | None = getattr(json.encoder, "c_make_encoder", None)
quote: Callable[[str], str] = json.encoder.encode_basestring
"""A ``str`` as the record encoder writes it (quoted, escaped, non-ASCII kept)."""


def dumps(value: Any) -> str:
    """``value`` as :func:`encode` writes it inside a record: compact, non-ASCII kept, ``repr`` for
    what JSON lacks; a non-finite float raises ``ValueError`` (strict JSON has none)."""
    if _make_encoder is None:  # an interpreter without json's C accelerator
        return _encoder.encode(value)
    # A fresh C encoder per call (about 0.3 µs): its cycle check is then never shared between threads.
    return "".join(_make_encoder({}, repr, quote, None, ":", ",", False, False, False)(value, 0))


def dumps_canonical(value: Any) -> str:
    """The canonical JSON the keyed digests are taken over: keys sorted, compact, non-ASCII kept,
    ``repr`` for what JSON lacks, non-finite floats as ``NaN``/``Infinity`` (as ``json.dumps``)."""
    if _make_encoder is None:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
    return "".join(_make_encoder({}, repr, quote, None, ":", ",", True, False, True)(value, 0))


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (``NaN``, ``Infinity``: a client may send them, strict
    JSON cannot hold them) replaced by its name as a string; containers are copied only on the way
    to one."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value).replace("inf", "Infinity").replace("nan", "NaN")
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class Members(str):
    """A record body already encoded: the JSON text of its members, comma-separated, without the
    braces, exactly as :func:`encode` would write them from a dict. None of its top-level names may
    be a header name (the producer guarantees it; only the writer sets chain fields)."""

    __slots__ = ()


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text (swapped whole)


def timestamp(unix: float) -> str:
    """RFC 3339, UTC, microseconds, ``Z``. The text of the whole second is reused while it lasts:
    the writer stamps thousands of records a second."""
    global _second  # noqa: PLW0603 - a one-entry cache, replaced as one tuple (thread-safe)
    second, micro = divmod(round(unix * 1_000_000), 1_000_000)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{micro:06d}Z"


HEADER = ("v", "seq", "ts", "chain", "kind", "prev")
"""The chain fields every record starts with, in this order; only the writer sets them."""
_RESERVED = frozenset(HEADER)


def safe_key(key: str, body: dict[str, Any]) -> str:
    """The name a body field is stored under: a header name gets underscores in front until it is
    free (``seq`` becomes ``_seq``), so no body or processor can set or shadow a chain field."""
    if key not in _RESERVED:
        return key
    renamed = "_" + key
    while renamed in body:
        renamed = "_" + renamed
    return renamed


def encode(seq: int, ts: str, chain: str, kind: str, prev: str, body: dict[str, Any] | Members) -> bytes:
    """The exact bytes of one record, newline included; the chain fields lead in a fixed order and
    a body field with a header name is renamed (see :func:`safe_key`). The same bytes as encoding
    the header and the body merged into one dict, which is how it is written when a field's type
    is not the usual one."""
    if type(seq) is int and type(ts) is str and type(chain) is str and type(kind) is str and type(prev) is str:
        head = (f'{{"v":{FORMAT_VERSION},"seq":{seq!r},"ts":{quote(ts)},"chain":{quote(chain)},'
                f'"kind":{quote(kind)},"prev":{quote(prev)}')
    else:
        head = _encoder.encode({"v": FORMAT_VERSION, "seq": seq, "ts": ts, "chain": chain, "kind": kind,
                                "prev": prev})[:-1]
    members = body if isinstance(body, Members) else dumps(_safe_body(body))[1:-1]
    return (f"{head},{members}}}\n" if members else head + "}\n").encode("utf-8", "surrogatepass")


def _safe_body(body: dict[str, Any]) -> dict[str, Any]:
    if _RESERVED.isdisjoint(body):
        return body
    return {safe_key(key, body) if key in _RESERVED else key: value for key, value in body.items()}


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def parse_ts(ts: object) -> float | None:
    """Seconds since the epoch of an RFC 3339 ``ts`` as the writer writes it; None if it is not one."""
    if not isinstance(ts, str) or len(ts) != 27 or not ts.endswith("Z"):
        return None
    try:
        return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


class LongLine(NamedTuple):
    """A line longer than the reader's limit: only its length and hashes, computed in chunks."""

    length: int
    complete: bool
    """It ended with a newline (False: it ran to the end of the file)."""
    sha256: str
    """Hex SHA-256 of its bytes (what the next record's ``prev`` commits to)."""
    leaf: bytes
    """Its RFC 6962 leaf hash."""


_CHUNK = 1 << 20


class LineSource(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...


def read_lines(fh: LineSource, limit: int = MAX_LINE) -> Iterator[bytes | LongLine]:
    """The lines of a file, newline included, in memory bounded by ``limit``: a longer line comes
    as a :class:`LongLine`. The last line may lack its newline (a torn tail)."""
    readline = fh.readline
    while True:
        line = readline(limit)
        if len(line) < limit or line.endswith(b"\n"):
            if not line:
                return
            yield line
            continue
        plain, leaf = hashlib.sha256(line), hashlib.sha256(b"\x00" + line)
        length, complete = len(line), False
        while True:
            chunk = readline(_CHUNK)
            if not chunk:
                break
            plain.update(chunk)
            leaf.update(chunk)
            length += len(chunk)
            if chunk.endswith(b"\n"):
                complete = True
                break
        yield LongLine(length, complete, plain.hexdigest(), leaf.digest())


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


class StrictJSONError(IntegrityError):
    """A stored line is not the strict JSON the writer writes; ``kind`` names the finding."""

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # a key repeats (decided without a loop in Python): name the first
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise StrictJSONError(f"duplicate key {key!r}", "duplicate_key")
            seen.add(key)
    return out


def _no_constants(name: str) -> Any:
    raise StrictJSONError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
# typeshed does not declare the scanner that JSONDecoder.__init__ sets
scan_value: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]
"""The strict decoder's scanner (C): ``scan_value(text, 0)`` is ``(value, end)`` and raises on
everything :func:`parse_line` refuses inside the text; it does not skip whitespace or look past ``end``."""


def parse_line(line: bytes) -> dict[str, Any]:
    """Strictly parse one stored line (without its newline): UTF-8, no BOM, one object,
    no duplicate keys, no NaN/Infinity."""
    if line.startswith(b"\xef\xbb\xbf"):
        raise StrictJSONError("byte order mark")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"invalid UTF-8 at byte {exc.start}", "invalid_utf8") from None
    try:
        value = _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise StrictJSONError("nested too deeply") from None
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits)
        raise StrictJSONError("not JSON this reader accepts: an integer with too many digits") from None
    if not isinstance(value, dict):
        raise StrictJSONError("a record must be a JSON object")
    return value
