"""Serialising generated artefacts deterministically and writing them atomically."""

from __future__ import annotations

import json
import os
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


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


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
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True,
                     default_flow_style=False)
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
