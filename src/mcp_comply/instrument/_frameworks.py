"""Per-framework glue: detection, where the middleware goes, and the enrichers that see why a tool
failed before the failure became an ``isError`` result. Frameworks are imported only here, and
only once the server object says which one it is."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp_comply import semconv
from mcp_comply.exceptions import InstrumentationError
from mcp_comply.instrument._catalog import ToolCatalog
from mcp_comply.instrument._core import current_request, exception_name
from mcp_comply.instrument._sdk import apply_detail

MCPSERVER = "mcp.MCPServer"
LOWLEVEL = "mcp.Server"
FASTMCP = "fastmcp.FastMCP"

# The SDK marks its middleware API provisional ("may change in a 2.x minor"); these are the
# versions whose (ctx, call_next) shape this release was tested against.
SUPPORTED_MCP = ((2, 3), (3, 0))
SUPPORTED_FASTMCP = ((4, 1), (5, 0))


def detect(server: object) -> str:
    """Which framework ``server`` belongs to, from its class hierarchy (no framework import)."""
    for cls in type(server).__mro__:
        where = (cls.__module__, cls.__qualname__)
        if where == ("fastmcp.server.server", "FastMCP"):
            return FASTMCP
        if where == ("mcp.server.mcpserver.server", "MCPServer"):
            return MCPSERVER
        if where == ("mcp.server.lowlevel.server", "Server"):
            return LOWLEVEL
    names = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in type(server).__mro__[:3])
    raise InstrumentationError(
        f"cannot instrument an object of type {names}: expected mcp.server.mcpserver.MCPServer, "
        "mcp.server.Server (low level) or fastmcp.FastMCP"
    )


def _version_tuple(dist: str) -> tuple[int, int]:
    try:
        parts = version(dist).split(".")
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (PackageNotFoundError, ValueError, IndexError) as exc:
        raise InstrumentationError(f"cannot determine the installed version of {dist}: {exc}") from exc


def check_versions(framework: str) -> None:
    """Refuse framework versions outside the tested range, and feature-detect the middleware API."""
    low, high = SUPPORTED_MCP
    got = _version_tuple("mcp")
    if not low <= got < high:
        raise InstrumentationError(
            f"mcp {'.'.join(map(str, got))} is not supported: mcp-comply supports mcp >= 2.3, < 3 "
            "(the SDK middleware API it relies on is provisional)"
        )
    from mcp.server import context as sdk_context

    proto = getattr(sdk_context, "ServerMiddleware", None)
    call = vars(proto).get("__call__") if proto is not None else None
    params = list(inspect.signature(call).parameters) if call is not None else []
    if params != ["self", "ctx", "call_next"]:
        raise InstrumentationError(
            "this mcp version's ServerMiddleware is not (ctx, call_next): the provisional "
            f"middleware API changed (found parameters {params})"
        )
    if framework == FASTMCP:
        low, high = SUPPORTED_FASTMCP
        got = _version_tuple("fastmcp")
        if not low <= got < high:
            raise InstrumentationError(
                f"fastmcp {'.'.join(map(str, got))} is not supported: mcp-comply supports fastmcp >= 4.1, < 5"
            )


@dataclass
class Binding:
    """What instrument() needs from a framework, and how to undo what it did."""

    framework: str
    server_name: str
    lowlevel: Any
    """The SDK low-level Server whose ``middleware`` list we join."""
    span_owner: type | None
    """The framework middleware class that opens the server span, if any."""
    catalog: ToolCatalog
    undo: list[Callable[[], None]] = field(default_factory=list)


def bind(server: Any, framework: str) -> Binding:
    if framework == MCPSERVER:
        return _bind_mcpserver(server)
    if framework == FASTMCP:
        return _bind_fastmcp(server)
    return _bind_lowlevel(server)


def _sdk_span_owner() -> type:
    from mcp.server._otel import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware


def _bind_lowlevel(server: Any) -> Binding:
    async def load(ctx: Any) -> Mapping[str, Any]:
        entry = server.get_request_handler(semconv.METHOD_TOOLS_LIST)
        if entry is None:
            return {}
        result = await entry.handler(ctx, None)
        tools = getattr(result, "tools", None) or []
        return {t.name: t.input_schema for t in tools}

    return Binding(LOWLEVEL, str(server.name), server, _sdk_span_owner(), ToolCatalog(loader=load))


def _bind_mcpserver(server: Any) -> Binding:
    from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
    from pydantic import ValidationError

    tools = getattr(getattr(server, "_tool_manager", None), "_tools", None)
    catalog = ToolCatalog(live=tools if isinstance(tools, dict) else None)
    binding = Binding(MCPSERVER, str(server.name), server._lowlevel_server, _sdk_span_owner(), catalog)

    had_own = "call_tool" in vars(server)
    previous = vars(server).get("call_tool")
    original = server.call_tool

    async def call_tool(name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await original(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc, UnexpectedToolError):
                cause = exc.__cause__
                apply_detail(current_request.get(), semconv.ERROR_EXCEPTION,
                             exception_name(cause if cause is not None else exc))
            elif isinstance(exc.__cause__, ValidationError):
                apply_detail(current_request.get(), semconv.ERROR_VALIDATION)
            elif name not in catalog:
                apply_detail(current_request.get(), semconv.ERROR_UNKNOWN_TOOL)
            else:
                apply_detail(current_request.get(), semconv.ERROR_TOOL)
            raise

    call_tool.__mcp_comply__ = True  # type: ignore[attr-defined]
    server.call_tool = call_tool

    def restore() -> None:
        if had_own:
            server.call_tool = previous
        else:
            vars(server).pop("call_tool", None)

    binding.undo.append(restore)
    return binding


def _bind_fastmcp(server: Any) -> Binding:
    from fastmcp.exceptions import NotFoundError, ToolError
    from fastmcp.exceptions import ValidationError as FastMCPValidationError
    from fastmcp.server.low_level import FastMCPServerMiddleware
    from fastmcp.server.middleware import Middleware

    async def load(_ctx: Any) -> Mapping[str, Any]:
        tools = await server.list_tools(run_middleware=False)
        return {t.name: t.parameters for t in tools}

    catalog = ToolCatalog(loader=load)
    disabled = _fastmcp_disabled_error()

    class ComplyFastMCPMiddleware(Middleware):  # type: ignore[misc]
        """Sees tool failures as exceptions, before fastmcp turns them into isError results."""

        async def on_call_tool(self, context: Any, call_next: Any) -> Any:
            try:
                result = await call_next(context)
            except (NotFoundError, *disabled):
                apply_detail(current_request.get(), semconv.ERROR_UNKNOWN_TOOL)
                raise
            except FastMCPValidationError:
                apply_detail(current_request.get(), semconv.ERROR_VALIDATION)
                raise
            except ToolError as exc:
                cause = exc.__cause__
                if cause is not None and not isinstance(cause, ToolError):
                    apply_detail(current_request.get(), semconv.ERROR_EXCEPTION, exception_name(cause))
                else:
                    apply_detail(current_request.get(), semconv.ERROR_TOOL)
                raise
            except Exception as exc:
                if type(exc).__name__ != "MCPError":
                    apply_detail(current_request.get(), semconv.ERROR_EXCEPTION, exception_name(exc))
                raise
            if getattr(result, "is_error", False) is True:
                apply_detail(current_request.get(), semconv.ERROR_TOOL)
            return result

    enricher = ComplyFastMCPMiddleware()
    server.middleware.insert(0, enricher)
    binding = Binding(FASTMCP, str(server.name), server._mcp_server, FastMCPServerMiddleware, catalog)

    def restore() -> None:
        server.middleware[:] = [m for m in server.middleware if m is not enricher]

    binding.undo.append(restore)
    return binding


def _fastmcp_disabled_error() -> tuple[type[BaseException], ...]:
    import fastmcp.exceptions as fx

    cls = getattr(fx, "DisabledError", None)
    return (cls,) if isinstance(cls, type) else ()
