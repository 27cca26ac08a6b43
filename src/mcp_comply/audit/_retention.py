"""Retention: which whole segments are older than the signed retention period, decided from the
records themselves (the rotation record that closed each segment states its newest timestamp),
never from file metadata; and the marker that names what is removed.

The marker is a chain record ``retention`` with ``first_seq``/``last_seq`` (the removed range),
``last_hash`` (SHA-256 of the last removed line: the next remaining record's ``prev``),
``newest_ts`` (the newest removed timestamp) and ``retention_days``. The writer signs a
checkpoint over it before deleting anything, and the verifier accepts a gap at the start of a
chain only through such a marker (see ``verify``).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from mcp_comply._log import get_logger
from mcp_comply.audit import _format as fmt
from mcp_comply.audit._segments import first_record, last_line

_log = get_logger()


@dataclass(frozen=True)
class Plan:
    doomed: list[Path]
    marker: dict[str, Any]


def plan(chain_dir: Path, now: float, retention_days: float) -> Plan | None:
    """The oldest segments whose newest record is older than the retention period (a prefix of the
    chain; never the segment being written), or None. A segment whose last line is not the one the
    next segment's rotation record links to is kept and reported: evidence is not destroyed."""
    segments = fmt.segments(chain_dir)
    horizon = now - retention_days * 86400
    doomed: list[Path] = []
    boundary: dict[str, Any] | None = None
    for old, new in pairwise(segments):
        rotation = first_record(new)
        if (rotation is None or rotation.get("kind") != fmt.KIND_ROTATION
                or rotation.get("prev_segment") != old.name):
            break
        newest = fmt.parse_ts(rotation.get("prev_segment_newest_ts"))
        if newest is None or newest >= horizon:
            break
        last = last_line(old)
        if last is None or fmt.line_hash(last) != rotation.get("prev"):
            _log.error("mcp_comply_audit_retention_refused", segment=str(old),
                       reason="its last line is not the one the chain links to: run mcp-comply audit verify")
            break
        doomed.append(old)
        boundary = rotation
    if not doomed or boundary is None:
        return None
    first = first_record(doomed[0])
    first_seq = first.get("seq") if first is not None else None
    marker = {
        "first_seq": first_seq if isinstance(first_seq, int) else None,
        "last_seq": int(boundary["seq"]) - 1,
        "last_hash": boundary["prev"],
        "newest_ts": boundary["prev_segment_newest_ts"],
        "retention_days": retention_days,
        "segments": [p.name for p in doomed],
    }
    return Plan(doomed, marker)
