"""Server spans that follow the MCP semantic conventions: enrich the framework's span, or make one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode, Tracer

from mcp_comply import semconv
from mcp_comply._record import CallRecord, is_client_caused, semconv_error_type


def parent_context(meta: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> Context | None:
    """The remote parent: W3C context from ``params._meta`` first, then from HTTP headers.

    Uses the configured global propagators. None when neither carries a valid context.
    """
    for carrier in (meta, headers):
        if not carrier:
            continue
        try:
            ctx = propagate.extract(carrier)
        except (ValueError, TypeError):
            continue
        if trace.get_current_span(ctx).get_span_context().is_valid:
            return ctx
    return None


def span_name(method: str, target: str | None) -> str:
    return f"{method} {target}" if target and method in (semconv.METHOD_TOOLS_CALL,
                                                         semconv.METHOD_PROMPTS_GET) else method


def start_attributes(method: str, target: str | None, request_id: str | None,
                     protocol_version: str | None) -> dict[str, Any]:
    attrs: dict[str, Any] = {semconv.ATTR_MCP_METHOD_NAME: method}
    if protocol_version:
        attrs[semconv.ATTR_MCP_PROTOCOL_VERSION] = protocol_version
    if request_id is not None:
        attrs[semconv.ATTR_JSONRPC_REQUEST_ID] = request_id
    if method == semconv.METHOD_TOOLS_CALL:
        attrs[semconv.ATTR_GEN_AI_OPERATION_NAME] = semconv.GEN_AI_OPERATION_EXECUTE_TOOL
        if target is not None:
            attrs[semconv.ATTR_GEN_AI_TOOL_NAME] = target
    elif method == semconv.METHOD_PROMPTS_GET and target is not None:
        attrs[semconv.ATTR_GEN_AI_PROMPT_NAME] = target
    return attrs


def start_own_span(tracer: Tracer, method: str, target: str | None, request_id: str | None,
                   protocol_version: str | None, meta: Mapping[str, Any] | None,
                   headers: Mapping[str, str] | None, ambient: SpanContext) -> Span:
    """Start the SERVER span where no framework span exists.

    The parent is the context in ``_meta`` (or the HTTP headers); the ambient span (e.g. the
    HTTP server span) becomes a link, as the conventions require. Without a remote context the
    ambient span is the parent and no link is needed.
    """
    parent = parent_context(meta, headers)
    links = [Link(ambient)] if parent is not None and ambient.is_valid else None
    return tracer.start_span(
        span_name(method, target), context=parent, kind=SpanKind.SERVER,
        attributes=start_attributes(method, target, request_id, protocol_version), links=links,
    )


def link_ambient(span: Span, ambient: SpanContext) -> None:
    """Link a framework span to the ambient span when the framework parented it elsewhere."""
    if not ambient.is_valid:
        return
    parent = getattr(span, "parent", None)  # SDK spans expose their parent's SpanContext
    if parent is not None and parent.span_id == ambient.span_id and parent.trace_id == ambient.trace_id:
        return
    if span.get_span_context().span_id == ambient.span_id:
        return
    span.add_link(ambient)


def finish_attributes(record: CallRecord, *, has_ids: bool = False) -> dict[str, Any]:
    """Attributes known only at the end: transport, peer, session, and the error classification.

    ``has_ids``: the span already carries request id, protocol version and operation name (the
    SDK's span does; fastmcp's lacks some), so they are not set again: every attribute set on a
    recording SDK span costs about a microsecond.
    """
    attrs: dict[str, Any] = {}
    if record.transport:
        attrs[semconv.ATTR_NETWORK_TRANSPORT] = record.transport
        if record.transport == semconv.TRANSPORT_TCP:
            attrs[semconv.ATTR_NETWORK_PROTOCOL_NAME] = "http"
    if record.client_address:
        attrs[semconv.ATTR_CLIENT_ADDRESS] = record.client_address
    if record.client_port is not None:
        attrs[semconv.ATTR_CLIENT_PORT] = record.client_port
    if record.session_id:
        attrs[semconv.ATTR_MCP_SESSION_ID] = record.session_id
    if record.principal:
        attrs[semconv.ATTR_ENDUSER_ID] = record.principal
    if not has_ids:
        if record.request_id is not None:
            attrs[semconv.ATTR_JSONRPC_REQUEST_ID] = record.request_id
        if record.protocol_version:
            attrs[semconv.ATTR_MCP_PROTOCOL_VERSION] = record.protocol_version
        if record.method == semconv.METHOD_TOOLS_CALL:
            attrs[semconv.ATTR_GEN_AI_OPERATION_NAME] = semconv.GEN_AI_OPERATION_EXECUTE_TOOL
    attrs[semconv.ATTR_COMPLY_OUTCOME] = record.outcome
    error_type = semconv_error_type(record)
    if error_type:
        attrs[semconv.ATTR_ERROR_TYPE] = error_type
    if record.error_code is not None:
        attrs[semconv.ATTR_RPC_RESPONSE_STATUS_CODE] = str(record.error_code)
    return attrs


def finish_span(span: Span, record: CallRecord, *, framework_owned: bool, message: str | None,
                has_ids: bool = False) -> None:
    """Write the outcome onto the span.

    Caller-caused JSON-RPC codes are not server errors. A framework span would be marked ERROR by
    the framework after we return, so there we set OK, which OpenTelemetry treats as final; on
    our own span the status simply stays UNSET.
    """
    span.set_attributes(finish_attributes(record, has_ids=has_ids))
    if record.ok or record.outcome == semconv.ERROR_CANCELLED:
        return
    if is_client_caused(record):
        if framework_owned:
            span.set_status(Status(StatusCode.OK))
        return
    span.set_status(Status(StatusCode.ERROR, message))
