"""Contract 2: exact metric samples from a fresh registry, and bounded label values."""

from __future__ import annotations

import contextlib
import random
import string
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client, MCPError
from prometheus_client import CollectorRegistry

import servers
from conftest import sample, series
from mcp_comply import __version__, instrument, semconv

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version

CALLS = semconv.TOOL_CALLS_TOTAL
DURATION = semconv.TOOL_DURATION_SECONDS
OPERATION = semconv.SERVER_OPERATION_DURATION_SECONDS


async def _mix(server: Any, mode: str = "auto") -> None:
    async with Client(servers.lowlevel_of(server), mode=mode) as client:
        for i in range(3):
            await client.call_tool("add", {"a": i, "b": 1})
        await client.call_tool("fail", {"reason": "x"})
        await client.call_tool("add", {"a": "x"})
        await client.call_tool("nope", {})
        with contextlib.suppress(MCPError):
            await client.call_tool("crash", {})


def test_exact_tool_samples(framework: str, registry: CollectorRegistry) -> None:
    """Every call lands in exactly one counter series and one histogram series."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    anyio.run(_mix, server)

    assert sample(registry, CALLS, tool="add", status="ok", error_type="") == 3
    assert sample(registry, CALLS, tool="add", status="error", error_type="validation_error") == 1
    assert sample(registry, CALLS, tool="fail", status="error", error_type="tool_error") == 1
    assert sample(registry, CALLS, tool="_unknown_", status="error", error_type="unknown_tool") == 1
    assert sample(registry, CALLS, tool="crash", status="error", error_type="exception") == 1
    assert len(series(registry, CALLS)) == 5

    assert sample(registry, DURATION + "_count", tool="add", status="ok") == 3
    assert sample(registry, DURATION + "_count", tool="add", status="error") == 1
    assert sample(registry, DURATION + "_bucket", tool="add", status="ok", le="+Inf") == 3
    assert 0 < sample(registry, DURATION + "_sum", tool="add", status="ok") < 3.0
    buckets = sorted(float(s["le"]) for s in series(registry, DURATION + "_bucket")
                     if s["tool"] == "add" and s["status"] == "ok")
    assert tuple(buckets[:-1]) == semconv.TOOL_DURATION_BUCKETS

    # in-flight returns to zero for every tool that was called
    for tool in ("add", "fail", "crash", "_unknown_"):
        assert registry.get_sample_value(semconv.TOOL_CALLS_IN_FLIGHT, {"tool": tool}) == 0

    # the semantic-convention histogram: isError results are error.type=tool_error
    assert sample(registry, OPERATION + "_count", mcp_method_name="tools/call", gen_ai_tool_name="add",
                  error_type="", network_transport="") == 3
    assert sample(registry, OPERATION + "_count", mcp_method_name="tools/call", gen_ai_tool_name="fail",
                  error_type="tool_error", network_transport="") == 1
    crash_type = "ZeroDivisionError" if framework == "lowlevel" else "tool_error"
    assert sample(registry, OPERATION + "_count", mcp_method_name="tools/call", gen_ai_tool_name="crash",
                  error_type=crash_type, network_transport="") == 1
    assert sample(registry, OPERATION + "_count", mcp_method_name="server/discover", gen_ai_tool_name="",
                  error_type="", network_transport="") == 1
    buckets = sorted(float(s["le"]) for s in series(registry, OPERATION + "_bucket")
                     if s["gen_ai_tool_name"] == "add" and s["error_type"] == "")
    assert tuple(buckets[:-1]) == semconv.SEMCONV_OPERATION_BUCKETS

    assert sample(registry, semconv.COMPLY_INFO, version=__version__, server_name="calc") == 1
    assert sample(registry, semconv.COMPLY_INTERNAL_ERRORS_TOTAL + "_total") == 0
    assert series(registry, semconv.COMPLY_INTERNAL_ERRORS_TOTAL + "_total") == []
    handle.uninstrument()
    assert series(registry, semconv.COMPLY_INFO) == []


def test_random_tool_names_add_no_series(framework: str, registry: CollectorRegistry) -> None:
    """A hostile client calling 10,000 random tool names adds only the `_unknown_` series."""
    server = servers.BUILDERS[framework]()
    handle = instrument(server, registry=registry)
    rng = random.Random(7)
    names = ["".join(rng.choices(string.ascii_letters, k=12)) for _ in range(10_000)]

    async def go() -> None:
        async with Client(servers.lowlevel_of(server)) as client:
            for name in names:
                await client.call_tool(name, {})

    anyio.run(go)
    assert series(registry, CALLS) == [{"tool": "_unknown_", "status": "error", "error_type": "unknown_tool"}]
    assert sample(registry, CALLS, tool="_unknown_", status="error", error_type="unknown_tool") == 10_000
    tool_labels = {s["gen_ai_tool_name"] for s in series(registry, OPERATION + "_count")}
    assert tool_labels <= {"", "_unknown_"}
    assert {s["tool"] for s in series(registry, semconv.TOOL_CALLS_IN_FLIGHT)} == {"_unknown_"}
    handle.uninstrument()


def test_malformed_names_and_methods_are_bounded(registry: CollectorRegistry) -> None:
    """A hostile client's non-string tool name and non-spec method map to `_unknown_` / `_other_`."""
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry)
    codes: list[int] = []

    async def go() -> None:
        async with Client(server, mode="legacy") as client:
            raw = client.session._dispatcher.send_raw_request  # the raw wire, as a hostile peer would
            for method, params in (("tools/call", {"name": 5}), ("tools/call", {"arguments": {}}),
                                   ("x-vendor/anything", {})):
                try:
                    await raw(method, params)
                except MCPError as exc:
                    codes.append(exc.error.code)

    anyio.run(go)
    assert codes == [-32602, -32602, -32601]
    assert sample(registry, CALLS, tool="_unknown_", status="error", error_type="protocol_error") == 2
    assert sample(registry, OPERATION + "_count", mcp_method_name="_other_", gen_ai_tool_name="",
                  error_type="-32601", network_transport="") == 1
    for labels in series(registry, OPERATION + "_count"):
        assert labels["mcp_method_name"] in semconv.SPEC_METHODS | {"_other_"}
        assert labels["gen_ai_tool_name"] in {"", "_unknown_"}
    handle.uninstrument()


@pytest.mark.skipif(not servers.HAS_FASTMCP, reason="fastmcp not installed")
def test_shared_registry_for_two_servers(registry: CollectorRegistry) -> None:
    """Two servers can share one registry; each adds its own info series."""
    one, two = servers.build_mcpserver(), servers.build_fastmcp()
    h1, h2 = instrument(one, registry=registry), instrument(two, registry=registry)
    anyio.run(_mix, one)
    anyio.run(_mix, two)
    assert sample(registry, CALLS, tool="add", status="ok", error_type="") == 6
    assert sample(registry, semconv.COMPLY_INFO, version=__version__, server_name="calc") == 1
    h1.uninstrument()
    h2.uninstrument()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ok", "tool_error", "exception"]),
                          st.floats(min_value=0.0, max_value=400.0, allow_nan=False)), max_size=60))
def test_collector_matches_prometheus_client_histograms(events: list[tuple[str, float]]) -> None:
    """The lock-free collector exposes exactly what prometheus-client's own Counter and Histogram
    would for the same observations (bucket edges included: a bound is `le`)."""
    from prometheus_client import Counter, Histogram

    from mcp_comply.instrument._metrics import RequestMetrics

    ours, reference_registry = RequestMetrics(), CollectorRegistry()
    ref_calls = Counter("mcp_tool_calls", "", ("tool", "status", "error_type"), registry=reference_registry)
    ref_tool = Histogram("mcp_tool_duration_seconds", "", ("tool", "status"), registry=reference_registry,
                         buckets=semconv.TOOL_DURATION_BUCKETS)
    ref_op = Histogram("mcp_server_operation_duration_seconds", "", ("mcp_method_name", "gen_ai_tool_name",
                       "error_type", "network_transport"), registry=reference_registry,
                       buckets=semconv.SEMCONV_OPERATION_BUCKETS)
    for outcome, duration in events:
        ours.tool_started("t")
        ours.count("tools/call", "t", outcome, None, "ValueError" if outcome == "exception" else None,
                   outcome != "ok", "pipe", duration)
        status = "ok" if outcome == "ok" else "error"
        ref_calls.labels("t", status, "" if outcome == "ok" else outcome).inc()
        ref_tool.labels("t", status).observe(duration)
        ref_op.labels("tools/call", "t", "" if outcome == "ok" else "tool_error", "pipe").observe(duration)

    def samples(families: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
                if not s.name.endswith("_created") and f.name != "mcp_tool_calls_in_flight"}

    got, want = samples(ours.collect()), samples(reference_registry.collect())
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    in_flight = [s.value for f in ours.collect() if f.name == "mcp_tool_calls_in_flight" for s in f.samples]
    assert in_flight == ([0.0] if events else [])
