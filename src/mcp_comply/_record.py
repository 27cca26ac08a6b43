"""CallRecord: the one immutable description of a finished MCP request, and the pure helpers
that classify outcomes and bound label values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from mcp_comply import semconv

_MAX_NAME_LEN = 256


class CallRecord(NamedTuple):
    """One finished MCP request, as every sink (metrics, spans, audit) sees it.

    A NamedTuple because it is built once per request on the hot path: construction is a
    single C-level tuple allocation, and the result is immutable.
    """

    method: str
    """The JSON-RPC method, e.g. ``tools/call``."""
    tool: str | None
    """The tool (or prompt) name the client asked for, stringified and truncated; None otherwise."""
    tool_label: str
    """``tool`` if the server registers it, else ``_unknown_``; empty for non-tool methods."""
    outcome: str
    """``ok`` or one of :data:`mcp_comply.semconv.ERROR_TYPES`."""
    error_code: int | None
    """The JSON-RPC error code for ``protocol_error``."""
    exception_type: str | None
    """The qualified class name of the exception for ``exception`` (and of a raised error)."""
    start_unix: float
    duration_s: float
    request_id: str | None
    session_id: str | None
    """The transport session id (legacy stateful Streamable HTTP only)."""
    correlation_id: str
    """The session id where there is one; otherwise a stable id for the connection or process."""
    transport: str | None
    """``pipe`` (stdio), ``tcp`` (HTTP) or None (in-process)."""
    protocol_version: str | None
    client_name: str | None
    """Self-asserted by the client (``clientInfo``): claimed, not authenticated."""
    client_version: str | None
    principal: str | None
    """The authenticated principal (OAuth subject or client id) when the request was authenticated."""
    client_address: str | None
    client_port: int | None
    trace_id: str | None
    span_id: str | None
    error_result: bool
    """True when the failure reached the client as an ``isError`` tool result (not a JSON-RPC error)."""
    arguments: Mapping[str, Any] | None
    """The raw arguments, by reference: sinks that persist them must redact first."""
    framework: str
    result: Any = None
    """The raw result (wire dict), by reference, for sinks that digest it; never persisted as is."""
    error_message: str | None = None
    """The raw error text (exception message or isError text): sinks must redact it."""
    uri: str | None = None
    """The resource URI of a ``resources/read`` (raw: sinks that persist it must redact it)."""

    @property
    def ok(self) -> bool:
        return self.outcome == semconv.OUTCOME_OK

    @property
    def status(self) -> str:
        return semconv.STATUS_OK if self.outcome == semconv.OUTCOME_OK else semconv.STATUS_ERROR


def target_name(params: Mapping[str, Any] | None) -> str | None:
    """The ``name`` a tools/call or prompts/get carries, stringified and bounded in length.

    Malformed requests can carry any JSON value as the name (seen: ``5``).
    """
    if not params:
        return None
    name = params.get("name")
    if name is None:
        return None
    text = name if isinstance(name, str) else repr(name)
    return text[:_MAX_NAME_LEN]


def request_id_text(request_id: object) -> str:
    """A JSON-RPC request id as records and spans carry it: its text, at most 256 characters (the
    client chooses it, and a 20,000-character id went whole into every record and span of its call)."""
    return str(request_id)[:_MAX_NAME_LEN]


def method_label(method: str) -> str:
    """A metric label for a method: spec method names only, anything else becomes ``_other_``."""
    return method if method in semconv.SPEC_METHODS else semconv.OTHER_METHOD_LABEL


def result_is_error(result: object) -> bool:
    """True when a tools/call result reports ``isError``.

    Middleware normally sees the wire dict, but a short-circuiting middleware may return a model.
    """
    if isinstance(result, dict):
        return result.get("isError") is True
    return getattr(result, "is_error", False) is True


def semconv_error_type(record: CallRecord) -> str:
    """The ``error.type`` value the MCP semantic conventions give this outcome ('' when ok)."""
    return error_type_of(record.outcome, record.error_code, record.exception_type, record.error_result)


def error_type_of(outcome: str, error_code: int | None, exception_type: str | None, error_result: bool) -> str:
    if outcome == semconv.OUTCOME_OK:
        return ""
    if outcome == semconv.ERROR_PROTOCOL:
        return str(error_code) if error_code is not None else "_OTHER"
    if outcome == semconv.ERROR_CANCELLED:
        return semconv.ERROR_CANCELLED
    if error_result:
        # Crash, bad arguments or deliberate failure alike: on the wire it is an isError result.
        return semconv.ERROR_TOOL
    return exception_type or "_OTHER"


def is_client_caused(record: CallRecord) -> bool:
    """Caller errors that the server span must not mark as server errors."""
    return record.outcome == semconv.ERROR_PROTOCOL and record.error_code in semconv.CLIENT_CAUSED_CODES
