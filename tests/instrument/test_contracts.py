"""Contracts on framework internals: every private attribute an adapter module relies on
(``_fw_mcp1``, ``_fw_mcp2``, ``_fw_fastmcp``, each listing them in ``PRIVATE``) is checked here
against the installed framework, so a framework release that moves one fails one named test with
a message saying what moved, instead of failing a user's server. The framework matrix
(``.ci/matrix``) runs this file in every supported version."""

from __future__ import annotations

import inspect
import sys
from typing import Any

import anyio
import pytest

import servers

pytestmark = pytest.mark.adapter

v1 = pytest.mark.skipif(servers.MCP_MAJOR != 1, reason="mcp 1.x contract")
v2 = pytest.mark.skipif(servers.MCP_MAJOR != 2, reason="mcp 2.x contract")
fm = pytest.mark.skipif(not servers.HAS_FASTMCP, reason="fastmcp not installed")


def contract(holds: bool, module: str, what: str) -> None:
    assert holds, (f"framework contract broken: {what}. mcp-comply's {module} relies on it; "
                   f"adapt {module} to this framework release (and its PRIVATE list)")


def test_every_private_name_is_pinned_here() -> None:
    """Each adapter's PRIVATE list has one entry per contract test below (keep them in step)."""
    from mcp_comply.instrument import _fw_fastmcp, _fw_mcp1, _fw_mcp2

    assert len(_fw_mcp1.PRIVATE) == 6
    assert len(_fw_mcp2.PRIVATE) == 7
    assert len(_fw_fastmcp.PRIVATE) == 3
    from mcp_comply.instrument import _otel

    assert len(_otel.PRIVATE) == 2


def test_otel_runtime_context_is_a_context_variable_holding_the_current_span() -> None:
    """``_otel.span_probe`` reads the OpenTelemetry API's runtime ContextVar and span key: the probe
    says "no span" exactly when ``trace.get_current_span()`` is the invalid span, inside and
    outside ``use_span``, and the runtime context is the contextvars one (two C calls a request)."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from mcp_comply.instrument._otel import UNKNOWN_SPAN_KEY, span_probe

    current, key = span_probe()
    contract(key != UNKNOWN_SPAN_KEY and current is not otel_context.get_current, "_otel",
             "opentelemetry.context._RUNTIME_CONTEXT._current_context is the ContextVar of the current "
             "Context, and opentelemetry.trace.propagation._SPAN_KEY the key of its span")
    assert current() is otel_context.get_current()
    assert current().get(key) is None
    assert trace.get_current_span() is trace.INVALID_SPAN
    span = TracerProvider().get_tracer("t").start_span("s")
    with trace.use_span(span, end_on_exit=True):
        assert current().get(key) is span is trace.get_current_span()
        with trace.use_span(trace.INVALID_SPAN):
            assert current().get(key) is trace.INVALID_SPAN is trace.get_current_span()
    assert current().get(key) is None


# -- mcp 1.x ----------------------------------------------------------------------------------------

@v1
def test_v1_fastmcp_has_a_lowlevel_server_and_a_tool_registry() -> None:
    from mcp.server.lowlevel import Server

    server = servers.build_sdkfastmcp()
    contract(isinstance(getattr(server, "_mcp_server", None), Server), "_fw_mcp1",
             "mcp.server.fastmcp.FastMCP._mcp_server is the low-level Server")
    tools = getattr(getattr(server, "_tool_manager", None), "_tools", None)
    contract(isinstance(tools, dict) and set(tools) == set(servers.TOOLS), "_fw_mcp1",
             "FastMCP._tool_manager._tools maps tool names to tools")


def _keeps_its_token_verifier(server_class: Any) -> bool:
    """Whether ``server_class`` keeps the ``token_verifier`` it is given as ``_token_verifier``
    (None without one): what the adapters' ``auth_configured`` reads."""
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            return None

    verifier = Verifier()
    secured = server_class("s", token_verifier=verifier, auth=AuthSettings(
        issuer_url="https://auth.example.invalid", resource_server_url="http://127.0.0.1/mcp", required_scopes=[]))
    return (getattr(secured, "_token_verifier", None) is verifier
            and getattr(server_class("open"), "_token_verifier", "missing") is None)


@v1
def test_v1_fastmcp_keeps_its_token_verifier() -> None:
    from mcp.server.fastmcp import FastMCP

    contract(_keeps_its_token_verifier(FastMCP), "_fw_mcp1",
             "mcp.server.fastmcp.FastMCP._token_verifier holds the token_verifier given (None without one)")


@v1
def test_v1_handle_request_signature() -> None:
    from mcp.server.lowlevel import Server

    params = list(inspect.signature(Server._handle_request).parameters)
    contract(params == ["self", "message", "req", "session", "lifespan_context", "raise_exceptions"], "_fw_mcp1",
             f"Server._handle_request(message, req, session, lifespan_context, raise_exceptions); found {params}")
    call = inspect.getsource(Server._handle_message)
    contract("self._handle_request(" in call, "_fw_mcp1",
             "Server._handle_message dispatches through self._handle_request (an instance override is seen)")


@v1
def test_v1_make_error_result_runs_inside_except() -> None:
    """The SDK calls ``self._make_error_result`` while the tool's exception is being handled."""
    from mcp import types
    from mcp.server.lowlevel import Server

    server: Any = Server("c")
    seen: list[Any] = []
    original = server._make_error_result

    def spy(message: str) -> Any:
        seen.append(sys.exc_info()[1])
        return original(message)

    server._make_error_result = spy

    @server.call_tool()
    async def call(name: str, args: dict[str, Any]) -> Any:
        raise ZeroDivisionError("boom")

    handler = server.request_handlers[types.CallToolRequest]
    req = types.CallToolRequest(method="tools/call", params=types.CallToolRequestParams(name="x", arguments={}))
    result = anyio.run(handler, req)
    contract(result.root.isError is True, "_fw_mcp1", "a raising tool becomes an isError result")
    contract(len(seen) == 1 and isinstance(seen[0], ZeroDivisionError), "_fw_mcp1",
             "Server._make_error_result is called on self inside `except` with the tool's exception")


@v1
def test_v1_request_responder_and_metadata() -> None:
    from mcp.shared.message import ServerMessageMetadata
    from mcp.shared.session import RequestResponder

    init = inspect.signature(RequestResponder.__init__).parameters
    contract({"request_id", "request_meta", "message_metadata"} <= set(init), "_fw_mcp1",
             "RequestResponder carries request_id, request_meta and message_metadata")
    contract("request_context" in set(ServerMessageMetadata.__dataclass_fields__), "_fw_mcp1",
             "ServerMessageMetadata.request_context holds the HTTP request")


@v1
def test_v1_stdio_reader_task_name() -> None:
    """The stdio transport runs its reader as a task named after ``stdin_reader``."""
    import asyncio
    import io

    from mcp.server.stdio import stdio_server

    names: list[str] = []

    async def go() -> None:
        stdin = anyio.wrap_file(io.StringIO(""))
        stdout = anyio.wrap_file(io.StringIO())
        async with stdio_server(stdin, stdout) as (read, write):  # type: ignore[arg-type]
            names.extend(t.get_name() for t in asyncio.all_tasks())
            await write.aclose()  # lets the transport's writer task end
            await read.aclose()

    anyio.run(go)
    contract(any(n.endswith("stdio_server.<locals>.stdin_reader") for n in names), "_fw_mcp1",
             f"mcp.server.stdio.stdio_server runs a task named ...stdin_reader (found {names})")


# -- mcp 2.x ----------------------------------------------------------------------------------------

@v2
def test_v2_mcpserver_internals() -> None:
    from mcp.server import Server

    server = servers.build_mcpserver()
    contract(isinstance(getattr(server, "_lowlevel_server", None), Server), "_fw_mcp2",
             "MCPServer._lowlevel_server is the low-level Server")
    tools = getattr(getattr(server, "_tool_manager", None), "_tools", None)
    contract(isinstance(tools, dict) and set(tools) == set(servers.TOOLS), "_fw_mcp2",
             "MCPServer._tool_manager._tools maps tool names to tools")


@v2
def test_v2_mcpserver_keeps_its_token_verifier() -> None:
    from mcp.server.mcpserver import MCPServer

    contract(_keeps_its_token_verifier(MCPServer), "_fw_mcp2",
             "mcp.server.mcpserver.MCPServer._token_verifier holds the token_verifier given (None without one)")


@v2
def test_v2_stdio_claims_and_span_owner() -> None:
    from mcp.server import stdio

    contract(isinstance(vars(stdio).get("_claims"), dict), "_fw_mcp2",
             "mcp.server.stdio._claims is the dict of claimed file descriptors")
    from mcp.server._otel import OpenTelemetryMiddleware

    server = servers.build_mcpserver()
    contract(any(isinstance(m, OpenTelemetryMiddleware) for m in server.middleware), "_fw_mcp2",
             "mcp.server._otel.OpenTelemetryMiddleware opens the server span from MCPServer.middleware")


@v2
def test_v2_connection_state_is_a_dict() -> None:
    from mcp import Client

    server = servers.build_mcpserver()
    states: list[Any] = []

    async def spy(ctx: Any, call_next: Any) -> Any:
        states.append(getattr(getattr(ctx.session, "_connection", None), "state", None))
        return await call_next(ctx)

    server.middleware.insert(0, spy)

    async def go() -> None:
        async with Client(server, mode="legacy") as client:
            await client.call_tool("add", {"a": 1, "b": 1})

    anyio.run(go)
    contract(bool(states) and all(isinstance(s, dict) for s in states), "_fw_mcp2",
             "ServerSession._connection.state is a per-connection dict")


@v2
def test_v2_connection_session_id_is_the_checked_session_id() -> None:
    from mcp import Client

    from e2e.conftest import serve_http

    server = servers.build_mcpserver()
    seen: list[tuple[Any, Any]] = []

    async def spy(ctx: Any, call_next: Any) -> Any:
        header = ctx.request.headers.get("mcp-session-id") if ctx.request is not None else None
        seen.append((getattr(getattr(ctx.session, "_connection", None), "session_id", "absent"), header))
        return await call_next(ctx)

    server.middleware.insert(0, spy)

    async def go(url: str) -> None:
        async with Client(url, mode="legacy") as client:
            await client.call_tool("add", {"a": 1, "b": 1})

    with serve_http(server.streamable_http_app()) as url:
        anyio.run(go, url)
    ids = {connection for connection, _ in seen}
    contract(len(ids) == 1 and isinstance(next(iter(ids)), str)
             and all(header in (None, connection) for connection, header in seen), "_fw_mcp2",
             "ServerSession._connection.session_id is the streamable-HTTP session id its transport checks")


# -- fastmcp ----------------------------------------------------------------------------------------

@fm
def test_fastmcp_lowlevel_server_and_middleware_list() -> None:
    from mcp.server.lowlevel import Server

    server = servers.build_fastmcp()
    contract(isinstance(getattr(server, "_mcp_server", None), Server), "_fw_fastmcp",
             "fastmcp.FastMCP._mcp_server is (a subclass of) the SDK low-level Server")
    contract(isinstance(getattr(server, "middleware", None), list), "_fw_fastmcp",
             "fastmcp.FastMCP.middleware is the list its Middleware chain is built from")


@fm
@pytest.mark.skipif(servers.FASTMCP_MAJOR != 4, reason="fastmcp 4.x contract")
def test_fastmcp4_seam_middleware() -> None:
    from fastmcp.server.low_level import FastMCPServerMiddleware

    server = servers.build_fastmcp()
    contract(any(isinstance(m, FastMCPServerMiddleware) for m in server._mcp_server.middleware), "_fw_fastmcp",
             "fastmcp 4.x installs FastMCPServerMiddleware (its span seam) in the SDK middleware list")


@fm
@pytest.mark.skipif(servers.FASTMCP_MAJOR != 3, reason="fastmcp 3.x contract")
def test_fastmcp3_server_span_is_looked_up_in_the_server_module() -> None:
    import fastmcp.server.server as fm_server
    from fastmcp.server import telemetry

    params = list(inspect.signature(telemetry.server_span).parameters)[:2]
    contract(params == ["name", "method"], "_fw_fastmcp",
             f"fastmcp.server.telemetry.server_span(name, method, ...); found {params}")
    source = inspect.getsource(fm_server.FastMCP.call_tool)
    contract("with server_span(" in source, "_fw_fastmcp",
             "FastMCP.call_tool opens its span through the module-level name server_span")
