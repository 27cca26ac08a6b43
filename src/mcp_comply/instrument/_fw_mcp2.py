"""The official mcp SDK 2.x (``MCPServer`` and the low-level ``Server``): the only module that
touches its private attributes. Each one is listed in :data:`PRIVATE` and pinned by
``tests/instrument/test_contracts.py``, so a new SDK release breaks one named test, not a server.

The SDK 2.x offers a public (provisional) middleware list; the recording itself happens in
:class:`~mcp_comply.instrument._sdk.ComplyMiddleware`. This module only knows where things are.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from mcp_comply import semconv
from mcp_comply.exceptions import InstrumentationError
from mcp_comply.instrument._core import exception_name, report_failure

PRIVATE = (
    "MCPServer._lowlevel_server",
    "MCPServer._tool_manager._tools",
    "mcp.server.stdio._claims",
    "ServerSession._connection.state",
    "ServerSession._connection.session_id",
    "mcp.server._otel.OpenTelemetryMiddleware",
    "MCPServer._token_verifier",
)
"""Private names this adapter reads (see the contract tests)."""

_CORRELATION_STATE_KEY = "mcp_comply.correlation_id"


def check_middleware_api() -> None:
    """The provisional middleware API must still have the ``(ctx, call_next)`` shape."""
    from mcp.server import context as sdk_context

    proto = getattr(sdk_context, "ServerMiddleware", None)
    call = vars(proto).get("__call__") if proto is not None else None
    params = list(inspect.signature(call).parameters) if call is not None else []
    if params != ["self", "ctx", "call_next"]:
        raise InstrumentationError(
            "this mcp version's ServerMiddleware is not (ctx, call_next): the provisional "
            f"middleware API changed (found parameters {params})"
        )


def span_owner() -> type:
    """The SDK middleware that opens the MCP server span."""
    from mcp.server._otel import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware


def lowlevel_of_mcpserver(server: Any) -> Any:
    return server._lowlevel_server


def auth_configured(server: Any) -> bool:
    """Whether an MCPServer verifies bearer tokens: a token verifier, or auth settings."""
    return getattr(server, "_token_verifier", None) is not None or \
        getattr(getattr(server, "settings", None), "auth", None) is not None


def live_tools(server: Any) -> Mapping[str, Any] | None:
    """MCPServer's own tool registry (name -> tool), read live."""
    tools = getattr(getattr(server, "_tool_manager", None), "_tools", None)
    return tools if isinstance(tools, dict) else None


def stdio_claims() -> Mapping[int, Any] | None:
    """``mcp.server.stdio._claims``: fd 0 is claimed while the process serves MCP over stdio."""
    from mcp.server import stdio as sdk_stdio

    claims = vars(sdk_stdio).get("_claims")
    return claims if isinstance(claims, dict) else None


def connection_correlation(session: Any) -> str | None:
    """A correlation id kept in the connection's state: one per legacy connection."""
    connection = getattr(session, "_connection", None)
    state = getattr(connection, "state", None)
    if not isinstance(state, dict):
        return None
    value = state.get(_CORRELATION_STATE_KEY)
    if value is None:
        value = state[_CORRELATION_STATE_KEY] = "conn:" + uuid.uuid4().hex
    return str(value)


def connection_session_id(session: Any) -> str | None:
    """The session id the SDK's streamable-HTTP session manager made for this connection, which
    its transport has matched every request's ``mcp-session-id`` header against; None in stateless
    mode and over SSE, where nothing checks that header (a client could name any session)."""
    value = getattr(getattr(session, "_connection", None), "session_id", None)
    return value if isinstance(value, str) else None


def enrich_mcpserver_tools(server: Any, contains: Callable[[str], bool]) -> Callable[[], None]:
    """Override ``call_tool`` on the instance (the SDK's handler looks it up on ``self``) to see
    why a tool failed before MCPServer turns it into an ``isError`` result, and report it to the
    request's middleware (:func:`~mcp_comply.instrument._core.report_failure`). Returns the undo."""
    from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
    from pydantic import ValidationError

    had_own = "call_tool" in vars(server)
    previous = vars(server).get("call_tool")
    original = server.call_tool

    async def call_tool(name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await original(name, arguments, context)
        except ToolError as exc:
            request_id = _request_id(context)
            if request_id is None:  # called outside a request: nobody to tell
                raise
            if isinstance(exc, UnexpectedToolError):
                cause = exc.__cause__
                report_failure(request_id, semconv.ERROR_EXCEPTION, exception_name(cause if cause is not None else exc))
            elif isinstance(exc.__cause__, ValidationError):
                report_failure(request_id, semconv.ERROR_VALIDATION)
            elif not contains(name):
                report_failure(request_id, semconv.ERROR_UNKNOWN_TOOL)
            else:
                report_failure(request_id, semconv.ERROR_TOOL)
            raise

    call_tool.__mcp_comply__ = True  # type: ignore[attr-defined]
    server.call_tool = call_tool

    def restore() -> None:
        if had_own:
            server.call_tool = previous
        else:
            vars(server).pop("call_tool", None)

    return restore


def _request_id(context: Any) -> str | None:
    """The id of the request an MCPServer ``Context`` serves; None without one."""
    try:
        return str(context.request_id)
    except (AttributeError, ValueError):  # no context, or a context outside a request
        return None
