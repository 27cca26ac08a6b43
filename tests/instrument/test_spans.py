"""Contract 3: one server span per request, enriched to the MCP semantic conventions."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import CollectorRegistry

import servers
from mcp_comply import instrument

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version


def _server_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]


async def _calls(server: Any, mode: str) -> None:
    async with Client(servers.lowlevel_of(server), mode=mode) as client:
        await client.call_tool("add", {"a": 1, "b": 2})
        await client.call_tool("fail", {"reason": "no"})
        await client.call_tool("add", {"a": "x", "b": 1})
        with contextlib.suppress(MCPError):
            await client.call_tool("crash", {})


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_one_enriched_server_span_per_request(framework: str, mode: str, spans: InMemorySpanExporter,
                                              registry: CollectorRegistry) -> None:
    """The framework's span is enriched, never duplicated, and carries the semconv attributes."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    anyio.run(_calls, server, mode)
    tool_spans = [s for s in _server_spans(spans) if s.attributes.get("mcp.method.name") == "tools/call"]
    assert [s.name for s in tool_spans] == ["tools/call add", "tools/call fail", "tools/call add",
                                            "tools/call crash"]
    # no duplicate: exactly one SERVER span per JSON-RPC request id
    ids = [s.attributes["jsonrpc.request.id"] for s in _server_spans(spans)
           if "jsonrpc.request.id" in (s.attributes or {})]
    assert len(ids) == len(set(ids))
    assert {s.instrumentation_scope.name for s in tool_spans} == {
        "fastmcp" if framework == "fastmcp" else "mcp-python-sdk"}

    ok, fail, bad_args, crash = tool_spans
    version = "2026-07-28" if mode == "auto" else "2025-11-25"
    assert ok.status.status_code == StatusCode.UNSET
    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert ok.attributes["gen_ai.tool.name"] == "add"
    assert ok.attributes["mcp.protocol.version"] == version
    assert ok.attributes["mcp_comply.outcome"] == "ok"
    assert "error.type" not in ok.attributes
    assert "network.transport" not in ok.attributes  # in-process: no network
    if framework != "fastmcp":  # fastmcp sets its own per-connection uuid; attributes cannot be removed
        assert "mcp.session.id" not in ok.attributes
    assert ok.attributes["jsonrpc.request.id"].isdigit()

    assert fail.status.status_code == StatusCode.ERROR
    assert fail.attributes["error.type"] == "tool_error"
    assert fail.attributes["mcp_comply.outcome"] == "tool_error"
    assert bad_args.status.status_code == StatusCode.ERROR
    assert bad_args.attributes["mcp_comply.outcome"] == "validation_error"
    assert crash.status.status_code == StatusCode.ERROR
    assert crash.attributes["mcp_comply.outcome"] == "exception"
    if framework != "fastmcp":
        # fastmcp rewrites error.type after we return (its own mapping); the SDK keeps ours.
        assert bad_args.attributes["error.type"] == "tool_error"
    handle.uninstrument()


@pytest.mark.parametrize("client_errors", [True, False])
def test_client_caused_codes_keep_the_framework_status_unless_the_policy_says(
        framework: str, client_errors: bool, spans: InMemorySpanExporter, registry: CollectorRegistry) -> None:
    """-32602 and -32601 keep their code on the span. By default the framework's status is left as
    the framework sets it (the SDK and fastmcp mark them ERROR); with
    ``tracing.client_errors_as_span_errors: false`` they are not ERROR, and never OK."""
    from mcp_comply.config import Policy, TracingPolicy

    server = servers.BUILDERS[framework]()
    policy = Policy(tracing=TracingPolicy(client_errors_as_span_errors=client_errors))
    handle = instrument(server, registry=registry, policy=policy)

    async def go() -> None:
        async with Client(servers.lowlevel_of(server), mode="legacy") as client:
            raw = client.session._dispatcher.send_raw_request
            for method, params in (("tools/call", {"arguments": {}}), ("x-vendor/thing", {})):
                with pytest.raises(MCPError):
                    await raw(method, params)

    anyio.run(go)
    by_method = {s.attributes.get("mcp.method.name"): s for s in _server_spans(spans)}
    bad_params, no_method = by_method["tools/call"], by_method["x-vendor/thing"]
    assert bad_params.attributes["rpc.response.status_code"] == "-32602"
    assert bad_params.attributes["mcp_comply.outcome"] == "protocol_error"
    assert no_method.attributes["rpc.response.status_code"] == "-32601"
    expected = StatusCode.ERROR if client_errors else StatusCode.UNSET
    assert bad_params.status.status_code == expected
    assert no_method.status.status_code == expected
    handle.uninstrument()


def test_server_error_code_is_a_span_error(spans: InMemorySpanExporter, registry: CollectorRegistry) -> None:
    """A server-side JSON-RPC code (-32001 raised by a tool) is an ERROR with its message."""
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)

    async def go() -> None:
        async with Client(server) as client:
            with pytest.raises(MCPError):
                await client.call_tool("reject", {})

    anyio.run(go)
    (span,) = [s for s in _server_spans(spans) if s.name == "tools/call reject"]
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "quota exceeded"
    assert span.attributes["error.type"] == "-32001"
    assert span.attributes["rpc.response.status_code"] == "-32001"
    handle.uninstrument()


def test_parent_from_meta(spans: InMemorySpanExporter, registry: CollectorRegistry) -> None:
    """The client's span (propagated in params._meta) is the server span's parent."""
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)
    tracer = trace.get_tracer("test-client")

    async def go() -> int:
        async with Client(server) as client:
            with tracer.start_as_current_span("agent step") as parent:
                await client.call_tool("add", {"a": 1, "b": 1})
                return parent.get_span_context().trace_id

    trace_id = anyio.run(go)
    (span,) = [s for s in _server_spans(spans) if s.name == "tools/call add"]
    assert span.context.trace_id == trace_id
    assert span.parent is not None
    handle.uninstrument()


def test_own_span_when_framework_has_none(spans: InMemorySpanExporter, registry: CollectorRegistry) -> None:
    """With the SDK's OpenTelemetryMiddleware removed, mcp-comply creates the server span itself,
    on the injected tracer provider, parented from params._meta."""
    from mcp.server._otel import OpenTelemetryMiddleware

    server = servers.build_mcpserver()
    server.middleware[:] = [m for m in server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    own = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(own))
    handle = instrument(server, registry=registry, tracer_provider=provider)
    tracer = trace.get_tracer("test-client")

    async def go() -> int:
        async with Client(server) as client:
            with tracer.start_as_current_span("agent step") as parent:
                await client.call_tool("add", {"a": 1, "b": 1})
                with pytest.raises(MCPError):
                    await client.session._dispatcher.send_raw_request("tools/call", {"arguments": {}})
                return parent.get_span_context().trace_id

    trace_id = anyio.run(go)
    mine = {s.name: s for s in own.get_finished_spans()}
    assert set(mine) == {"server/discover", "tools/call add", "tools/call", "tools/list"}
    add = mine["tools/call add"]
    assert add.kind == SpanKind.SERVER
    assert add.instrumentation_scope.name == "mcp_comply"
    assert add.context.trace_id == trace_id
    assert add.attributes["gen_ai.tool.name"] == "add"
    assert add.attributes["jsonrpc.request.id"].isdigit()
    bad = mine["tools/call"]
    assert bad.status.status_code == StatusCode.ERROR  # as the SDK marks its own span by default
    assert bad.attributes["rpc.response.status_code"] == "-32602"
    assert not [s for s in _server_spans(spans) if s.instrumentation_scope.name == "mcp-python-sdk"]
    handle.uninstrument()


def test_tracing_disabled_by_policy_leaves_spans_alone(spans: InMemorySpanExporter,
                                                        registry: CollectorRegistry) -> None:
    from mcp_comply.config import Policy, TracingPolicy

    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, policy=Policy(tracing=TracingPolicy(enabled=False)))
    anyio.run(_calls, server, "auto")
    (ok, *_rest) = [s for s in _server_spans(spans) if s.name == "tools/call add"]
    assert "mcp_comply.outcome" not in ok.attributes
    assert registry.get_sample_value("mcp_tool_calls_total",
                                     {"tool": "add", "status": "ok", "error_type": ""}) == 1
    handle.uninstrument()


def _span_view(span: ReadableSpan, framework: str) -> tuple[object, ...]:
    attributes = dict(span.attributes or {})
    if framework == "fastmcp":
        attributes.pop("mcp.session.id", None)  # fastmcp's own per-connection uuid
    return span.name, attributes, span.status.status_code, span.status.description, len(span.links)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_enrichment_without_a_sink_equals_the_one_from_a_record(framework: str, mode: str,
                                                                spans: InMemorySpanExporter) -> None:
    """Without a sink the span is enriched from the request's parts (no CallRecord is built); with
    a sink, from the record. Both give every span the same name, attributes, status and links."""
    views: list[list[tuple[object, ...]]] = []
    for with_sink in (False, True):
        spans.clear()
        registry = CollectorRegistry()
        server = servers.BUILDERS[framework]()
        handle = instrument(server, registry=registry, env={})
        records: list[object] = []
        if with_sink:
            handle.add_sink(records.append)
        anyio.run(_calls, server, mode)
        handle.uninstrument()
        assert len(records) == (6 if with_sink else 0)  # 4 tool calls, tools/list, and initialize or discover
        views.append([_span_view(s, framework) for s in _server_spans(spans)])
        assert registry.get_sample_value("mcp_tool_calls_total",
                                         {"tool": "add", "status": "ok", "error_type": ""}) == 1
    without, with_record = views
    assert len(without) >= 4
    assert without == with_record


class _BrokenToken:
    """An access token whose subject cannot be read: the facts reader fails, and says so."""

    @property
    def subject(self) -> str:
        raise RuntimeError("unreadable subject")


def _counts(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram-count sample (durations differ from run to run; counts do not)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect() for s in family.samples
            if not s.name.endswith(("_bucket", "_sum", "_created"))}


@pytest.mark.parametrize("peer", ["in_process", "principal", "stdio", "stdio_principal", "caller_span",
                                  "broken_token", "client_errors_quiet"])
def test_enrichment_inline_emits_what_the_record_path_emits(framework: str, peer: str,
                                                            spans: InMemorySpanExporter) -> None:
    """A framework span of a request without HTTP is enriched inline when no sink takes a record
    (``ComplyMiddleware._enrich_inline``: the peer facts read in place, one ``set_attribute`` for
    a successful call). Against the record path (a sink): the same span names, attributes, status,
    links and metric samples, with a principal, over stdio, under a caller's span, with a token
    the reader cannot read (counted as an internal error on both) and with the policy that keeps
    client-caused codes off the span's status."""
    from mcp.server import stdio as sdk_stdio
    from mcp.server.auth.middleware.auth_context import auth_context_var
    from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
    from mcp.server.auth.provider import AccessToken

    from mcp_comply.config import Policy, TracingPolicy

    if peer == "broken_token" and framework == "fastmcp":
        pytest.skip("fastmcp refuses a token that is not its AccessToken before our middleware runs")
    tracer = trace.get_tracer("test-client")
    claims: dict[int, Any] = vars(sdk_stdio)["_claims"]
    views: list[tuple[list[tuple[object, ...]], dict[Any, float]]] = []
    for with_sink in (False, True):
        spans.clear()
        registry = CollectorRegistry()
        server = servers.BUILDERS[framework]()
        policy = Policy(tracing=TracingPolicy(client_errors_as_span_errors=peer != "client_errors_quiet"))
        handle = instrument(server, registry=registry, env={}, policy=policy)
        records: list[Any] = []
        if with_sink:
            handle.add_sink(records.append)

        async def go(server: Any) -> None:
            async with Client(servers.lowlevel_of(server), mode="legacy") as client:
                raw = client.session._dispatcher.send_raw_request
                with (tracer.start_as_current_span("agent step") if peer == "caller_span"
                      else contextlib.nullcontext()):
                    await client.call_tool("add", {"a": 1, "b": 2})
                    await client.call_tool("fail", {"reason": "no"})
                    await client.call_tool("add", {"a": "x", "b": 1})
                    with contextlib.suppress(MCPError):
                        await client.call_tool("crash", {})
                    await client.list_tools()
                    for method, params in (("tools/call", {"arguments": {}}), ("x-vendor/thing", {})):
                        with pytest.raises(MCPError):
                            await raw(method, params)

        user: Any = None
        if "principal" in peer:
            user = AuthenticatedUser(AccessToken(token="t", client_id="client-7", scopes=[], subject="alice"))
        elif peer == "broken_token":
            user = AuthenticatedUser(AccessToken(token="t", client_id="client-7", scopes=[]))
            object.__setattr__(user, "access_token", _BrokenToken())
        reset = auth_context_var.set(user)
        stdio = peer.startswith("stdio") and 0 not in claims
        if stdio:
            claims[0] = object()  # what the SDK's stdio transport claims while it serves
        try:
            anyio.run(go, server)
        finally:
            if stdio:
                del claims[0]
            auth_context_var.reset(reset)
            handle.uninstrument()
        assert bool(records) == with_sink
        # a status description may quote the request (pydantic's input_value), and with it the
        # traceparent in its _meta
        views.append(([tuple(re.sub("input_value=.*?, input_type", "", v) if isinstance(v, str) else v
                             for v in _span_view(s, framework)) for s in _server_spans(spans)],
                      _counts(registry)))
    (without, counts_without), (with_record, counts_with) = views
    assert [view[0] for view in without if str(view[0]).startswith(("tools/call", "x-"))] == [
        "tools/call add", "tools/call fail", "tools/call add", "tools/call crash", "tools/call", "x-vendor/thing"]
    assert without == with_record
    assert counts_without == counts_with
    tool_calls = {k: v for k, v in counts_without.items() if k[0] == "mcp_tool_calls_total"}
    assert sum(tool_calls.values()) == 5
    ok = next(s for s in without if s[0] == "tools/call add")
    attributes = ok[1]
    assert isinstance(attributes, dict)
    assert attributes["mcp_comply.outcome"] == "ok"
    assert attributes.get("enduser.id") == ("alice" if "principal" in peer else None)
    assert attributes.get("network.transport") == ("pipe" if peer.startswith("stdio") else None)
    internal = sum(v for k, v in counts_without.items() if k[0] == "mcp_comply_internal_errors_total")
    assert (internal > 0) == (peer == "broken_token")


