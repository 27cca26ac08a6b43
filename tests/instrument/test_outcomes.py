"""One CallRecord per request, classified identically on every framework and protocol era."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from prometheus_client import CollectorRegistry

import servers
from mcp_comply import instrument
from mcp_comply.instrument import CallRecord

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version

MODES = ("auto", "legacy")


async def _call(client: Client, name: str, args: dict[str, Any]) -> str:
    """What the client saw: 'ok', 'isError', or the JSON-RPC error code."""
    try:
        result = await client.call_tool(name, args)
    except MCPError as exc:
        return str(exc.error.code)
    return "isError" if result.is_error else "ok"


async def _drive(server: Any, mode: str) -> list[str]:
    async with Client(servers.lowlevel_of(server), mode=mode) as client:
        return [await _call(client, name, args) for name, args in (
            ("add", {"a": 2, "b": 3}), ("fail", {"reason": "no"}), ("add", {"a": "x", "b": 3}),
            ("nope", {}), ("crash", {}), ("reject", {}))]


def _tool_records(records: list[CallRecord]) -> list[tuple[str | None, str, str, str | None, int | None]]:
    return [(r.tool, r.tool_label, r.outcome, r.exception_type, r.error_code)
            for r in records if r.method == "tools/call"]


EXPECTED = [
    ("add", "add", "ok", None, None),
    ("fail", "fail", "tool_error", None, None),
    ("add", "add", "validation_error", None, None),
    ("nope", "_unknown_", "unknown_tool", None, None),
    ("crash", "crash", "exception", "ZeroDivisionError", None),
    ("reject", "reject", "protocol_error", None, -32001),
]


@pytest.mark.parametrize("mode", MODES)
def test_outcomes_are_classified_identically(framework: str, mode: str, registry: CollectorRegistry) -> None:
    """ok, tool_error, validation_error, unknown_tool, exception and protocol_error mean the same
    thing on MCPServer, the low-level Server and fastmcp, in both protocol eras."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)
    seen = anyio.run(_drive, server, mode)
    # The frameworks differ on the wire only for a crash: MCPServer and fastmcp answer with an
    # isError result, the low-level Server with a JSON-RPC error (-32603; code 0 on the SDK's
    # legacy stream loop). The outcome is the same.
    crash_wire = {"auto": "-32603", "legacy": "0"}[mode] if framework == "lowlevel" else "isError"
    # fastmcp also turns an MCPError raised inside a tool into an isError result (wrapping it in a
    # ToolError), so there it is a crash, not a JSON-RPC error.
    reject_wire = "isError" if framework == "fastmcp" else "-32001"
    assert seen == ["ok", "isError", "isError", "isError", crash_wire, reject_wire]
    expected = list(EXPECTED)
    if framework == "fastmcp":
        expected[5] = ("reject", "reject", "exception", "mcp.shared.exceptions.MCPError", None)
    assert _tool_records(records) == expected
    calls = [r for r in records if r.method == "tools/call"]
    assert {r.protocol_version for r in calls} == {"2026-07-28" if mode == "auto" else "2025-11-25"}
    assert all(r.transport is None for r in calls)  # in-process: no network transport
    assert all(r.client_name == "mcp" for r in calls)  # the SDK client's claimed clientInfo
    assert all(r.request_id is not None and r.request_id.isdigit() for r in calls)
    assert len({r.request_id for r in calls}) == len(calls)
    assert {r.framework for r in records} == {
        {"mcpserver": "mcp.MCPServer", "lowlevel": "mcp.Server", "fastmcp": "fastmcp.FastMCP"}[framework]}
    # a failure that reached the client as an isError result, versus a JSON-RPC error
    assert [r.error_result for r in calls] == [False, True, True, True, framework != "lowlevel",
                                               framework == "fastmcp"]
    handle.uninstrument()


def test_cancelled_call_is_recorded_as_cancelled(framework: str, registry: CollectorRegistry) -> None:
    """A client that gives up on a slow tool leaves a `cancelled` record, not a crash."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)

    async def go() -> None:
        async with Client(servers.lowlevel_of(server), mode="legacy", read_timeout_seconds=0.2) as client:
            with pytest.raises(Exception):  # noqa: B017, PT011 - the SDK's timeout error type is not public
                await client.call_tool("slow", {"seconds": 5})
            await anyio.sleep(0.3)  # let the server observe the cancellation

    anyio.run(go)
    slow = [r for r in records if r.tool == "slow"]
    assert [r.outcome for r in slow] == ["cancelled"]
    handle.uninstrument()


def test_correlation_ids(registry: CollectorRegistry) -> None:
    """Legacy connections correlate by connection; the sessionless era by process."""
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)

    async def go() -> None:
        for mode in ("legacy", "legacy", "auto"):
            async with Client(server, mode=mode) as client:
                await client.call_tool("add", {"a": 1, "b": 1})

    anyio.run(go)
    calls = [r for r in records if r.method == "tools/call"]
    first, second, modern = (r.correlation_id for r in calls)
    assert first.startswith("conn:")
    assert second.startswith("conn:")
    assert first != second
    assert modern.startswith("proc:")
    assert all(r.session_id is None for r in calls)
    handle.uninstrument()


@pytest.mark.skipif(servers.MCP_MAJOR != 2, reason="MCPServer is mcp 2.x")
def test_a_failure_report_reaches_only_its_own_request(registry: CollectorRegistry) -> None:
    """MCPServer's call_tool override reports why a tool failed, and the middleware reads the report
    only when that request failed. In process the server runs in the client's task, so a report
    nobody read (a tool that called another tool and handled its failure) is still in the context
    when the next request fails for its own reason: it is not taken for that request's."""
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import CallToolResult, TextContent

    server = MCPServer("nested")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add."""
        return a + b

    async def tolerant(ctx):  # type: ignore[no-untyped-def]
        """Call add with bad arguments and handle its failure."""
        try:
            await server.call_tool("add", {"a": "x", "b": 1}, ctx)
        except ToolError:
            return "handled"
        return "unexpected"

    def refuse():  # type: ignore[no-untyped-def]
        """Fail with an isError result, no exception."""
        return CallToolResult(content=[TextContent(type="text", text="no")], is_error=True)

    # objects, not strings (this module's annotations are strings, and these names are local)
    tolerant.__annotations__ = {"ctx": Context, "return": str}
    refuse.__annotations__ = {"return": CallToolResult}
    server.tool()(tolerant)
    server.tool()(refuse)

    instrument(server, registry=registry, env={})  # metrics only: no sink, no span

    async def drive() -> list[str]:
        async with Client(server) as client:
            return [await _call(client, name, args) for name, args in (
                ("add", {"a": "x", "b": 1}), ("tolerant", {}), ("refuse", {}), ("add", {"a": 1, "b": 2}))]

    assert anyio.run(drive) == ["isError", "ok", "isError", "ok"]

    def calls(tool: str, status: str, error_type: str) -> float | None:
        return registry.get_sample_value("mcp_tool_calls_total",
                                         {"tool": tool, "status": status, "error_type": error_type})

    assert calls("add", "error", "validation_error") == 1.0
    assert calls("add", "ok", "") == 1.0
    assert calls("tolerant", "ok", "") == 1.0
    assert calls("refuse", "error", "tool_error") == 1.0
    assert calls("refuse", "error", "validation_error") is None
    for tool in ("add", "tolerant", "refuse"):
        assert registry.get_sample_value("mcp_tool_calls_in_flight", {"tool": tool}) == 0.0
