"""The MCP SDK 2.x adapter: context-tier middleware on ``Server.middleware``.

One middleware records every request on all three server kinds (on fastmcp through its
low-level server). Where the framework already opens the MCP server span (the SDK's
``OpenTelemetryMiddleware``, fastmcp's seam), our middleware sits directly inside it and enriches
that span, and a tiny :class:`AmbientCapture` at the front remembers the span that was current
before the framework's (e.g. the HTTP server span) so it can become a link.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, SpanContext

from mcp_comply import semconv
from mcp_comply.instrument._context import RequestFacts, SdkFacts
from mcp_comply.instrument._core import Recorder, Req, current_request
from mcp_comply.instrument._record import result_is_error, target_name
from mcp_comply.instrument._spans import link_ambient, start_own_span

_ambient: ContextVar[SpanContext] = ContextVar("mcp_comply_ambient", default=INVALID_SPAN_CONTEXT)
_NO_FACTS = RequestFacts(None, None, None, None, None, None, None, None, None)
_TARGETED = frozenset({semconv.METHOD_TOOLS_CALL, semconv.METHOD_PROMPTS_GET})


class AmbientCapture:
    """Outermost entry: remembers the ambient span before the framework's span replaces it."""

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        token = _ambient.set(trace.get_current_span().get_span_context())
        try:
            return await call_next(ctx)
        finally:
            _ambient.reset(token)


class ComplyMiddleware:
    """Records one :class:`CallRecord` per request: metrics, span, sinks.

    ``own_span`` is True when no framework span exists and this middleware must create the
    server span itself (it then sits outermost).
    """

    def __init__(self, recorder: Recorder, facts: SdkFacts, *, own_span: bool, tracing: bool = True) -> None:
        self.recorder = recorder
        self.facts = facts
        self.own_span = own_span and tracing
        self.tracing = tracing

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        recorder = self.recorder
        if ctx.request_id is None or not recorder.enabled:  # notifications are not requests
            return await call_next(ctx)
        request = ctx.request
        if request is not None:
            # 2026-07-28 HTTP runs a synthetic tools/list (same request id) to validate
            # Mcp-Param-* headers; it is not the client's request.
            header_method = request.headers.get("mcp-method")
            if header_method is not None and header_method != ctx.method:
                return await call_next(ctx)
        method: str = ctx.method
        params = ctx.params
        tool = target_name(params) if method in _TARGETED else None
        is_tool_call = method == semconv.METHOD_TOOLS_CALL
        arguments = params.get("arguments") if is_tool_call and params else None
        req = Req(method, tool, str(ctx.request_id), arguments if isinstance(arguments, dict) else None,
                  _ambient.get() if not self.own_span else trace.get_current_span().get_span_context())
        otel_token = None
        if is_tool_call:
            req.tool_label = await self._tool_label(tool, ctx)
            recorder.metrics.tool_started(req.tool_label)
        try:
            if not self.tracing:
                pass
            elif self.own_span:
                headers = request.headers if request is not None else None
                span = start_own_span(recorder.tracer, method, tool, req.request_id, ctx.protocol_version,
                                      ctx.meta, headers, req.ambient)
                req.span_owned = True
                req.span = span
                otel_token = otel_context.attach(trace.set_span_in_context(span))
            else:
                span = trace.get_current_span()
                if span.is_recording():
                    link_ambient(span, req.ambient)
                    req.span = span
        except Exception as exc:  # noqa: BLE001 - tracing trouble must not fail the request
            recorder.internal_error("spans", exc)
        token = current_request.set(req)
        message: str | None = None
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            recorder.classify_exception(req, exc)
            message = _message(exc)
            if req.span_owned and req.outcome == semconv.ERROR_EXCEPTION and req.span is not None:
                req.span.record_exception(exc)
            raise
        else:
            if is_tool_call:
                if result_is_error(result):
                    req.outcome = semconv.ERROR_TOOL
                    req.error_result = True
                    if req.detail_outcome is None:
                        self._classify_tool_failure(req)
            elif method == semconv.METHOD_TOOLS_LIST:
                recorder.catalog.learn(result)
            return result
        finally:
            current_request.reset(token)
            if is_tool_call:
                recorder.metrics.tool_finished(req.tool_label)
            try:
                facts = self.facts.read(ctx)
            except Exception as exc:  # noqa: BLE001
                recorder.internal_error("context", exc)
                facts = _NO_FACTS
            recorder.finish(req, facts, message)
            if otel_token is not None:
                otel_context.detach(otel_token)
                if req.span is not None:
                    req.span.end()

    async def _tool_label(self, tool: str | None, ctx: Any) -> str:
        if tool is None:
            return semconv.UNKNOWN_TOOL_LABEL
        catalog = self.recorder.catalog
        if tool in catalog:
            return tool
        try:
            known = await catalog.contains(tool, ctx)
        except Exception as exc:  # noqa: BLE001 - a failing tool lister must not fail the call
            self.recorder.internal_error("catalog", exc)
            known = False
        return tool if known else semconv.UNKNOWN_TOOL_LABEL

    def _classify_tool_failure(self, req: Req) -> None:
        """Finer outcome of an isError result where no framework enricher said more (low-level
        Server): unknown name, or arguments the tool's own input schema rejects."""
        if req.tool_label == semconv.UNKNOWN_TOOL_LABEL:
            req.outcome = semconv.ERROR_UNKNOWN_TOOL
            return
        schema = self.recorder.catalog.schema(req.tool or "")
        if schema is None:
            return
        try:
            import jsonschema

            if not jsonschema.Draft202012Validator(schema).is_valid(req.arguments or {}):
                req.outcome = semconv.ERROR_VALIDATION
        except Exception as exc:  # noqa: BLE001
            self.recorder.internal_error("classify", exc)


def _message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else f"{type(exc).__name__}: {exc}"[:500]


def apply_detail(req: Req | None, outcome: str, exception_type: str | None = None) -> None:
    """Called by framework enrichers that see why a tool failed before it became ``isError``."""
    if req is not None:
        req.detail_outcome = outcome
        req.detail_exc = exception_type
