"""The same five tools on each supported framework, for tests that compare them.

Which frameworks exist depends on the environment: mcp 2.x gives ``mcpserver`` and ``lowlevel``
(SDK 2.x), mcp 1.x gives ``sdkfastmcp`` (``mcp.server.fastmcp.FastMCP``) and ``lowlevel`` (SDK
1.x), and ``fastmcp`` is whichever fastmcp is installed (2.x/3.x on mcp 1.x, 4.x on mcp 2.x).

Run as a script to serve one instrumented over stdio, SSE (mcp 1.x) or streamable HTTP:

    python tests/servers.py --framework mcpserver --transport stdio --metrics-port 0 --spans-file F
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import anyio

MCP_MAJOR = int(version("mcp").split(".")[0])
HAS_FASTMCP = importlib.util.find_spec("fastmcp") is not None
FASTMCP_MAJOR = int(version("fastmcp").split(".")[0]) if HAS_FASTMCP else 0
FRAMEWORKS = (("mcpserver", "lowlevel") if MCP_MAJOR >= 2 else ("sdkfastmcp", "lowlevel")) + (
    ("fastmcp",) if HAS_FASTMCP else ())
TOOLS = ("add", "fail", "crash", "reject", "slow")

ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


def _register_calc(tool: Callable[[Callable[..., Any]], object], tool_error: Callable[[str], Exception],
                   quota_error: Callable[[], Exception]) -> None:
    """The five calc tools, registered with a framework's ``tool`` decorator (same names, schemas
    and failures on every framework)."""

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    def fail(reason: str) -> str:
        """Fail deliberately."""
        raise tool_error(f"refused: {reason}")

    def crash() -> str:
        """Crash."""
        raise ZeroDivisionError("boom")

    def reject() -> str:
        """Raise a protocol error."""
        raise quota_error()

    async def slow(seconds: float) -> str:
        """Sleep."""
        await anyio.sleep(seconds)
        return "done"

    for function in (add, fail, crash, reject, slow):
        tool(function)


def build_mcpserver() -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.shared.exceptions import MCPError

    server = MCPServer("calc")
    _register_calc(server.tool(), ToolError, lambda: MCPError(code=-32001, message="quota exceeded"))
    return server


def build_sdkfastmcp() -> Any:
    """mcp 1.x: the SDK's own FastMCP."""
    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError
    from mcp.shared.exceptions import McpError
    from mcp.types import ErrorData

    server = FastMCP("calc")
    _register_calc(server.tool(), ToolError,
                   lambda: McpError(ErrorData(code=-32001, message="quota exceeded")))
    return server


def build_lowlevel_v1() -> Any:
    """mcp 1.x: the low-level Server with its decorators (it validates arguments itself)."""
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import McpError

    tools = [
        types.Tool(name="add", description="Add two integers.", inputSchema=ADD_SCHEMA),
        types.Tool(name="fail", description="Fail deliberately.",
                   inputSchema={"type": "object", "properties": {"reason": {"type": "string"}},
                                "required": ["reason"]}),
        types.Tool(name="crash", description="Crash.", inputSchema={"type": "object"}),
        types.Tool(name="reject", description="Raise a protocol error.", inputSchema={"type": "object"}),
        types.Tool(name="slow", description="Sleep.",
                   inputSchema={"type": "object", "properties": {"seconds": {"type": "number"}},
                                "required": ["seconds"]}),
    ]
    server: Any = Server("calc")

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return tools

    @server.call_tool()
    async def call_tool(name: str, args: dict[str, Any]) -> Any:
        if name == "add":
            return [types.TextContent(type="text", text=str(args["a"] + args["b"]))]
        if name == "fail":
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"refused: {args['reason']}")],
                                        isError=True)
        if name == "crash":
            raise ZeroDivisionError("boom")
        if name == "reject":
            raise McpError(types.ErrorData(code=-32001, message="quota exceeded"))
        if name == "slow":
            await anyio.sleep(float(args["seconds"]))
            return [types.TextContent(type="text", text="done")]
        raise ValueError(f"Unknown tool: {name}")

    return server


def build_lowlevel() -> Any:
    if MCP_MAJOR < 2:
        return build_lowlevel_v1()
    import jsonschema
    import mcp_types as types
    from mcp.server import Server
    from mcp.shared.exceptions import MCPError

    tools = [
        types.Tool(name="add", description="Add two integers.", input_schema=ADD_SCHEMA),
        types.Tool(name="fail", description="Fail deliberately.",
                   input_schema={"type": "object", "properties": {"reason": {"type": "string"}},
                                 "required": ["reason"]}),
        types.Tool(name="crash", description="Crash.", input_schema={"type": "object"}),
        types.Tool(name="reject", description="Raise a protocol error.", input_schema={"type": "object"}),
        types.Tool(name="slow", description="Sleep.",
                   input_schema={"type": "object", "properties": {"seconds": {"type": "number"}},
                                 "required": ["seconds"]}),
    ]
    by_name = {t.name: t for t in tools}

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    def error(text: str) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = by_name.get(params.name)
        if tool is None:
            return error(f"Unknown tool: {params.name}")
        args = params.arguments or {}
        try:
            jsonschema.validate(args, tool.input_schema)
        except jsonschema.ValidationError as exc:
            return error(f"invalid arguments: {exc.message}")
        if params.name == "add":
            total = str(args["a"] + args["b"])
            return types.CallToolResult(content=[types.TextContent(type="text", text=total)])
        if params.name == "fail":
            return error(f"refused: {args['reason']}")
        if params.name == "crash":
            raise ZeroDivisionError("boom")
        if params.name == "reject":
            raise MCPError(code=-32001, message="quota exceeded")
        await anyio.sleep(float(args["seconds"]))
        return types.CallToolResult(content=[types.TextContent(type="text", text="done")])

    return Server("calc", on_list_tools=list_tools, on_call_tool=call_tool)


def build_fastmcp() -> Any:
    from fastmcp import FastMCP
    from fastmcp.exceptions import ToolError

    server = FastMCP("calc")
    if MCP_MAJOR >= 2:
        from mcp.shared.exceptions import MCPError

        _register_calc(server.tool, ToolError, lambda: MCPError(code=-32001, message="quota exceeded"))
    else:
        from mcp.shared.exceptions import McpError
        from mcp.types import ErrorData

        _register_calc(server.tool, ToolError, lambda: McpError(ErrorData(code=-32001, message="quota exceeded")))
    return server


BUILDERS = {"mcpserver": build_mcpserver, "sdkfastmcp": build_sdkfastmcp, "lowlevel": build_lowlevel,
            "fastmcp": build_fastmcp}


def lowlevel_of(server: Any) -> Any:
    """The SDK low-level Server the SDK Client can connect to in-process (the adapters' public API)."""
    from mcp_comply.instrument._frameworks import sdk_server

    return sdk_server(server)


def http_app(framework: str, server: Any, transport: str = "http") -> Any:
    """The server's Starlette app for streamable HTTP (``http``) or SSE (``sse``)."""
    if framework == "fastmcp":
        return server.http_app(transport="sse") if transport == "sse" else server.http_app()
    if framework == "lowlevel" and MCP_MAJOR < 2:
        return lowlevel_v1_app(server, transport)
    return server.sse_app() if transport == "sse" else server.streamable_http_app()


def lowlevel_v1_app(server: Any, transport: str, *, stateless: bool = False) -> Any:
    """A Starlette app for an mcp 1.x low-level Server, as the SDK's examples build one."""
    import contextlib

    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    if transport == "sse":
        from mcp.server.sse import SseServerTransport

        sse = SseServerTransport("/messages/")

        async def handle_sse(request: Any) -> Response:
            async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
                await server.run(read, write, server.create_initialization_options())
            return Response()

        return Starlette(routes=[Route("/sse", endpoint=handle_sse, methods=["GET"]),
                                 Mount("/messages/", app=sse.handle_post_message)])
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    manager = StreamableHTTPSessionManager(app=server, stateless=stateless)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> Any:
        async with manager.run():
            yield

    return Starlette(routes=[Mount("/mcp", app=manager.handle_request)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--transport", choices=("stdio", "http", "sse"), required=True)
    parser.add_argument("--audit-dir", default=None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--metrics-port", type=int, default=0)
    parser.add_argument("--spans-file", default=None)
    parser.add_argument("--ready-file", default=None)
    parser.add_argument("--bare", action="store_true", help="serve without instrument(), to compare")
    args = parser.parse_args()

    if args.spans_file:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

        out = open(args.spans_file, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process

        class JsonLines(SpanExporter):
            def export(self, spans: Any) -> SpanExportResult:
                for span in spans:
                    out.write(json.dumps({"name": span.name, "status": span.status.status_code.name,
                                          "attributes": dict(span.attributes or {}),
                                          "scope": span.instrumentation_scope.name,
                                          "kind": span.kind.name}) + "\n")
                out.flush()
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(JsonLines()))
        trace.set_tracer_provider(provider)

    from mcp_comply import instrument

    server = BUILDERS[args.framework]()
    if not args.bare:
        handle = instrument(server, metrics_port=args.metrics_port, audit_dir=args.audit_dir)
    if args.ready_file and not args.bare:
        with open(args.ready_file, "w", encoding="utf-8") as fh:
            json.dump({"metrics_url": handle.metrics_url}, fh)

    if args.transport == "stdio":
        if args.framework == "lowlevel":
            from mcp.server.stdio import stdio_server

            async def run() -> None:
                async with stdio_server() as (read, write):
                    await server.run(read, write, server.create_initialization_options())

            anyio.run(run)
        elif args.framework == "fastmcp":
            server.run("stdio", show_banner=False)
        else:
            server.run("stdio")
    else:
        import uvicorn

        app = http_app(args.framework, server, args.transport)
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
