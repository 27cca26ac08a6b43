"""The per-request lifecycle shared by every framework adapter: start, classify, finish, emit."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol

from opentelemetry.trace import INVALID_SPAN_CONTEXT, Span, Tracer

from mcp_comply import semconv
from mcp_comply._log import get_logger
from mcp_comply._record import CallRecord, request_id_text
from mcp_comply.instrument._catalog import ToolCatalog
from mcp_comply.instrument._metrics import Metrics
from mcp_comply.instrument._spans import end_span, finish_span, outcome_attributes


class RequestFacts(NamedTuple):
    """Who, how and over what: read from the framework's request context when a record is built."""

    session_id: str | None
    correlation_id: str | None
    transport: str | None
    protocol_version: str | None
    client_name: str | None
    client_version: str | None
    principal: str | None
    client_address: str | None
    client_port: int | None


NO_FACTS = RequestFacts(None, None, None, None, None, None, None, None, None)


class FactsReader(Protocol):
    def read(self, ctx: Any) -> RequestFacts: ...

    def peer(self, ctx: Any) -> RequestFacts:
        """What a span needs of :meth:`read` (transport, protocol version, peer, session,
        principal); the client's name and the correlation id are left None."""
        ...

    def transport(self, ctx: Any) -> str | None: ...


_log = get_logger()

Sink = Callable[[CallRecord], Awaitable[object] | None]
"""Receives every finished request. A sink that returns an awaitable (the audit trail with
``fsync: always``) holds the response until it completes: an acknowledged call is a recorded call."""


class Req:
    """Mutable state of one request while it runs; becomes a :class:`CallRecord` once, at the end."""

    __slots__ = (
        "arguments",
        "detail_exc",
        "detail_outcome",
        "error_code",
        "error_result",
        "error_text",
        "exception_type",
        "method",
        "outcome",
        "request_id",
        "result",
        "span",
        "span_owned",
        "t0",
        "tool",
        "tool_label",
        "unseen",
        "uri",
    )

    def __init__(self, method: str, tool: str | None, tool_label: str, request_id: object,
                 arguments: Mapping[str, Any] | None) -> None:
        self.method = method
        self.tool = tool
        self.tool_label = tool_label
        # A tools/call whose name the catalog did not know when it started: its label is decided
        # when it ends (see ComplyMiddleware._resolve_label); enrichers leave "unknown tool" to that.
        self.unseen = False
        self.request_id = request_id
        self.arguments = arguments
        self.uri: str | None = None
        self.span: Span | None = None
        self.result: Any = None
        self.error_text: str | None = None  # an isError result's text: for the record, never the span
        self.span_owned = False
        self.outcome = semconv.OUTCOME_OK
        self.error_code: int | None = None
        self.exception_type: str | None = None
        self.error_result = False
        # Set by a framework enricher that sees finer detail than the wire result (e.g. which
        # kind of tool failure an isError result was).
        self.detail_outcome: str | None = None
        self.detail_exc: str | None = None
        self.t0 = time.perf_counter()


current_request: ContextVar[Req | None] = ContextVar("mcp_comply_request", default=None)

reported_failure: ContextVar[tuple[str, str, str | None] | None] = ContextVar("mcp_comply_tool_failure",
                                                                             default=None)
"""How a tool call failed, as a framework enricher saw it before the failure became an ``isError``
result: ``(request id as text, outcome, exception type)``. The other way round from
:data:`current_request`: nothing is set while calls succeed (a context-variable set and reset per
call is a fifth of what the middleware costs), and the middleware reads it only when the call
failed. The request id keeps a report from reaching another request that runs in the same context
(mcp's in-process dispatcher runs the server in the caller's task)."""


def report_failure(request_id: object, outcome: str, exception_type: str | None = None) -> None:
    """Called by an enricher that sees why a tool failed; the middleware of that request reads it."""
    reported_failure.set((str(request_id), outcome, exception_type))


def take_report(req: Req) -> None:
    """Give ``req`` the failure detail reported for it, if any (and clear the report)."""
    reported = reported_failure.get()
    if reported is not None:
        reported_failure.set(None)
        if reported[0] == str(req.request_id):
            req.detail_outcome, req.detail_exc = reported[1], reported[2]

_PROCESS_CORRELATION = "proc:" + uuid.uuid4().hex


def exception_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


class Recorder:
    """Everything one instrumented server shares: metrics, tracer, catalog and sinks.

    The middleware builds a :class:`Req`, classifies the outcome, then calls :meth:`finish` when a
    record is needed (a sink or a recording span); all of it is cheap and none of it blocks. Any
    failure of ours is counted and logged, never raised.
    """

    def __init__(self, *, framework: str, metrics: Metrics, tracer: Tracer, catalog: ToolCatalog,
                 sinks: list[Sink], protocol_error: type[BaseException],
                 params_error: type[BaseException], span_has_ids: bool = False) -> None:
        self.framework = framework
        # The framework's JSON-RPC error (carries .error.code) and the pydantic ValidationError
        # that malformed params raise (answered with -32602): handed in so this module never
        # imports a framework.
        self._protocol_error = protocol_error
        self._params_error = params_error
        self.metrics = metrics
        self.tracer = tracer
        self.catalog = catalog
        self.sinks = sinks
        self.enabled = True
        # The framework's span already carries request id, protocol version and operation name.
        self.span_has_ids = span_has_ids
        # Policy tracing.client_errors_as_span_errors (see _spans.finish_span).
        self.client_errors_as_span_errors = True

    def internal_error(self, component: str, exc: BaseException) -> None:
        try:
            self.metrics.internal_error(component)
            _log.warning("mcp_comply_internal_error", component=component, error=exception_name(exc),
                         detail=str(exc)[:500])
        except Exception:  # noqa: BLE001 - the last line of defence must not raise either
            return

    def classify_exception(self, req: Req, exc: BaseException) -> None:
        """Outcome of a request whose handling raised (the exception is re-raised by the caller)."""
        if isinstance(exc, asyncio.CancelledError):
            req.outcome = semconv.ERROR_CANCELLED
            return
        if isinstance(exc, self._protocol_error):
            req.outcome = semconv.ERROR_PROTOCOL
            req.error_code = exc.error.code  # type: ignore[attr-defined]
            return
        if isinstance(exc, self._params_error):
            req.outcome = semconv.ERROR_PROTOCOL
            req.error_code = semconv.INVALID_PARAMS
            return
        req.outcome = semconv.ERROR_EXCEPTION
        req.exception_type = exception_name(exc)

    def finish(self, req: Req, ctx: Any, reader: FactsReader,
               message: str | None = None) -> list[Awaitable[object]] | None:
        """Build the one :class:`CallRecord` of a finished request and hand it to metrics, span
        and sinks; returns what the response must wait for (None: nothing). (The middleware counts
        requests that nothing else consumes without it.)"""
        duration = time.perf_counter() - req.t0
        if req.detail_outcome is not None and req.outcome != semconv.OUTCOME_OK:
            req.outcome = req.detail_outcome
            if req.detail_exc is not None:
                req.exception_type = req.detail_exc
        span = req.span
        recording = span is not None and span.is_recording()
        if not self.sinks:
            self._finish_unrecorded(req, ctx, reader, message, duration, span if recording else None)
            return None
        try:
            facts = reader.read(ctx)
        except Exception as exc:  # noqa: BLE001
            self.internal_error("context", exc)
            facts = NO_FACTS
        span_ctx = span.get_span_context() if span is not None else INVALID_SPAN_CONTEXT
        correlation = facts.session_id or facts.correlation_id or _PROCESS_CORRELATION
        record = CallRecord(
            req.method, req.tool, req.tool_label, req.outcome, req.error_code, req.exception_type,
            time.time() - duration, duration, request_id_text(req.request_id), facts.session_id, correlation,
            facts.transport, facts.protocol_version, facts.client_name, facts.client_version, facts.principal,
            facts.client_address, facts.client_port,
            format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None,
            format(span_ctx.span_id, "016x") if span_ctx.is_valid else None,
            req.error_result, req.arguments, self.framework, req.result, message or req.error_text, req.uri,
        )
        try:
            self.metrics.observe(record)
        except Exception as exc:  # noqa: BLE001 - never break the host server
            self.internal_error("metrics", exc)
        if span is not None and recording:
            try:
                finish_span(span, record, framework_owned=not req.span_owned, message=message,
                            has_ids=self.span_has_ids and not req.span_owned,
                            client_errors=self.client_errors_as_span_errors)
            except Exception as exc:  # noqa: BLE001
                self.internal_error("spans", exc)
        pending: list[Awaitable[object]] | None = None
        for sink in self.sinks:
            try:
                wait = sink(record)
            except Exception as exc:  # noqa: BLE001
                self.internal_error("sink", exc)
                continue
            if wait is not None:
                pending = [wait] if pending is None else [*pending, wait]
        return pending

    def _finish_unrecorded(self, req: Req, ctx: Any, reader: FactsReader, message: str | None, duration: float,
                           span: Span | None) -> None:
        """:meth:`finish` when no sink takes a record: the metrics and the span get the same values
        from the request's parts, and the parts of a record only a sink reads (client name,
        correlation, timestamps, trace ids) are not made."""
        try:
            facts = reader.peer(ctx)
        except Exception as exc:  # noqa: BLE001
            self.internal_error("context", exc)
            facts = NO_FACTS
        outcome, error_code, exception_type, error_result = (req.outcome, req.error_code, req.exception_type,
                                                              req.error_result)
        try:
            self.metrics.count(req.method, req.tool_label, outcome, error_code, exception_type, error_result,
                               facts.transport or "", duration)
        except Exception as exc:  # noqa: BLE001 - never break the host server
            self.internal_error("metrics", exc)
        if span is not None:
            try:
                owned = req.span_owned
                attrs = outcome_attributes(facts, req.method, request_id_text(req.request_id), outcome, error_code,
                                           exception_type, error_result,
                                           has_ids=self.span_has_ids and not owned)
                end_span(span, attrs, outcome, error_code, framework_owned=not owned, message=message,
                         client_errors=self.client_errors_as_span_errors)
            except Exception as exc:  # noqa: BLE001
                self.internal_error("spans", exc)

    async def settle(self, pending: list[Awaitable[object]]) -> None:
        """Wait for what sinks asked the response to wait for; their failures are ours, counted."""
        for wait in pending:
            try:
                await wait
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - never break the host server
                self.internal_error("sink", exc)


def derived_correlation(*parts: str | None) -> str:
    """A stable correlation id for requests that share no session (2026-07-28 HTTP)."""
    digest = hashlib.sha256("\x1f".join(p or "" for p in parts).encode()).hexdigest()
    return "derived:" + digest[:24]
