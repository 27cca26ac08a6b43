"""Progress lines for steps that take a while (importing the server, the SBOM, signing, promtool).

Library code calls :func:`step`; nothing is printed unless the caller (the command line) opened
:func:`reporting`. Lines go to stderr, so stdout stays the command's result.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

__all__ = ["reporting", "step"]

_sink: ContextVar[tuple[str, TextIO, float] | None] = ContextVar("mcp_comply_progress", default=None)


@contextmanager
def reporting(prefix: str, stream: TextIO | None = None, *, enabled: bool = True) -> Iterator[None]:
    """Print each :func:`step` inside the block as ``PREFIX: [  1.2 s] what`` on ``stream``
    (default: the current stderr); ``enabled=False`` (``--quiet``) prints nothing."""
    token = _sink.set((prefix, stream or sys.stderr, time.monotonic()) if enabled else None)
    try:
        yield
    finally:
        _sink.reset(token)


def step(what: str) -> None:
    """Announce a step that is starting."""
    sink = _sink.get()
    if sink is None:
        return
    prefix, stream, started = sink
    try:
        stream.write(f"{prefix}: [{time.monotonic() - started:5.1f} s] {what}\n")
        stream.flush()
    except (OSError, ValueError):
        return  # a closed stderr must not stop the work
