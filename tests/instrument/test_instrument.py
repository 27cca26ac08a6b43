"""Contract 1: the one line is idempotent, undoable, lazy, and refuses what it cannot handle."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from prometheus_client import CollectorRegistry

import servers
from conftest import sample
from mcp_comply import ConfigError, InstrumentationError, instrument
from mcp_comply.instrument import CallRecord

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version


def _snapshot(server: Any) -> tuple[list[Any], list[Any], dict[str, Any]]:
    low = servers.lowlevel_of(server)
    fast = list(server.middleware) if hasattr(server, "add_middleware") else []
    return list(low.middleware), fast, dict(vars(server))


def test_instrument_is_idempotent(framework: str, registry: CollectorRegistry) -> None:
    server = servers.BUILDERS[framework]()
    first = instrument(server, registry=registry)
    low = servers.lowlevel_of(server)
    count = len(low.middleware)
    assert instrument(server, registry=registry) is first
    assert len(low.middleware) == count
    first.uninstrument()


def test_uninstrument_restores_the_server_exactly(framework: str, registry: CollectorRegistry) -> None:
    """Middleware lists (same objects, same order) and instance attributes are as before."""
    server = servers.BUILDERS[framework]()
    before = _snapshot(server)
    handle = instrument(server, registry=registry)
    assert _snapshot(server) != before
    handle.uninstrument()
    low_after, fast_after, attrs_after = _snapshot(server)
    assert [id(m) for m in low_after] == [id(m) for m in before[0]]
    assert [id(m) for m in fast_after] == [id(m) for m in before[1]]
    assert attrs_after.keys() == before[2].keys()
    assert all(attrs_after[k] is before[2][k] for k in attrs_after)

    async def go() -> None:
        async with Client(servers.lowlevel_of(server)) as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).is_error is False

    anyio.run(go)  # the server still works and nothing is counted any more
    assert sample(registry, "mcp_tool_calls_total", tool="add", status="ok", error_type="") == 0
    # and it can be instrumented again
    again = instrument(server, registry=registry)
    assert again is not handle
    again.uninstrument()


def test_unsupported_objects_are_refused() -> None:
    with pytest.raises(InstrumentationError, match=r"expected mcp\.server\.mcpserver\.MCPServer"):
        instrument(object())


def test_bad_port_from_environment_names_the_variable(registry: CollectorRegistry) -> None:
    with pytest.raises(ConfigError) as info:
        instrument(servers.build_mcpserver(), registry=registry, env={"MCP_COMPLY_METRICS_PORT": "http"})
    assert info.value.source == "$MCP_COMPLY_METRICS_PORT"
    assert "not a port number" in info.value.reason


def test_port_in_use_is_a_clear_error(registry: CollectorRegistry) -> None:
    server = servers.build_mcpserver()
    first = instrument(server, registry=registry, metrics_port=0)
    assert first.metrics_url is not None
    port = int(first.metrics_url.rsplit(":", 1)[1].split("/")[0])
    other = servers.build_mcpserver()
    before = [id(m) for m in other.middleware]
    with pytest.raises(InstrumentationError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
        instrument(other, registry=CollectorRegistry(), metrics_port=port)
    assert [id(m) for m in other.middleware] == before  # nothing left behind
    first.uninstrument()


def test_import_is_lazy() -> None:
    """`import mcp_comply` imports no MCP framework."""
    code = ("import sys, mcp_comply; "
            "print(sorted(m for m in ('mcp', 'fastmcp', 'starlette', 'uvicorn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_failing_sink_never_breaks_the_call(registry: CollectorRegistry) -> None:
    """Our own failures are counted and logged; the client gets its result."""
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)

    def broken(_record: CallRecord) -> None:
        raise RuntimeError("sink down")

    handle.add_sink(broken)

    async def go() -> str:
        async with Client(server) as client:
            result = await client.call_tool("add", {"a": 20, "b": 22})
            return str(result.content[0].text)  # type: ignore[union-attr]

    assert anyio.run(go) == "42"
    assert sample(registry, "mcp_comply_internal_errors_total", component="sink") == 3  # discover, call, tools/list
    handle.uninstrument()


def test_endpoints_serve_metrics_health_and_readiness(registry: CollectorRegistry) -> None:
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, metrics_port=0)
    assert handle.metrics_url is not None
    base = handle.metrics_url.removesuffix("/metrics")
    anyio.run(_one_call, server)
    with urllib.request.urlopen(handle.metrics_url, timeout=5) as resp:
        body = resp.read().decode()
        assert resp.headers["Content-Type"].startswith("text/plain")
    assert 'mcp_tool_calls_total{error_type="",status="ok",tool="add"} 1.0' in body
    with urllib.request.urlopen(base + "/healthz", timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}
    with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ready"
    handle.health.checks["audit"] = lambda: (False, "queue saturated")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + "/readyz", timeout=5)
    assert info.value.code == 503
    assert json.loads(info.value.read())["checks"]["audit"] == {"ok": False, "detail": "queue saturated"}
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(base + "/nope", timeout=5)
    assert missing.value.code == 404
    handle.uninstrument()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/healthz", timeout=2)


async def _one_call(server: Any) -> None:
    async with Client(servers.lowlevel_of(server)) as client:
        await client.call_tool("add", {"a": 1, "b": 1})


def test_logs_are_json_on_stderr_never_stdout(capsys: pytest.CaptureFixture[str],
                                              registry: CollectorRegistry) -> None:
    handle = instrument(servers.build_mcpserver(), registry=registry)
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = [json.loads(x) for x in err.splitlines() if "mcp_comply_instrumented" in x]
    assert line["server"] == "calc"
    assert line["framework"] == "mcp.MCPServer"
    assert line["logger_name"] == "mcp_comply"
    assert line["level"] == "info"
    handle.uninstrument()


def test_logs_carry_trace_ids(capsys: pytest.CaptureFixture[str]) -> None:
    from opentelemetry import trace

    from mcp_comply._log import get_logger

    with trace.get_tracer("t").start_as_current_span("s") as span:
        get_logger().warning("inside")
    (line,) = [json.loads(x) for x in capsys.readouterr().err.splitlines() if '"inside"' in x]
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_unsupported_framework_versions_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside the tested mcp range, instrument() refuses rather than guesses."""
    import importlib

    frameworks = importlib.import_module("mcp_comply.instrument._frameworks")
    monkeypatch.setattr(frameworks, "version", lambda dist: {"mcp": "2.2.9", "fastmcp": "4.2.3"}[dist])
    with pytest.raises(InstrumentationError, match=r"mcp 2\.2 is not supported"):
        instrument(servers.build_mcpserver())
    monkeypatch.setattr(frameworks, "version", lambda dist: {"mcp": "1.19.0", "fastmcp": "2.13.0"}[dist])
    with pytest.raises(InstrumentationError, match=r"mcp 1\.19 is not supported: mcp-comply supports mcp >= 1\.20"):
        instrument(servers.build_mcpserver())
    if not servers.HAS_FASTMCP:
        return
    monkeypatch.setattr(frameworks, "version", lambda dist: {"mcp": "2.3.0", "fastmcp": "5.0.0"}[dist])
    with pytest.raises(InstrumentationError, match=r"fastmcp 5\.0 is not supported"):
        instrument(servers.build_fastmcp())


def test_changed_middleware_signature_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provisional-API change (the middleware call shape) is detected, not run into."""
    from mcp.server import context as sdk_context

    class OldShape:
        async def __call__(self, ctx: Any, method: str, params: Any, call_next: Any) -> Any: ...

    monkeypatch.setattr(sdk_context, "ServerMiddleware", OldShape)
    with pytest.raises(InstrumentationError, match="middleware API changed"):
        instrument(servers.build_mcpserver())


def test_a_link_to_nothing_named_like_a_segment_is_named_by_instrument(tmp_path: Path) -> None:
    """A link to nothing named like a segment in the audit log a restarting server continues: instrument()
    said 'cannot open the audit log in DIR: No such file or directory' (InstrumentationError), naming
    neither the file nor what it is. Now the writer's refusal names both (and the server is left as it was)."""
    from mcp_comply.audit.writer import AuditError

    server = servers.build_mcpserver()
    handle = instrument(server, registry=CollectorRegistry(), audit_dir=tmp_path)
    handle.close()
    link = tmp_path / "chain-0" / "segment-000099.jsonl"
    link.symlink_to(tmp_path / "nothing")
    again = servers.build_mcpserver()
    before = [id(m) for m in again.middleware]
    with pytest.raises(AuditError) as raised:
        instrument(again, registry=CollectorRegistry(), audit_dir=tmp_path)
    assert str(raised.value) == (f"audit log damaged: {link} is a link to nothing, not a segment the writer wrote: "
                                 f"run `mcp-comply audit verify {tmp_path}`; the writer will not continue this chain")
    assert [id(m) for m in again.middleware] == before


def test_an_unusable_audit_directory_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the audit directory should be")
    server = servers.build_mcpserver()
    before = [id(m) for m in server.middleware]
    with pytest.raises(InstrumentationError, match="cannot open the audit log in"):
        instrument(server, registry=CollectorRegistry(), audit_dir=blocker / "audit")
    assert [id(m) for m in server.middleware] == before
    assert "call_tool" not in vars(server)
