"""Streamable HTTP, both protocol eras, every framework: transport, peer, session, spans, routes."""

from __future__ import annotations

import importlib
import json
import urllib.request
from typing import Any

import anyio
import pytest
from mcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

import servers
from conftest import sample
from e2e.conftest import serve_http
from mcp_comply import instrument
from mcp_comply.instrument import CallRecord

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version


def _app(framework: str, server: Any) -> Any:
    return server.http_app() if framework == "fastmcp" else server.streamable_http_app()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_http_records_transport_peer_and_session(framework: str, mode: str, registry: CollectorRegistry,
                                                 spans: InMemorySpanExporter) -> None:
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)

    async def go(url: str) -> None:
        async with Client(url, mode=mode) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            await client.call_tool("fail", {"reason": "x"})

    with serve_http(_app(framework, server)) as url:
        anyio.run(go, url)

    # One record per client request: the SDK's synthetic tools/list (2026-07-28 HTTP, low-level
    # Server) that re-uses the tools/call id is not the client's and is not recorded.
    first = "server/discover" if mode == "auto" else "initialize"
    assert [r.method for r in records] == [first, "tools/call", "tools/list", "tools/call"]
    calls = [r for r in records if r.method == "tools/call"]
    assert [(r.tool, r.outcome) for r in calls] == [("add", "ok"), ("fail", "tool_error")]
    for r in calls:
        assert r.transport == "tcp"
        assert r.client_address == "127.0.0.1"
        assert isinstance(r.client_port, int)
        assert r.client_name == "mcp"
    if mode == "legacy":
        assert calls[0].session_id is not None
        assert calls[0].session_id == calls[1].session_id == calls[0].correlation_id
    else:
        assert calls[0].session_id is None
        assert calls[0].correlation_id.startswith("derived:")
        assert calls[0].correlation_id == calls[1].correlation_id
    assert sample(registry, "mcp_server_operation_duration_seconds_count", mcp_method_name="tools/call",
                  error_type="", network_transport="tcp") == 1  # per method (no gen_ai_tool_name by default)

    tool_spans = [s for s in spans.get_finished_spans()
                  if s.kind == SpanKind.SERVER and s.name.startswith("tools/call")]
    assert [s.name for s in tool_spans] == ["tools/call add", "tools/call fail"]
    for span in tool_spans:
        assert span.attributes["network.transport"] == "tcp"
        assert span.attributes["network.protocol.name"] == "http"
        assert span.attributes["client.address"] == "127.0.0.1"
        if mode == "legacy":
            assert span.attributes["mcp.session.id"] == calls[0].session_id
    handle.uninstrument()


@pytest.mark.parametrize("sdk_at_instrument_time", [True, False])
def test_ambient_http_span_becomes_a_link(registry: CollectorRegistry, spans: InMemorySpanExporter,
                                          monkeypatch: pytest.MonkeyPatch, sdk_at_instrument_time: bool) -> None:
    """Parent from params._meta, and the HTTP server span (ambient) as a link.

    When the OTel SDK is configured only after instrument(), the ambient capture is installed at
    the first recorded span: from then on every span gets its link."""
    otel = importlib.import_module("mcp_comply.instrument._otel")  # the adapter asks it at attach time
    monkeypatch.setattr(otel, "sdk_configured", lambda: sdk_at_instrument_time)
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)
    from mcp_comply.instrument._sdk import AmbientCapture

    assert any(isinstance(m, AmbientCapture) for m in server.middleware) is sdk_at_instrument_time
    app = server.streamable_http_app()
    tracer = trace.get_tracer("asgi-test")
    http_span_ids: list[int] = []

    async def with_http_span(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        with tracer.start_as_current_span("POST /mcp", kind=SpanKind.SERVER) as span:
            http_span_ids.append(span.get_span_context().span_id)
            await app(scope, receive, send)

    async def go(url: str) -> int:
        async with Client(url) as client:
            with tracer.start_as_current_span("agent step") as parent:
                await client.call_tool("add", {"a": 1, "b": 2})
                return parent.get_span_context().trace_id

    with serve_http(with_http_span) as url:
        trace_id = anyio.run(go, url)
    assert any(isinstance(m, AmbientCapture) for m in server.middleware)
    (span,) = [s for s in spans.get_finished_spans() if s.name == "tools/call add"]
    assert span.context.trace_id == trace_id  # parented from _meta, not from the HTTP span
    assert len(span.links) == 1
    assert span.links[0].context.span_id in http_span_ids
    handle.uninstrument()


def test_routes_mount_on_the_servers_own_app(registry: CollectorRegistry) -> None:
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)
    app = server.streamable_http_app()
    app.routes.extend(handle.routes())

    async def go(url: str) -> None:
        async with Client(url) as client:
            await client.call_tool("add", {"a": 1, "b": 2})

    with serve_http(app) as url:
        anyio.run(go, url)
        base = url.removesuffix("/mcp")
        with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
            body = resp.read().decode()
        with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
            ready = json.loads(resp.read())
        with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
            health = json.loads(resp.read())
    assert 'mcp_tool_calls_total{error_type="",status="ok",tool="add"} 1.0' in body
    assert ready["status"] == "ready"
    assert health == {"status": "ok"}
    handle.uninstrument()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_authenticated_principal_is_recorded(mode: str, registry: CollectorRegistry,
                                            spans: InMemorySpanExporter) -> None:
    """With the SDK's bearer-token auth, the token's subject is the record's principal and the
    span's enduser.id."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    server = _secured_server()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)

    async def go(url: str) -> None:
        async with (httpx2.AsyncClient(headers={"Authorization": "Bearer good-token"}) as http,
                    Client(streamable_http_client(url, http_client=http), mode=mode) as client):
            await client.call_tool("whoami", {})

    with serve_http(server.streamable_http_app()) as url:
        anyio.run(go, url)
    (call,) = [r for r in records if r.method == "tools/call"]
    assert call.principal == "alice"
    (span,) = [s for s in spans.get_finished_spans() if s.name == "tools/call whoami"]
    assert span.attributes["enduser.id"] == "alice"
    handle.uninstrument()


def _secured_server() -> Any:
    """An MCPServer that verifies bearer tokens: ``good-token`` authenticates ``alice``."""
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            if token != "good-token":
                return None
            return AccessToken(token=token, client_id="agent-7", scopes=["tools"], subject="alice")

    server = MCPServer("secured", token_verifier=Verifier(),
                       auth=AuthSettings(issuer_url="http://127.0.0.1:9/",  # type: ignore[arg-type]
                                         resource_server_url="http://127.0.0.1:9/mcp",  # type: ignore[arg-type]
                                         validate_token_resource=False))  # the verifier above checks the token

    @server.tool()
    def whoami() -> str:
        return "ok"

    @server.tool()
    def refuse() -> str:
        raise ValueError("no")

    return server


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_span_from_the_requests_parts_equals_the_span_from_a_record(mode: str, spans: InMemorySpanExporter) -> None:
    """Over HTTP with a principal: without a sink the span is enriched from the request's parts
    (no CallRecord), with one from the record; transport, protocol, peer, session, principal,
    outcome and error attributes come out the same."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    views = []
    for with_sink in (False, True):
        spans.clear()
        server = _secured_server()
        handle = instrument(server, registry=CollectorRegistry(), env={})
        if with_sink:
            handle.add_sink(lambda _record: None)

        async def go(url: str) -> None:
            async with (httpx2.AsyncClient(headers={"Authorization": "Bearer good-token"}) as http,
                        Client(streamable_http_client(url, http_client=http), mode=mode) as client):
                await client.call_tool("whoami", {})
                await client.call_tool("refuse", {})

        with serve_http(server.streamable_http_app()) as url:
            anyio.run(go, url)
        handle.uninstrument()
        view = []
        for span in spans.get_finished_spans():
            if span.kind != SpanKind.SERVER or not span.name.startswith("tools/call"):
                continue
            attributes = dict(span.attributes or {})
            assert isinstance(attributes.pop("client.port"), int)  # a new connection, a new port
            if mode == "legacy":
                assert attributes.pop("mcp.session.id")  # a new session, a new id
            view.append((span.name, attributes, span.status.status_code))
        views.append(view)
    without, with_record = views
    assert [name for name, _, _ in without] == ["tools/call whoami", "tools/call refuse"]
    assert without[0][1]["enduser.id"] == "alice"
    assert without[0][1]["network.transport"] == "tcp"
    assert without[0][1]["client.address"] == "127.0.0.1"
    assert without[1][1]["mcp_comply.outcome"] == "exception"
    assert without == with_record


def _stateless_app(framework: str, server: Any) -> Any:
    return server.http_app(stateless_http=True) if framework == "fastmcp" else \
        server.streamable_http_app(stateless_http=True)


def test_a_session_id_nothing_checked_is_not_recorded(framework: str, registry: CollectorRegistry,
                                                      spans: InMemorySpanExporter) -> None:
    """Stateless streamable HTTP checks no ``mcp-session-id`` header: a client that names another
    session (5 KB of it) is not recorded under it; its call is correlated by who calls, as any
    stateless call, and no span of the SDK's carries the claim."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)
    forged = "victim-" + "v" * 5000
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}
    with serve_http(_stateless_app(framework, server)) as url:
        request = urllib.request.Request(url, data=json.dumps(call).encode(), method="POST", headers={
            "accept": "application/json, text/event-stream", "content-type": "application/json",
            "mcp-protocol-version": "2025-11-25", "mcp-session-id": forged})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert (resp.status, b'"text":"3"' in resp.read().replace(b" ", b"")) == (200, True)
    handle.uninstrument()
    (record,) = [r for r in records if r.method == "tools/call"]
    assert (record.outcome, record.session_id) == ("ok", None)
    assert record.correlation_id is not None
    assert record.correlation_id.startswith("derived:")
    # fastmcp puts the header on its own span itself (fastmcp.server.telemetry); mcp-comply adds none
    assert not any(forged in str(v) for s in spans.get_finished_spans() if s.instrumentation_scope.name != "fastmcp"
                   for v in (s.attributes or {}).values())


def test_a_request_id_is_recorded_and_traced_at_most_256_characters(framework: str, registry: CollectorRegistry,
                                                                    spans: InMemorySpanExporter) -> None:
    """A client chooses the JSON-RPC id: a 20,000-character one went whole into the record (a 21 KB
    audit line) and onto the span mcp-comply enriches. Both now carry its first 256 characters, like
    every other name a client chooses; the answer still carries the client's own id."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)
    long_id = "i" * 20_000
    call = {"jsonrpc": "2.0", "id": long_id, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}
    with serve_http(_stateless_app(framework, server)) as url:
        request = urllib.request.Request(url, data=json.dumps(call).encode(), method="POST", headers={
            "accept": "application/json, text/event-stream", "content-type": "application/json",
            "mcp-protocol-version": "2025-11-25"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert (resp.status, long_id.encode() in resp.read()) == (200, True)
    handle.uninstrument()
    (record,) = [r for r in records if r.method == "tools/call"]
    assert (record.outcome, record.request_id) == ("ok", "i" * 256)
    # mcp 2.x's own span sets the attribute itself, whole (the SDK's, left as it is); where
    # mcp-comply sets it (fastmcp's span, or a span of its own), it is the first 256 characters
    ours = [s.attributes["jsonrpc.request.id"] for s in spans.get_finished_spans()
            if "jsonrpc.request.id" in (s.attributes or {})
            and (s.instrumentation_scope is None or s.instrumentation_scope.name != "mcp-python-sdk")]
    assert ours == (["i" * 256] if framework == "fastmcp" else [])


@pytest.mark.parametrize("framework", ["mcpserver", "fastmcp"])
def test_sse_sessions_of_one_client_are_told_apart(framework: str, registry: CollectorRegistry) -> None:
    """SSE (MCPServer and fastmcp): two streams from one host with the same client name and version
    are two correlations (one per stream), each call recorded once under its own."""
    from mcp.client.sse import sse_client
    from mcp_types import Implementation

    if framework not in servers.FRAMEWORKS:
        pytest.skip(f"{framework} is not installed here")
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    records: list[CallRecord] = []
    handle.add_sink(records.append)
    with serve_http(servers.http_app(framework, server, "sse")) as mcp_url:
        url = mcp_url.removesuffix("/mcp") + "/sse"

        async def go(a: int) -> None:
            twin = Implementation(name="twin", version="1")
            async with Client(sse_client(url), mode="legacy", client_info=twin) as c:
                for b in (1, 2):
                    assert (await c.call_tool("add", {"a": a, "b": b})).is_error is False

        anyio.run(go, 10)
        anyio.run(go, 20)
    handle.uninstrument()
    calls = [r for r in records if r.method == "tools/call"]
    assert sorted((r.arguments or {})["a"] + (r.arguments or {})["b"] for r in calls) == [11, 12, 21, 22]
    streams = {a: {r.correlation_id for r in calls if (r.arguments or {})["a"] == a} for a in (10, 20)}
    assert [len(streams[10]), len(streams[20])] == [1, 1]
    assert streams[10] != streams[20]
    assert all(c is not None and c.startswith("conn:") for c in streams[10] | streams[20])
    assert {(r.session_id, r.transport, r.client_name) for r in calls} == {(None, "tcp", "twin")}
