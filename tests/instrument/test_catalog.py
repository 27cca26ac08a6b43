"""The tool catalog on a low-level Server, where mcp-comply cannot see the registered tools: a call's
label is decided after the call, so instrumenting runs none of the server's handlers around a call
that needs no lookup (the SDK suite counts them), and hostile names stay bounded.

Runs on the installed generation (mcp 1.x or 2.x), each driven by its own real client.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry

import servers
from conftest import sample, series
from mcp_comply import instrument, semconv
from mcp_comply.instrument import CallRecord
from mcp_comply.instrument._catalog import _MAX_UNLISTED

pytestmark = pytest.mark.adapter

CALLS = semconv.TOOL_CALLS_TOTAL
LISTED = ("forecast",)


def counting_server(answer_any: bool = False) -> tuple[Any, list[str]]:
    """A low-level Server listing ``forecast``; every run of its tools/list handler is counted. It
    serves ``forecast`` and, with ``answer_any``, any other name as well (a proxy-like server)."""
    listings: list[str] = []
    if servers.MCP_MAJOR < 2:
        from mcp import types as t1
        from mcp.server.lowlevel import Server as Server1

        server1: Any = Server1("weather")

        @server1.list_tools()
        async def list_tools1() -> list[Any]:
            listings.append("list")
            return [t1.Tool(name=n, inputSchema={"type": "object"}) for n in LISTED]

        @server1.call_tool(validate_input=False)
        async def call_tool1(name: str, args: dict[str, Any]) -> Any:
            if name in LISTED or answer_any:
                return [t1.TextContent(type="text", text="21 C")]
            return t1.CallToolResult(content=[t1.TextContent(type="text", text=f"Unknown tool: {name}")],
                                     isError=True)

        return server1, listings

    import mcp_types as types
    from mcp.server import Server

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        listings.append("list")
        return types.ListToolsResult(tools=[types.Tool(name=n, input_schema={"type": "object"}) for n in LISTED])

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name in LISTED or answer_any:
            return types.CallToolResult(content=[types.TextContent(text="21 C")])
        return types.CallToolResult(content=[types.TextContent(text=f"Unknown tool: {params.name}")], is_error=True)

    return Server("weather", on_list_tools=list_tools, on_call_tool=call_tool), listings


def call_all(server: Any, names: list[str]) -> list[bool]:
    """Call each name once over the in-memory transport with the SDK's own client; isError flags."""
    flags: list[bool] = []

    async def go() -> None:
        if servers.MCP_MAJOR < 2:
            from mcp.shared.memory import create_connected_server_and_client_session

            async with create_connected_server_and_client_session(server) as session:
                for name in names:
                    flags.append(bool((await session.call_tool(name, {})).isError))
        else:
            from mcp import Client

            async with Client(server) as client:
                for name in names:
                    flags.append(bool((await client.call_tool(name, {})).is_error))

    anyio.run(go)
    return flags


def run(names: list[str], *, instrumented: bool, answer_any: bool = False,
        registry: CollectorRegistry | None = None) -> tuple[list[bool], list[str], list[CallRecord]]:
    server, listings = counting_server(answer_any)
    records: list[CallRecord] = []
    handle = None
    if instrumented:
        handle = instrument(server, registry=registry)
        handle.add_sink(records.append)
    flags = call_all(server, names)
    if handle is not None:
        handle.uninstrument()
    return flags, listings, [r for r in records if r.method == "tools/call"]


def test_a_first_call_runs_no_listing_of_ours(registry: CollectorRegistry) -> None:
    """The first call of a tool nobody listed yet is labelled by its name from its successful result:
    the server's tools/list handler runs exactly as often as bare (the SDK suite's implicit-listing
    test counts it)."""
    names = ["forecast", "forecast"]
    bare_flags, bare_listings, _ = run(names, instrumented=False)
    flags, listings, records = run(names, instrumented=True, registry=registry)
    assert flags == bare_flags == [False, False]
    assert listings == bare_listings
    assert [(r.tool, r.tool_label, r.outcome) for r in records] == [("forecast", "forecast", "ok")] * 2
    assert sample(registry, CALLS, tool="forecast", status="ok", error_type="") == 2
    assert series(registry, CALLS) == [{"tool": "forecast", "status": "ok", "error_type": ""}]
    for tool in ("forecast", semconv.UNKNOWN_TOOL_LABEL):
        assert sample(registry, semconv.TOOL_CALLS_IN_FLIGHT, tool=tool) == 0


def test_unknown_names_are_looked_up_once_after_they_fail(registry: CollectorRegistry) -> None:
    """A failing unseen name is judged by asking the server after the call, at most once per
    reload interval however many names a client invents."""
    rng = random.Random(3)
    names = ["".join(rng.choices(string.ascii_letters, k=10)) for _ in range(50)] + ["forecast"]
    bare_flags, bare_listings, _ = run(names, instrumented=False)
    flags, listings, records = run(names, instrumented=True, registry=registry)
    assert flags == bare_flags == [True] * 50 + [False]
    assert len(listings) - len(bare_listings) == 1
    assert [(r.tool_label, r.outcome) for r in records] == \
        [(semconv.UNKNOWN_TOOL_LABEL, semconv.ERROR_UNKNOWN_TOOL)] * 50 + [("forecast", "ok")]
    assert sample(registry, CALLS, tool="_unknown_", status="error", error_type="unknown_tool") == 50
    assert sample(registry, semconv.TOOL_CALLS_IN_FLIGHT, tool="_unknown_") == 0


def test_a_server_answering_any_name_gets_a_bounded_number_of_labels(registry: CollectorRegistry) -> None:
    """A success proves a name only up to the bound on never-listed names; the rest share `_unknown_`
    (status ok), so 1,000 invented names add at most that many series."""
    rng = random.Random(5)
    names = ["".join(rng.choices(string.ascii_letters, k=12)) for _ in range(1_000)]
    flags, _, records = run(names, instrumented=True, answer_any=True, registry=registry)
    assert flags == [False] * 1_000
    labelled: Callable[[CallRecord], bool] = lambda r: r.tool_label == r.tool  # noqa: E731
    assert [r.tool for r in records if labelled(r)] == names[:_MAX_UNLISTED]
    assert {r.tool_label for r in records if not labelled(r)} == {semconv.UNKNOWN_TOOL_LABEL}
    assert {r.outcome for r in records} == {"ok"}
    assert len(series(registry, CALLS)) == _MAX_UNLISTED + 1
    assert sample(registry, CALLS, tool="_unknown_", status="ok", error_type="") == 1_000 - _MAX_UNLISTED
    assert {s["tool"] for s in series(registry, semconv.TOOL_CALLS_IN_FLIGHT)
            if sample(registry, semconv.TOOL_CALLS_IN_FLIGHT, **s) != 0} == set()
