"""mcp 1.x (the SDK's FastMCP and low-level Server) and fastmcp 2.x/3.x: the same one line gives the
same outcomes, per-tool metrics, semconv server spans and a verifying audit log as on mcp 2.x.

Driven by the installed SDK's real ``ClientSession`` over the in-memory transport; the transports
(stdio, SSE, streamable HTTP) are in ``tests/e2e/test_v1_transports.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

import servers
from conftest import sample
from mcp_comply import instrument
from mcp_comply.instrument import CallRecord

pytestmark = pytest.mark.adapter

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("add", {"a": 2, "b": 3}), ("fail", {"reason": "no"}), ("add", {"a": "x", "b": 3}),
    ("nope", {}), ("crash", {}), ("reject", {}),
]
EXPECTED = [
    ("add", "add", "ok", None),
    ("fail", "fail", "tool_error", None),
    ("add", "add", "validation_error", None),
    ("nope", "_unknown_", "unknown_tool", None),
    ("crash", "crash", "exception", "ZeroDivisionError"),
    # mcp 1.x (and fastmcp on it) turn an McpError raised inside a tool into an isError result
    ("reject", "reject", "exception", "mcp.shared.exceptions.McpError"),
]
FRAMEWORK_LABEL = {"sdkfastmcp": "mcp.FastMCP", "lowlevel": "mcp.Server", "fastmcp": "fastmcp.FastMCP"}


async def _drive(server: Any, calls: list[tuple[str, dict[str, Any]]] = CALLS) -> list[str]:
    from mcp.shared.exceptions import McpError
    from mcp.shared.memory import create_connected_server_and_client_session

    seen = []
    async with create_connected_server_and_client_session(servers.lowlevel_of(server)) as session:
        for name, args in calls:
            try:
                result = await session.call_tool(name, args)
            except McpError as exc:
                seen.append(str(exc.error.code))
            else:
                seen.append("isError" if result.isError else "ok")
    return seen


def _recorded(framework: str, registry: CollectorRegistry) -> tuple[Any, Any, list[CallRecord]]:
    """A fresh server of ``framework``, instrumented, and the list its records are appended to."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)
    return server, handle, records


def _server_spans(exporter: InMemorySpanExporter, method: str = "tools/call") -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans()
            if s.kind == SpanKind.SERVER and (s.attributes or {}).get("mcp.method.name") == method]


def test_outcomes_and_exact_per_tool_metrics(framework: str, registry: CollectorRegistry) -> None:
    """ok, tool_error, validation_error, unknown_tool and exception mean the same as on mcp 2.x;
    every tools/call is counted once under its tool and outcome."""
    server, handle, records = _recorded(framework, registry)
    assert anyio.run(_drive, server) == ["ok"] + ["isError"] * 5
    calls = [r for r in records if r.method == "tools/call"]
    assert [(r.tool, r.tool_label, r.outcome, r.exception_type) for r in calls] == EXPECTED
    assert {r.framework for r in records} == {FRAMEWORK_LABEL[framework]}
    assert all(r.error_result for r in calls[1:])
    assert all(r.transport is None for r in calls)  # in process: no network transport
    from mcp.types import LATEST_PROTOCOL_VERSION

    assert {r.protocol_version for r in calls} == {LATEST_PROTOCOL_VERSION}  # 2025-11-25 on 1.30
    assert {r.client_name for r in calls} == {"mcp"}  # the SDK client's claimed clientInfo
    assert len({r.correlation_id for r in calls}) == 1
    assert calls[0].correlation_id.startswith("conn:")
    assert [r.request_id for r in calls] == sorted({r.request_id for r in calls}, key=int)

    def count(tool: str, status: str, error_type: str) -> float:
        return sample(registry, "mcp_tool_calls_total", tool=tool, status=status, error_type=error_type)

    assert count("add", "ok", "") == 1
    assert count("fail", "error", "tool_error") == 1
    assert count("add", "error", "validation_error") == 1
    assert count("_unknown_", "error", "unknown_tool") == 1
    assert count("crash", "error", "exception") == 1
    assert count("reject", "error", "exception") == 1
    assert sample(registry, "mcp_tool_duration_seconds_count", tool="add", status="ok") == 1
    assert sample(registry, "mcp_server_operation_duration_seconds_count", mcp_method_name="tools/call",
                  error_type="", network_transport="") == 1  # per method by default
    assert sample(registry, "mcp_tool_calls_in_flight", tool="add") == 0
    handle.uninstrument()


def test_one_semconv_server_span_per_request(framework: str, spans: InMemorySpanExporter,
                                             registry: CollectorRegistry) -> None:
    """mcp 1.x and fastmcp 2.x open no span: mcp-comply opens the SERVER span. fastmcp 3.x opens
    its own, which is enriched instead (never two SERVER spans for one request)."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    anyio.run(_drive, server)
    native = framework == "fastmcp" and servers.FASTMCP_MAJOR == 3
    tool_spans = [s for s in _server_spans(spans) if "mcp_comply.outcome" in (s.attributes or {})]
    assert [s.name for s in tool_spans] == ["tools/call add", "tools/call fail", "tools/call add",
                                            "tools/call nope", "tools/call crash", "tools/call reject"]
    assert {s.instrumentation_scope.name for s in tool_spans} == {"fastmcp" if native else "mcp_comply"}
    if not native:  # every tools/call SERVER span is ours: no duplicates
        assert len(_server_spans(spans)) == 6
    ok, fail, bad_args, unknown, crash, reject = tool_spans
    assert [s.attributes["mcp_comply.outcome"] for s in tool_spans] == [
        "ok", "tool_error", "validation_error", "unknown_tool", "exception", "exception"]
    assert ok.status.status_code == StatusCode.UNSET
    assert ok.attributes["gen_ai.tool.name"] == "add"
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    from mcp.types import LATEST_PROTOCOL_VERSION

    assert ok.attributes["mcp.protocol.version"] == LATEST_PROTOCOL_VERSION
    assert ok.attributes["jsonrpc.request.id"].isdigit()
    assert "error.type" not in ok.attributes
    for failed in (fail, bad_args, unknown, crash, reject):
        assert failed.status.status_code == StatusCode.ERROR
    if not native:
        # on our span error.type is the semconv value: the failure reached the client as isError
        assert {s.attributes["error.type"] for s in (fail, bad_args, unknown, crash, reject)} == {"tool_error"}
    handle.uninstrument()


def test_parent_comes_from_meta(framework: str, spans: InMemorySpanExporter, registry: CollectorRegistry) -> None:
    """A traceparent in params._meta makes the server span a child of the caller's span."""
    from mcp import types
    from mcp.shared.memory import create_connected_server_and_client_session

    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"

    async def go() -> None:
        async with create_connected_server_and_client_session(servers.lowlevel_of(server)) as session:
            request = types.ClientRequest(types.CallToolRequest(
                method="tools/call",
                params=types.CallToolRequestParams(name="add", arguments={"a": 1, "b": 1},
                                                   _meta={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})))
            await session.send_request(request, types.CallToolResult)

    anyio.run(go)
    (span,) = [s for s in _server_spans(spans) if s.name == "tools/call add"]
    assert format(span.context.trace_id, "032x") == trace_id
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "00f067aa0ba902b7"
    handle.uninstrument()


def test_cancelled_call_is_recorded_as_cancelled(framework: str, registry: CollectorRegistry) -> None:
    server, handle, records = _recorded(framework, registry)

    async def go() -> None:
        from datetime import timedelta

        from mcp.shared.exceptions import McpError
        from mcp.shared.memory import create_connected_server_and_client_session

        async with create_connected_server_and_client_session(servers.lowlevel_of(server)) as session:
            with pytest.raises(McpError):
                await session.call_tool("slow", {"seconds": 5}, read_timeout_seconds=timedelta(seconds=0.2))
            await anyio.sleep(0.3)

    anyio.run(go)
    assert [r.outcome for r in records if r.tool == "slow"] == ["cancelled"]
    assert sample(registry, "mcp_tool_calls_in_flight", tool="slow") == 0
    handle.uninstrument()


def test_unknown_method_is_recorded_as_method_not_found(framework: str, registry: CollectorRegistry) -> None:
    """A request type the server has no handler for (here completion/complete) is -32601, recorded."""
    from mcp import types
    from mcp.shared.exceptions import McpError
    from mcp.shared.memory import create_connected_server_and_client_session

    server, handle, records = _recorded(framework, registry)
    low = servers.lowlevel_of(server)
    low.request_handlers.pop(types.CompleteRequest, None)

    async def go() -> int:
        async with create_connected_server_and_client_session(low) as session:
            try:
                await session.complete(types.PromptReference(type="ref/prompt", name="p"),
                                       {"name": "a", "value": "b"})
            except McpError as exc:
                return exc.error.code
        return 0

    assert anyio.run(go) == -32601
    (record,) = [r for r in records if r.method == "completion/complete"]
    assert (record.outcome, record.error_code) == ("protocol_error", -32601)
    handle.uninstrument()


def test_requests_the_session_answers_itself_are_recorded(framework: str, spans: InMemorySpanExporter,
                                                           registry: CollectorRegistry) -> None:
    """mcp 1.x's session answers ``initialize`` and requests its own model refuses (-32602) without
    routing them to the server: they are recorded all the same, on the same connection, as on 2.x."""
    from mcp import types
    from mcp.shared.exceptions import McpError
    from mcp.shared.memory import create_connected_server_and_client_session
    from pydantic import BaseModel

    class NamelessCall(BaseModel):  # what a hostile peer sends: tools/call without a name
        method: str = "tools/call"
        params: dict[str, Any] = {"arguments": {"a": 1}}

    server, handle, records = _recorded(framework, registry)

    async def go() -> int:
        async with create_connected_server_and_client_session(servers.lowlevel_of(server)) as session:
            await session.call_tool("add", {"a": 1, "b": 2})
            try:
                await session.send_request(NamelessCall(), types.CallToolResult)  # type: ignore[arg-type]
            except McpError as exc:
                return exc.error.code
        return 0

    assert anyio.run(go) == -32602
    records = [r for r in records if r.method != "tools/list"]  # the client lists to validate output
    assert [(r.method, r.tool_label, r.outcome, r.error_code) for r in records] == [
        ("initialize", "", "ok", None), ("tools/call", "add", "ok", None),
        ("tools/call", "_unknown_", "protocol_error", -32602)]
    initialize, call, refused = records
    from mcp.types import LATEST_PROTOCOL_VERSION

    assert (initialize.client_name, initialize.protocol_version) == ("mcp", LATEST_PROTOCOL_VERSION)
    assert initialize.correlation_id == call.correlation_id == refused.correlation_id
    assert initialize.correlation_id.startswith("conn:")
    assert refused.tool is None
    assert sample(registry, "mcp_tool_calls_total", tool="_unknown_", status="error", error_type="protocol_error") == 1
    assert sample(registry, "mcp_server_operation_duration_seconds_count", mcp_method_name="initialize",
                  error_type="", network_transport="") == 1
    if not (framework == "fastmcp" and servers.FASTMCP_MAJOR == 3):
        (span,) = _server_spans(spans, "initialize")
        assert (span.name, span.attributes["mcp.protocol.version"]) == ("initialize", LATEST_PROTOCOL_VERSION)
    handle.uninstrument()


def test_audit_log_verifies(framework: str, registry: CollectorRegistry, tmp_path: Path) -> None:
    """The audit log of a 1.x-based server is a signed chain that the verifier accepts, one
    record per request with the classified outcome."""
    import json

    from mcp_comply.audit.keys import keygen, load_verifier
    from mcp_comply.audit.verify import verify_directory
    from mcp_comply.config import AuditPolicy, Policy

    _, public = keygen(tmp_path / "keys", "test-key")
    policy = Policy(audit=AuditPolicy(signing_key=str(tmp_path / "keys" / "audit-signing.key")))
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry, audit_dir=tmp_path / "audit", policy=policy)
    anyio.run(_drive, server)
    handle.close()
    report = verify_directory(tmp_path / "audit", verifiers=[load_verifier(public)])
    assert report.intact, report
    assert report.chains[0].checkpoints_verified >= 1
    lines = [json.loads(line) for seg in sorted((tmp_path / "audit").rglob("*.jsonl"))
             for line in seg.read_text().splitlines()]
    calls = [r for r in lines if r.get("kind") == "call" and r.get("method") == "tools/call"]
    assert [(r["tool"], r["outcome"]) for r in calls] == [(t, o) for t, _label, o, _exc in EXPECTED]
    assert {r["framework"] for r in calls} == {FRAMEWORK_LABEL[framework]}
    assert all(r["trace_id"] and len(r["trace_id"]) == 32 for r in calls)
    assert calls[0]["args"] == {"a": 2, "b": 3}
    assert calls[0]["result_digest"].startswith("hmac-sha256:")
    handle.uninstrument()


def test_uninstrument_restores_the_server(framework: str, registry: CollectorRegistry) -> None:
    server = servers.BUILDERS[framework]()
    low = servers.lowlevel_of(server)
    before = dict(low.request_handlers)
    handle = instrument(server, registry=registry)
    assert instrument(server, registry=registry) is handle
    assert {"_handle_request", "run"} <= set(vars(low))
    handle.uninstrument()
    assert dict(low.request_handlers) == before
    assert not {"_handle_request", "run", "_make_error_result"} & set(vars(low))
    anyio.run(_drive, server)
    assert sample(registry, "mcp_tool_calls_total", tool="add", status="ok", error_type="") == 0


@pytest.mark.skipif(servers.MCP_MAJOR != 1, reason="mcp 1.x low-level decorators")
def test_lowlevel_handlers_registered_after_instrument_are_recorded(registry: CollectorRegistry) -> None:
    """instrument() may come before the @server.call_tool() decorators: a handler registered later
    is wrapped the first time a request reaches it."""
    from mcp import types
    from mcp.server.lowlevel import Server

    server: Any = Server("late")
    handle = instrument(server, registry=registry)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [types.Tool(name="add", inputSchema=servers.ADD_SCHEMA)]

    @server.call_tool()
    async def call_tool(name: str, args: dict[str, Any]) -> Any:
        return [types.TextContent(type="text", text=str(args["a"] + args["b"]))]

    assert anyio.run(_drive, server, [("add", {"a": 1, "b": 2}), ("add", {"a": 1})]) == ["ok", "isError"]
    assert sample(registry, "mcp_tool_calls_total", tool="add", status="ok", error_type="") == 1
    assert sample(registry, "mcp_tool_calls_total", tool="add", status="error", error_type="validation_error") == 1
    handle.uninstrument()


@pytest.mark.parametrize("instrumented", [False, True], ids=["bare", "instrumented"])
def test_a_handlers_warning_keeps_its_module(instrumented: bool, registry: CollectorRegistry) -> None:
    """A handler's ``warnings.warn(..., stacklevel=2)`` names the module that called it; filters by
    module (the SDK suite ignores its own deprecation this way) must match as they do bare."""
    import warnings

    from mcp import types
    from mcp.shared.memory import create_connected_server_and_client_session

    server = servers.BUILDERS["lowlevel"]()
    low = servers.lowlevel_of(server)

    async def read(req: Any) -> Any:
        warnings.warn("old style", DeprecationWarning, stacklevel=2)
        return types.ServerResult(types.ReadResourceResult(contents=[
            types.TextResourceContents(uri=req.params.uri, text="body", mimeType="text/plain")]))

    low.request_handlers[types.ReadResourceRequest] = read
    handle = instrument(server, registry=registry) if instrumented else None

    async def go() -> str:
        async with create_connected_server_and_client_session(low, raise_exceptions=True) as session:
            result = await session.read_resource(types.AnyUrl("memo://a"))  # type: ignore[attr-defined]
            return str(result.contents[0].text)  # type: ignore[union-attr]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", "old style", DeprecationWarning, "mcp.server.lowlevel")
        assert anyio.run(go) == "body"
    if handle is not None:
        assert sample(registry, "mcp_server_operation_duration_seconds_count", mcp_method_name="resources/read",
                      error_type="", network_transport="") == 1
        handle.uninstrument()
