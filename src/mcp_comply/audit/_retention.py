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
from mcp_comply.audit._segments import first_line, first_record, last_line

_log = get_logger()


@dataclass(frozen=True)
class Plan:
    doomed: list[Path]
    marker: dict[str, Any]


def plan(chain_dir: Path, now: float, retention_days: float,
         rotations: dict[str, tuple[int, str, float]]) -> Plan | None:
    """The oldest segments whose newest record is older than the retention period (a prefix of the
    chain; never the segment being written), or None. Decided from ``rotations`` (what this writer
    knows it wrote: the rotation record opening each segment, its hash and the newest timestamp of
    the segment before), never from what a file says now: a segment is removed only when the next
    one still starts with that exact rotation line and its own last line is the one that line links
    to. Anything else stops the plan and is logged: evidence is not destroyed."""
    segments = fmt.segments(chain_dir)
    horizon = now - retention_days * 86400
    doomed: list[Path] = []
    boundary: tuple[int, str, float] | None = None  # (seq, last removed line's hash, newest removed ts)
    for old, new in pairwise(segments):
        known = rotations.get(new.name)
        if known is None or known[2] >= horizon:
            break
        rotation_line = first_line(new)
        last = last_line(old)
        if rotation_line is None or fmt.line_hash(rotation_line) != known[1] or last is None or \
                fmt.parse_line(rotation_line[:-1]).get("prev") != fmt.line_hash(last):
            _log.error("mcp_comply_audit_retention_refused", segment=str(old),
                       reason="the segment or the rotation record after it is not what this writer wrote: "
                              "run mcp-comply audit verify")
            break
        doomed.append(old)
        boundary = (known[0], fmt.line_hash(last), known[2])
    if not doomed or boundary is None:
        return None
    first = first_record(doomed[0])
    first_seq = first.get("seq") if first is not None else None
    marker = {
        "first_seq": first_seq if isinstance(first_seq, int) else 0,
        "last_seq": boundary[0] - 1,
        "last_hash": boundary[1],
        "newest_ts": fmt.timestamp(boundary[2]),
        "retention_days": retention_days,
        "segments": [p.name for p in doomed],
    }
    return Plan(doomed, marker)
