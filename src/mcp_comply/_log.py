"""The toolkit's own logs: JSON lines on stderr through structlog, with trace and span ids.

Never stdout (it is the protocol channel on stdio transports), and never the application's
global structlog configuration: mcp-comply keeps a logger of its own.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from opentelemetry import trace

from mcp_comply import semconv

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}


class _StderrLogger:
    """Writes each rendered line to the *current* ``sys.stderr`` (or an explicit stream)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def msg(self, message: str) -> None:
        stream = self._stream or sys.stderr
        try:
            stream.write(message + "\n")
            stream.flush()
        except (OSError, ValueError):
            return  # a closed stderr must not break the host

    log = debug = info = warning = warn = error = critical = exception = msg


def add_trace_context(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Processor: the current span's trace and span id, so logs join traces."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict["trace_id"] = format(ctx.trace_id, "032x")
        event_dict["span_id"] = format(ctx.span_id, "016x")
    return event_dict


_stream: TextIO | None = None
_extra: list[Any] = []


def _build() -> Any:
    level = _LEVELS.get(os.environ.get("MCP_COMPLY_LOG_LEVEL", "info").lower(), logging.INFO)
    processors: list[Any] = [
        _level_filter(level),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        *_extra,
        structlog.processors.JSONRenderer(sort_keys=True),
    ]
    return structlog.wrap_logger(_StderrLogger(_stream), processors=processors,
                                 context_class=dict, logger_name=semconv.LOGGER_NAME)


_floor: ContextVar[int] = ContextVar("mcp_comply_log_floor", default=logging.NOTSET)


@contextmanager
def quiet(level: int = logging.WARNING) -> Iterator[None]:
    """Drop the toolkit's log events below ``level`` inside the block (this context only): e.g.
    the start-up line of a server that ``generate`` imports just to introspect it."""
    token = _floor.set(level)
    try:
        yield
    finally:
        _floor.reset(token)


def _level_filter(level: int) -> Any:
    def filter_level(_logger: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        if _LEVELS.get(method, logging.INFO) < max(level, _floor.get()):
            raise structlog.DropEvent
        return event_dict

    return filter_level


_logger: Any = None


def get_logger() -> Any:
    """The mcp-comply logger: a handle that resolves the structlog logger (JSON to stderr) on each
    call, so configure() applies to handles taken at import time."""
    return _LazyLogger()


class _LazyLogger:
    def __getattr__(self, name: str) -> Any:
        global _logger  # noqa: PLW0603 - one lazily built logger, reset by configure()
        if _logger is None:
            _logger = _build()
        return getattr(_logger, name)


def configure(*, stream: TextIO | None = None, processors: list[Any] | None = None) -> None:
    """Redirect the toolkit's logs (tests, or a file) and add processors before rendering."""
    global _logger, _stream, _extra  # noqa: PLW0603
    _stream = stream
    _extra = list(processors or [])
    _logger = None
