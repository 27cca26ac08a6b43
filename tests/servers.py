"""The same five tools on each supported framework, for tests that compare them.

Run as a script to serve one instrumented over stdio or streamable HTTP:

    python tests/servers.py --framework mcpserver --transport stdio --metrics-port 0 --spans-file F
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import anyio

FRAMEWORKS = ("mcpserver", "lowlevel", "fastmcp")
TOOLS = ("add", "fail", "crash", "reject", "slow")

ADD_SCHEMA = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}


def build_mcpserver() -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.shared.exceptions import MCPError

    server = MCPServer("calc")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def fail(reason: str) -> str:
        """Fail deliberately."""
        raise ToolError(f"refused: {reason}")

    @server.tool()
    def crash() -> str:
        """Crash."""
        raise ZeroDivisionError("boom")

    @server.tool()
    def reject() -> str:
        """Raise a protocol error."""
        raise MCPError(code=-32001, message="quota exceeded")

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep."""
        await anyio.sleep(seconds)
        return "done"

    return server


def build_lowlevel() -> Any:
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
    from mcp.shared.exceptions import MCPError

    server = FastMCP("calc")

    @server.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool
    def fail(reason: str) -> str:
        """Fail deliberately."""
        raise ToolError(f"refused: {reason}")

    @server.tool
    def crash() -> str:
        """Crash."""
        raise ZeroDivisionError("boom")

    @server.tool
    def reject() -> str:
        """Raise a protocol error."""
        raise MCPError(code=-32001, message="quota exceeded")

    @server.tool
    async def slow(seconds: float) -> str:
        """Sleep."""
        await anyio.sleep(seconds)
        return "done"

    return server


BUILDERS = {"mcpserver": build_mcpserver, "lowlevel": build_lowlevel, "fastmcp": build_fastmcp}


def lowlevel_of(server: Any) -> Any:
    """The SDK low-level Server the SDK Client can connect to in-process."""
    for attr in ("_lowlevel_server", "_mcp_server"):
        inner = getattr(server, attr, None)
        if inner is not None:
            return inner
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=FRAMEWORKS, required=True)
    parser.add_argument("--transport", choices=("stdio", "http"), required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--metrics-port", type=int, default=0)
    parser.add_argument("--spans-file", default=None)
    parser.add_argument("--ready-file", default=None)
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
    handle = instrument(server, metrics_port=args.metrics_port)
    if args.ready_file:
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

        app = server.http_app() if args.framework == "fastmcp" else server.streamable_http_app()
        uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
