"""The MCP SDK 2.x adapter: context-tier middleware on ``Server.middleware``.

One middleware records every request on all three server kinds (on fastmcp through its
low-level server). Where the framework already opens the MCP server span (the SDK's
``OpenTelemetryMiddleware``, fastmcp's seam), our middleware sits directly inside it and enriches
that span, and a tiny :class:`AmbientCapture` at the front remembers the span that was current
before the framework's (e.g. the HTTP server span) so it can become a link.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from time import perf_counter
from typing import Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, Span, SpanContext

from mcp_comply import semconv
from mcp_comply._record import request_id_text, result_is_error, target_name
from mcp_comply.instrument._context import SdkFacts, principal_of
from mcp_comply.instrument._core import Recorder, Req, RequestFacts, current_request, take_report
from mcp_comply.instrument._otel import UNKNOWN_SPAN_KEY, span_probe
from mcp_comply.instrument._spans import end_span, link_ambient, outcome_attributes, start_own_span

_get_current_span = trace.get_current_span
# ``_otel_context().get(_SPAN_KEY) is None``: no span is current, so none can be recording
_otel_context, _SPAN_KEY = span_probe()
_SPAN_KEY_KNOWN = _SPAN_KEY != UNKNOWN_SPAN_KEY
# the current OpenTelemetry context (the runtime's ContextVar.get where the probe found it)
_current_otel_context = cast("Callable[[], otel_context.Context]",
                             _otel_context if _SPAN_KEY_KNOWN else otel_context.get_current)
# The types of what the probe finds when no span can be recording: nothing, or NonRecordingSpan
# (whose is_recording() is always False)
_NOT_RECORDING = (type(None), NonRecordingSpan)
# Types of what the probe found that trace.get_current_span() returned as is (it returns what the
# context holds when that is a Span): such a value is the current span without the API's lookup.
# Only confirmed types are kept (a class cannot stop being a Span); a handful per process.
_SPAN_TYPES: set[type] = set()
_OK = semconv.OUTCOME_OK
_ATTR_OUTCOME = semconv.ATTR_COMPLY_OUTCOME
_TCP = semconv.TRANSPORT_TCP
_PIPE = semconv.TRANSPORT_PIPE
_TOOLS_CALL = semconv.METHOD_TOOLS_CALL
_TOOLS_LIST = semconv.METHOD_TOOLS_LIST
_PROMPTS_GET = semconv.METHOD_PROMPTS_GET
_RESOURCES_READ = semconv.METHOD_RESOURCES_READ
_MAX_NAME = 256

_ambient: ContextVar[otel_context.Context | None] = ContextVar("mcp_comply_ambient", default=None)


class AmbientCapture:
    """Outermost entry: remembers the OpenTelemetry context from before the framework's span,
    so the ambient span (e.g. the HTTP server span) can become a link; the span is looked up only
    when a recording span needs the link.

    Not a coroutine: it sets the context variable (only when the context differs from the one it
    holds, so a client calling in process sets it once) and hands back the rest of the chain's
    awaitable, which costs no frame of its own on every resumption of the request. Nothing resets
    the variable: the only reader is this request's :class:`ComplyMiddleware`, which reads it
    before the handler runs, after this request's capture set it; what is left in the context
    afterwards is the caller's own OpenTelemetry context."""

    def __call__(self, ctx: Any, call_next: Any) -> Any:
        current = _current_otel_context()
        if _ambient.get() is not current:
            _ambient.set(current)
        return call_next(ctx)


def _current_span(found: object) -> Span:
    """``trace.get_current_span()``, given what the probe found in the current context."""
    if type(found) in _SPAN_TYPES:
        return found  # type: ignore[return-value]  # a confirmed Span type
    span = _get_current_span()
    if span is found and _SPAN_KEY_KNOWN:
        _SPAN_TYPES.add(type(found))
    return span


def _ambient_span() -> SpanContext:
    captured = _ambient.get()
    if captured is None or (_SPAN_KEY_KNOWN and captured.get(_SPAN_KEY) is None):
        return INVALID_SPAN_CONTEXT  # no span before the framework's: nothing to link
    return trace.get_current_span(captured).get_span_context()


class ComplyMiddleware:
    """Records one request: metrics always; the span and a :class:`CallRecord` for the sinks when
    something consumes them.

    ``own_span`` is True when no framework span exists and this middleware must create the
    server span itself (it then sits outermost).
    """

    def __init__(self, recorder: Recorder, facts: SdkFacts, *, own_span: bool, tracing: bool = True,
                 detail: bool = True, reported: bool = False,
                 on_recording_span: Callable[[], None] | None = None) -> None:
        self.recorder = recorder
        self.facts = facts
        self.own_span = own_span and tracing
        self.tracing = tracing
        # How a framework enricher adds detail to a failed tool call: through `current_request`
        # (detail: fastmcp), or by reporting it (reported: MCPServer, see `reported_failure`),
        # which costs a call that succeeds nothing.
        self.detail = detail and not reported
        self.reported = reported
        # Called once, the first time a framework span is recording: installs AmbientCapture,
        # which costs a middleware frame per request and is useless until spans are recorded.
        self._on_recording_span = on_recording_span
        # Bound once: attribute chains cost on every request.
        self._tool_started = recorder.metrics.tool_started
        self._count = recorder.metrics.count
        self._count_tool = recorder.metrics.count_tool
        self._transport = facts.transport
        # SdkFacts.transport inlined on the request path (a Python call less): the claimed stdio
        # descriptors, or None where the facts reader is another one
        self._claims = facts.stdio_claims if isinstance(facts, SdkFacts) else None
        # A framework span of a request without HTTP (in process, stdio) is enriched here from
        # SdkFacts.peer's parts, read inline (see _enrich_inline); other readers go through finish.
        self._sdk_facts = isinstance(facts, SdkFacts)
        self._get_access_token = facts.access_token_reader if isinstance(facts, SdkFacts) else None
        self._catalog = recorder.catalog
        self._live_tools = recorder.catalog.live
        self.gate: Callable[[Req], Awaitable[None]] | None = None

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        recorder = self.recorder
        request_id = ctx.request_id
        if request_id is None or not recorder.enabled:  # notifications are not requests
            return await call_next(ctx)
        method: str = ctx.method
        request = ctx.request
        if request is not None:
            # 2026-07-28 HTTP runs a synthetic tools/list (same request id) to validate
            # Mcp-Param-* headers; it is not the client's request.
            header_method = request.headers.get("mcp-method")
            if header_method is not None and header_method != method:
                result = await call_next(ctx)
                if method == _TOOLS_LIST:
                    # it names the server's tools: the tools/call that follows needs no listing of ours
                    recorder.catalog.learn(result)
                return result
        is_tool_call = method == _TOOLS_CALL
        if is_tool_call:
            params = ctx.params
            name = params.get("name") if params else None
            # the common case inline; target_name() handles non-strings and overlong names
            tool = name if type(name) is str and len(name) <= _MAX_NAME else target_name(params)
            arguments = params.get("arguments") if params else None
            # the framework's live registry inline (where ToolCatalog.__contains__ looks first)
            live = self._live_tools
            unseen = tool is not None and not (live is not None and tool in live) and tool not in self._catalog
            label = semconv.UNKNOWN_TOOL_LABEL if tool is None or unseen else tool
            self._tool_started(label)
            req = Req(method, tool, label, request_id, arguments if isinstance(arguments, dict) else None)
            req.unseen = unseen
        elif method == _PROMPTS_GET:
            params = ctx.params
            arguments = params.get("arguments") if params else None
            req = Req(method, target_name(params), "", request_id, arguments if isinstance(arguments, dict) else None)
        elif method == _RESOURCES_READ:
            req = Req(method, None, "", request_id, None)
            uri = ctx.params.get("uri") if ctx.params else None
            req.uri = uri[:4096] if isinstance(uri, str) else None
        else:
            req = Req(method, None, "", request_id, None)

        otel_token = None
        if self.tracing:
            try:
                if self.own_span:
                    headers = request.headers if request is not None else None
                    span = start_own_span(recorder.tracer, method, req.tool, request_id_text(request_id),
                                          ctx.protocol_version, ctx.meta, headers,
                                          trace.get_current_span().get_span_context())
                    req.span_owned = True
                    req.span = span
                    otel_token = otel_context.attach(trace.set_span_in_context(span))
                elif type(found := _otel_context().get(_SPAN_KEY)) not in _NOT_RECORDING:
                    # no span, or the API's non-recording one (what the SDK's middleware sets when no
                    # OTel SDK is configured): nothing to enrich, without the API's lookup
                    span = _current_span(found)
                    if span.is_recording():
                        req.span = span
                        if self._on_recording_span is not None:
                            self._on_recording_span()
                            self._on_recording_span = None
                        # _ambient_span()'s "nothing to link" inline: no context captured, or one
                        # without a span (link_ambient does nothing with the invalid span context)
                        captured = _ambient.get()
                        if captured is not None and (not _SPAN_KEY_KNOWN or captured.get(_SPAN_KEY) is not None):
                            link_ambient(span, _ambient_span())
            except Exception as exc:  # noqa: BLE001 - tracing trouble must not fail the request
                recorder.internal_error("spans", exc)
        token = current_request.set(req) if is_tool_call and self.detail else None
        message: str | None = None
        try:
            if is_tool_call and self.gate is not None:
                await self.gate(req)  # fail-closed: a durable intent record before the tool runs
            result = await call_next(ctx)
        except BaseException as exc:
            recorder.classify_exception(req, exc)
            if is_tool_call and self.reported:
                take_report(req)
            if req.unseen and isinstance(exc, Exception):
                await self._resolve_label(req, ctx, succeeded=False)
            message = _message(exc)
            if req.span_owned and req.outcome == semconv.ERROR_EXCEPTION and req.span is not None:
                req.span.record_exception(exc)
            raise
        else:
            if is_tool_call:
                req.result = result
                # the wire dict (what the SDK's chain returns) inline; result_is_error() for the rest
                failed = result.get("isError") is True if type(result) is dict else result_is_error(result)
                if failed and self.reported:
                    take_report(req)
                if req.unseen:
                    await self._resolve_label(req, ctx, succeeded=not failed)
                if failed:
                    req.outcome = semconv.ERROR_TOOL
                    req.error_result = True
                    req.error_text = _error_text(result)
                    if req.detail_outcome is None:
                        self._classify_tool_failure(req)
            elif method == _TOOLS_LIST:
                recorder.catalog.learn(result)
            return result
        finally:
            if token is not None:
                current_request.reset(token)
            if req.span is None and not recorder.sinks and req.detail_outcome is None:
                # The common case inline: metrics only, no record to build.
                try:
                    claims = self._claims
                    if claims is None:
                        transport = self._transport(ctx) or ""
                    else:  # SdkFacts.transport, inline
                        transport = _TCP if request is not None else _PIPE if 0 in claims else ""
                    if is_tool_call:
                        self._count_tool(req.tool_label, req.outcome, req.error_code, req.exception_type,
                                         req.error_result, transport, perf_counter() - req.t0)
                    else:
                        self._count(method, req.tool_label, req.outcome, req.error_code, req.exception_type,
                                    req.error_result, transport, perf_counter() - req.t0)
                except Exception as exc:  # noqa: BLE001 - never break the host server
                    recorder.internal_error("metrics", exc)
            elif (request is None and self._sdk_facts and not recorder.sinks and req.detail_outcome is None
                  and not req.span_owned and recorder.span_has_ids):
                # a framework span, no sink: see _enrich_inline
                self._enrich_inline(req, ctx, req.span, message, is_tool_call)  # type: ignore[arg-type]
            else:
                pending = recorder.finish(req, ctx, self.facts, message)
                if pending is not None:
                    await recorder.settle(pending)  # fsync: always: the response waits for the record
            if otel_token is not None:
                otel_context.detach(otel_token)
                if req.span is not None:
                    req.span.end()

    def _enrich_inline(self, req: Req, ctx: Any, span: Span, message: str | None, is_tool_call: bool) -> None:
        """:meth:`Recorder.finish` without a sink, for a framework span (which carries the ids) of
        a request without HTTP, where ``SdkFacts.peer`` has no address, port or session: its
        transport and principal read inline, the metrics counted, and the same attributes,
        status and order of effects on the span; a successful call in process (nothing but the
        outcome to set) is one ``set_attribute``."""
        recorder = self.recorder
        duration = perf_counter() - req.t0
        recording = span.is_recording()
        transport: str | None = None
        principal: str | None = None
        try:  # SdkFacts.peer and _principal, inline
            claims = self._claims
            if claims is not None and 0 in claims:
                transport = _PIPE
            get_token = self._get_access_token
            if get_token is not None:
                token = get_token()
                if token is not None:
                    principal = principal_of(token)
        except Exception as exc:  # noqa: BLE001
            recorder.internal_error("context", exc)
            transport = principal = None
        outcome = req.outcome
        try:
            if is_tool_call:
                self._count_tool(req.tool_label, outcome, req.error_code, req.exception_type, req.error_result,
                                 transport or "", duration)
            else:
                self._count(req.method, req.tool_label, outcome, req.error_code, req.exception_type,
                            req.error_result, transport or "", duration)
        except Exception as exc:  # noqa: BLE001 - never break the host server
            recorder.internal_error("metrics", exc)
        if not recording:
            return
        try:
            if outcome == _OK and transport is None and principal is None:
                span.set_attribute(_ATTR_OUTCOME, _OK)  # outcome_attributes' only one here
                return
            peer = RequestFacts(None, None, transport, ctx.protocol_version, None, None, principal, None, None)
            attrs = outcome_attributes(peer, req.method, None, outcome, req.error_code, req.exception_type,
                                       req.error_result, has_ids=True)
            end_span(span, attrs, outcome, req.error_code, framework_owned=True, message=message,
                     client_errors=recorder.client_errors_as_span_errors)
        except Exception as exc:  # noqa: BLE001
            recorder.internal_error("spans", exc)

    async def _resolve_label(self, req: Req, ctx: Any, *, succeeded: bool) -> None:
        """The label of a call whose name the catalog did not know when it started, decided after
        the call so that nothing of ours runs the server's handlers around a call that needs no
        lookup: a successful result proves the tool exists (bounded, :meth:`ToolCatalog.prove`);
        after a failure the catalog may ask the server (rate-limited). An unknown name that failed
        with an ``isError`` result is the outcome ``unknown_tool``."""
        tool = req.tool
        if tool is None:
            return
        try:
            known = self._catalog.prove(tool) if succeeded else await self._catalog.contains(tool, ctx)
        except Exception as exc:  # noqa: BLE001 - a failing tool lister must not fail the call
            self.recorder.internal_error("catalog", exc)
            known = False
        if known:
            self.recorder.metrics.tool_relabel(req.tool_label, tool)
            req.tool_label = tool
        elif not succeeded and req.detail_outcome is not None:
            # an enricher classified the failure of a name it could not yet judge
            req.detail_outcome, req.detail_exc = semconv.ERROR_UNKNOWN_TOOL, None

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


def _error_text(result: object) -> str | None:
    content = result.get("content") if isinstance(result, dict) else getattr(result, "content", None)
    if isinstance(content, list) and content:
        first = content[0]
        text = first.get("text") if isinstance(first, dict) else getattr(first, "text", None)
        return text if isinstance(text, str) else None
    return None


def _message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else f"{type(exc).__name__}: {exc}"[:500]


def apply_detail(req: Req | None, outcome: str, exception_type: str | None = None) -> None:
    """Called by framework enrichers that see why a tool failed before it became ``isError``."""
    if req is not None:
        req.detail_outcome = outcome
        req.detail_exc = exception_type
