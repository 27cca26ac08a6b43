"""Serialising generated artefacts deterministically and writing them atomically."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mcp_comply import _files
from mcp_comply.exceptions import ConfigError


@dataclass(frozen=True)
class Artifact:
    """One generated file: a path relative to the output folder, and its exact bytes."""

    path: str
    content: bytes
    kind: str


class _Dumper(yaml.SafeDumper):
    """Block style everywhere; multi-line strings as literal blocks."""


def _str(dumper: yaml.representer.SafeRepresenter, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)

# libyaml's emitter (PyYAML's C extension) writes the same bytes as the Python one for the plain
# data the generators produce, about seven times faster; for some other data it does not (a keep-
# chomped literal block anywhere makes it end the document with "...", it escapes characters
# outside the Basic Multilingual Plane, it writes an empty key plainly and an escaped one as
# "? key"). So it is used only for data inside the subset a property test shows both emit alike
# (tests/generate/test_output.py), and the Python emitter writes everything else: the bytes never
# depend on whether libyaml is installed.
_CDumper: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):  # pragma: no branch - libyaml is present where CI runs

    class _CDumperImpl(yaml.CSafeDumper):
        """libyaml's emitter with the same representers as :class:`_Dumper`."""

    _CDumperImpl.add_representer(str, _str)
    _CDumper = _CDumperImpl

_C_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_C_TEXT = re.compile(r"[\x20-\x7e\n]{0,4000}")


def _libyaml_alike(value: Any) -> bool:
    """True if ``value`` lies inside the subset where libyaml's emitter and PyYAML's write the same
    bytes: mappings with short identifier keys, lists, None, booleans, numbers, and strings of at
    most 4,000 printable ASCII characters and line breaks that do not end in an empty line (that
    would be a keep-chomped ``|+`` block)."""
    if isinstance(value, str):
        return _C_TEXT.fullmatch(value) is not None and not (value.endswith("\n") and (
            len(value) == 1 or value[-2] == "\n"))
    if value is None or isinstance(value, int | float):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _C_KEY.fullmatch(k) is not None and _libyaml_alike(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return all(_libyaml_alike(v) for v in value)
    return False


def emit_yaml(data: Any, dumper: type[Any]) -> str:
    """``data`` as block-style YAML (keys in insertion order, no line folding) with ``dumper``."""
    return yaml.dump(data, Dumper=dumper, sort_keys=False, width=10_000, allow_unicode=True,
                     default_flow_style=False)


def source_date_epoch() -> datetime | None:
    """``$SOURCE_DATE_EPOCH`` as a UTC time: the only source of timestamps in generated files."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or raw.strip() == "":
        return None
    try:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    except (ValueError, OverflowError):
        raise ConfigError(f"not a Unix timestamp: {raw!r}", source="$SOURCE_DATE_EPOCH") from None


def to_yaml(data: Any, header: str = "") -> bytes:
    """``data`` (a mapping) as YAML after ``header``: the same bytes with or without libyaml."""
    fast = _CDumper is not None and isinstance(data, dict) and _libyaml_alike(data)
    body = emit_yaml(data, _CDumper if fast and _CDumper is not None else _Dumper)
    return (header + body).encode("utf-8")


def to_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_atomic(path: Path, content: bytes) -> None:
    """Write via a temporary file in the same folder and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _files.write_atomic(path, content, mode=0o644)


def drift(out_dir: Path, artifacts: list[Artifact]) -> list[tuple[str, str]]:
    """``(path, "missing" | "differs")`` for every artefact whose file is not byte-identical."""
    found = []
    for artifact in artifacts:
        target = out_dir / artifact.path
        try:
            current = target.read_bytes()
        except FileNotFoundError:
            found.append((artifact.path, "missing"))
            continue
        if current != artifact.content:
            found.append((artifact.path, "differs"))
    return found
