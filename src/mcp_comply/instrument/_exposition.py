"""``/metrics`` in exactly the bytes prometheus-client writes, with our request metrics' lines
written straight from their counts.

prometheus-client formats every sample anew on every scrape (sorting and escaping its labels,
spelling its value): about 9 to 15 µs a sample here, and a server with 100 tools has 2,917 of ours.
Here prometheus-client itself writes each new series once per exposition style (text or
OpenMetrics, and the escaping a scraper asked for), and we keep each of its lines up to the value;
later scrapes write only the values, spelled by prometheus-client's ``floatToGoString``. Everything
else in the registry, in its place among ours, is rendered by prometheus-client as before. The kept
text is as bounded as the series (about 0.5 MB per style in use for 100 tools); two scrapes at once
may learn a series twice, with equal results.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from functools import partial
from typing import Any

from prometheus_client import exposition
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from mcp_comply.instrument._metrics import LazyFamily, Table

Encoder = Callable[[Collector], bytes]
_spell: Callable[[float], str] = floatToGoString  # prometheus-client's spelling of a value (untyped there)

# The writers whose output is one block per family, in order, then a fixed trailer ("# EOF" in
# OpenMetrics); that is all the splicing below relies on.
_WRITERS: tuple[Callable[..., bytes], ...] = (exposition.generate_latest, openmetrics.generate_latest)
# Style (writer and its options, e.g. the escaping a scraper asked for) -> its trailer, or None once
# learning failed for it. The Accept header chooses styles, so their number is capped.
_STYLES: dict[Hashable, bytes | None] = {}
_MAX_STYLES = 8
_HEADERS: dict[tuple[Hashable, str, str, str, str], str] = {}
# Counts repeat across series and scrapes: their text (with the newline) is computed once.
_COUNTS: dict[int, str] = {}
_MAX_COUNTS = 65_536


class _Families(Collector):
    """Some families already collected, for a prometheus-client writer."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def _style(encoder: Encoder) -> Hashable | None:
    """``encoder`` as (writer, options) when it is one of prometheus-client's writers, else None."""
    func: Any = encoder
    keywords: dict[str, Any] = {}
    if isinstance(encoder, partial):
        if encoder.args:
            return None
        func, keywords = encoder.func, encoder.keywords
    if func not in _WRITERS:
        return None
    style = (func, tuple(sorted(keywords.items())))
    if style not in _STYLES:
        if len(_STYLES) >= _MAX_STYLES:
            return None
        _STYLES[style] = encoder(_Families([]))
    return style if _STYLES[style] is not None else None


def _strip(body: bytes, trailer: bytes) -> bytes:
    return body[:len(body) - len(trailer)] if trailer else body


def _header(style: Hashable, family: Metric, encoder: Encoder, trailer: bytes) -> str:
    key = (style, family.name, family.documentation, family.type, family.unit)
    header = _HEADERS.get(key)
    if header is None:
        empty = Metric(family.name, family.documentation, family.type, family.unit)
        header = _HEADERS[key] = _strip(encoder(_Families([empty])), trailer).decode()
    return header


def _learn(family: LazyFamily, keys: list[tuple[str, ...]], lines: dict[tuple[str, ...], list[str]],
           header: str, encoder: Encoder, trailer: bytes) -> bool:
    """Have prometheus-client write the samples of new series; keep each line up to its value."""
    table = family.table
    probe = Metric(family.name, family.documentation, family.type, family.unit)
    probe.samples = table.samples(keys)
    text = _strip(encoder(_Families([probe])), trailer).decode()
    if not text.startswith(header):
        return False
    written = text[len(header):].split("\n")
    if written.pop() != "" or len(written) != len(probe.samples):
        return False
    learned: dict[tuple[str, ...], list[str]] = {}
    at = 0
    for key in keys:
        prefixes = learned[key] = []
        for value in table.rows[key]:
            line, value_text = written[at], _spell(value)
            at += 1
            if not line.endswith(" " + value_text):
                return False
            prefixes.append(line[:len(line) - len(value_text)])
    lines.update(learned)
    return True


def _family_text(family: LazyFamily, style: Hashable, encoder: Encoder, trailer: bytes) -> str | None:
    """The family as the writer of ``style`` would write it, or None if that could not be learned."""
    table: Table = family.table
    lines = table.lines.get(style)
    if lines is None:
        lines = table.lines.setdefault(style, {})
    header = _header(style, family, encoder, trailer)
    rows = table.rows
    new = [key for key in rows if key not in lines]
    if new and not _learn(family, new, lines, header, encoder, trailer):
        _STYLES[style] = None  # this prometheus-client writes differently: leave it to it from now on
        return None
    out = [header]
    append = out.append
    counts = _COUNTS
    for key, values in rows.items():
        for prefix, value in zip(lines[key], values, strict=True):
            append(prefix)
            if type(value) is int:
                text = counts.get(value)
                if text is None:
                    if len(counts) >= _MAX_COUNTS:
                        counts.clear()
                    text = counts[value] = _spell(value) + "\n"
                append(text)
            else:
                append(_spell(value))
                append("\n")
    return "".join(out)


def render(registry: Collector, encoder: Encoder) -> bytes:
    """``encoder(registry)``, byte for byte, with our families written from their counts."""
    style = _style(encoder)
    if style is None:
        return encoder(registry)
    trailer = _STYLES[style] or b""
    parts: list[bytes] = []
    others: list[Metric] = []
    for family in registry.collect():
        text = (_family_text(family, style, encoder, trailer)
                if isinstance(family, LazyFamily) and family.untouched else None)
        if text is None:
            others.append(family)
            continue
        if others:
            parts.append(_strip(encoder(_Families(others)), trailer))
            others = []
        parts.append(text.encode())
    parts.append(encoder(_Families(others)) if others else trailer)
    return b"".join(parts)
