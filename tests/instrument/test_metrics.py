"""Contract 2: exact metric samples from a fresh registry, and bounded label values."""

from __future__ import annotations

import contextlib
import random
import re
import string
from importlib.metadata import version
from typing import Any

import anyio
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from mcp import Client, MCPError
from prometheus_client import CollectorRegistry

import servers
from conftest import ROOT, sample, series
from mcp_comply import InstrumentationError, __version__, instrument, semconv
from mcp_comply.config import AlertsPolicy, MetricsPolicy, Policy, SLOPolicy

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

    # the semantic-convention histogram, per method by default (no gen_ai_tool_name label): the bad
    # arguments, the unknown tool and the failing tool are isError results, error.type=tool_error;
    # the crash is its exception class where the framework lets it through (low-level Server)
    crashed = {"ZeroDivisionError": 1} if framework == "lowlevel" else {}
    want = {("tools/call", ""): 3, ("tools/call", "tool_error"): 4 - len(crashed), ("tools/list", ""): 1,
            ("server/discover", ""): 1, **{("tools/call", t): n for t, n in crashed.items()}}
    got = {(labels["mcp_method_name"], labels["error_type"]): sample(registry, OPERATION + "_count", **labels)
           for labels in series(registry, OPERATION + "_count")}
    assert got == want
    assert all(set(labels) == {"mcp_method_name", "error_type", "network_transport", "le"}
               for labels in series(registry, OPERATION + "_bucket"))
    buckets = sorted(float(s["le"]) for s in series(registry, OPERATION + "_bucket")
                     if s["mcp_method_name"] == "tools/call" and s["error_type"] == "")
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
    assert all("gen_ai_tool_name" not in s for s in series(registry, OPERATION + "_count"))
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
    assert sample(registry, OPERATION + "_count", mcp_method_name="_other_",
                  error_type="-32601", network_transport="") == 1
    for labels in series(registry, OPERATION + "_count"):
        assert labels["mcp_method_name"] in semconv.SPEC_METHODS | {"_other_"}
    handle.uninstrument()


def test_distinct_unknown_methods_keep_the_collector_small() -> None:
    """A hostile client sending 5,000 distinct non-spec methods gets one `_other_` series, and the
    collector keeps one key for them, not one per method (its memory is as bounded as its labels)."""
    from mcp_comply.instrument._metrics import RequestMetrics

    metrics = RequestMetrics()
    for i in range(5_000):
        metrics.count(f"x-vendor/m{i}", "", "protocol_error", -32601, None, False, "pipe", 0.001)
    metrics.count("tools/list", "", "ok", None, None, False, "pipe", 0.001)
    families = {f.name: f for f in metrics.collect()}
    counts = {tuple(sorted(s.labels.items())): s.value for s in families[OPERATION].samples
              if s.name == OPERATION + "_count"}
    assert counts == {(("error_type", "-32601"), ("mcp_method_name", "_other_"), ("network_transport", "pipe")): 5_000,
                      (("error_type", ""), ("mcp_method_name", "tools/list"), ("network_transport", "pipe")): 1}
    (shard,) = metrics._shards
    assert len(shard.series) == 2
    assert len(metrics._derived) == 2


def test_shared_registry_for_two_servers(registry: CollectorRegistry) -> None:
    """Two servers can share one registry. Servers of one name share their info series: it stays
    while either is instrumented and goes with the last (on every supported prometheus-client)."""
    one, two = servers.build_mcpserver(), servers.build_mcpserver()
    h1, h2 = instrument(one, registry=registry), instrument(two, registry=registry)
    anyio.run(_mix, one)
    anyio.run(_mix, two)
    assert sample(registry, CALLS, tool="add", status="ok", error_type="") == 6
    assert series(registry, semconv.COMPLY_INFO) == [{"version": __version__, "server_name": "calc"}]
    h1.uninstrument()
    assert series(registry, semconv.COMPLY_INFO) == [{"version": __version__, "server_name": "calc"}]
    assert sample(registry, semconv.COMPLY_INFO, version=__version__, server_name="calc") == 1
    h1.uninstrument()  # a second undo is a no-op: it must not drop the other server's hold
    assert sample(registry, semconv.COMPLY_INFO, version=__version__, server_name="calc") == 1
    h2.uninstrument()
    assert series(registry, semconv.COMPLY_INFO) == []
    h3 = instrument(one, registry=registry)
    assert sample(registry, semconv.COMPLY_INFO, version=__version__, server_name="calc") == 1
    h3.uninstrument()
    assert series(registry, semconv.COMPLY_INFO) == []


_BOUNDS = st.lists(st.floats(min_value=1e-4, max_value=500.0, allow_nan=False), min_size=1, max_size=12,
                   unique=True).map(lambda b: tuple(sorted(b)))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["ok", "tool_error", "exception"]),
                          st.floats(min_value=0.0, max_value=400.0, allow_nan=False)), max_size=60),
       _BOUNDS, st.booleans())
def test_collector_matches_prometheus_client_histograms(events: list[tuple[str, float]],
                                                        tool_buckets: tuple[float, ...], per_tool: bool) -> None:
    """The lock-free collector exposes exactly what prometheus-client's own Counter and Histogram
    would for the same observations, for any tool buckets and with or without the semconv per-tool
    label (bucket edges included: a bound is `le`)."""
    from prometheus_client import Counter, Histogram

    from mcp_comply.instrument._metrics import RequestMetrics

    ours, reference_registry = RequestMetrics(tool_buckets, per_tool), CollectorRegistry()
    ref_calls = Counter("mcp_tool_calls", "", ("tool", "status", "error_type"), registry=reference_registry)
    ref_tool = Histogram("mcp_tool_duration_seconds", "", ("tool", "status"), registry=reference_registry,
                         buckets=tool_buckets)
    op_labels = ("mcp_method_name", "gen_ai_tool_name", "error_type", "network_transport")
    ref_op = Histogram("mcp_server_operation_duration_seconds", "", op_labels if per_tool else
                       tuple(x for x in op_labels if x != "gen_ai_tool_name"), registry=reference_registry,
                       buckets=semconv.SEMCONV_OPERATION_BUCKETS)
    for outcome, duration in events:
        ours.tool_started("t")
        ours.count("tools/call", "t", outcome, None, "ValueError" if outcome == "exception" else None,
                   outcome != "ok", "pipe", duration)
        status = "ok" if outcome == "ok" else "error"
        ref_calls.labels("t", status, "" if outcome == "ok" else outcome).inc()
        ref_tool.labels("t", status).observe(duration)
        error_type = "" if outcome == "ok" else "tool_error"
        (ref_op.labels("tools/call", "t", error_type, "pipe") if per_tool
         else ref_op.labels("tools/call", error_type, "pipe")).observe(duration)

    def samples(families: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples
                if not s.name.endswith("_created") and f.name != "mcp_tool_calls_in_flight"}

    got, want = samples(ours.collect()), samples(reference_registry.collect())
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
    in_flight = [s.value for f in ours.collect() if f.name == "mcp_tool_calls_in_flight" for s in f.samples]
    assert in_flight == ([0.0] if events else [])


def test_tool_buckets_come_from_the_policy(registry: CollectorRegistry) -> None:
    """The tool histogram's bounds are the policy's SLO ladder plus the p95 alert threshold, so both
    thresholds are exact `le` values; the semconv histogram keeps the semconv bounds."""
    policy = Policy(slo=SLOPolicy(latency_threshold_s=0.3), alerts=AlertsPolicy(p95_latency_s=2.0))
    assert policy.tool_duration_buckets == (0.006, 0.015, 0.03, 0.075, 0.15, 0.3, 0.75, 1.5, 2.0)
    assert Policy().tool_duration_buckets == semconv.TOOL_DURATION_BUCKETS
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, policy=policy)
    anyio.run(_mix, server)
    les = [s["le"] for s in series(registry, DURATION + "_bucket") if s["tool"] == "add" and s["status"] == "ok"]
    assert les == ["0.006", "0.015", "0.03", "0.075", "0.15", "0.3", "0.75", "1.5", "2.0", "+Inf"]
    assert sample(registry, DURATION + "_bucket", tool="add", status="ok", le="0.3") == 3
    handle.uninstrument()


def test_explicit_tool_buckets_and_the_per_tool_semconv_label(registry: CollectorRegistry) -> None:
    """`metrics.tool_buckets` replaces the derived bounds; `metrics.semconv_tool_label` puts
    gen_ai_tool_name on the semconv histogram (tools/call only; other methods get it empty)."""
    policy = Policy(metrics=MetricsPolicy(tool_buckets=(0.5, 1.0, 10.0), semconv_tool_label=True))
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, policy=policy)
    anyio.run(_mix, server)
    les = [s["le"] for s in series(registry, DURATION + "_bucket") if s["tool"] == "add" and s["status"] == "ok"]
    assert les == ["0.5", "1.0", "10.0", "+Inf"]
    assert sample(registry, OPERATION + "_count", mcp_method_name="tools/call", gen_ai_tool_name="add",
                  error_type="", network_transport="") == 3
    assert sample(registry, OPERATION + "_count", mcp_method_name="tools/call", gen_ai_tool_name="fail",
                  error_type="tool_error", network_transport="") == 1
    assert sample(registry, OPERATION + "_count", mcp_method_name="tools/list", gen_ai_tool_name="",
                  error_type="", network_transport="") == 1
    handle.uninstrument()


def test_one_registry_refuses_a_second_bucket_layout(registry: CollectorRegistry) -> None:
    """Two servers in one registry must agree on buckets and labels: a different policy is a clear
    InstrumentationError, and the server is left uninstrumented."""
    one, two = servers.build_mcpserver(), servers.build_mcpserver()  # (fastmcp is not in every matrix venv)
    handle = instrument(one, registry=registry)
    with pytest.raises(InstrumentationError, match=r"already serves tool buckets 0\.02, 0\.05"):
        instrument(two, registry=registry, policy=Policy(slo=SLOPolicy(latency_threshold_s=0.3)))
    other = CollectorRegistry()
    handle_two = instrument(two, registry=other, policy=Policy(slo=SLOPolicy(latency_threshold_s=0.3)))
    anyio.run(_mix, two)
    assert sample(other, CALLS, tool="add", status="ok", error_type="") == 3
    assert sample(registry, CALLS, tool="add", status="ok", error_type="") == 0
    handle_two.uninstrument()
    handle.uninstrument()


def test_metrics_of_100_tools_stay_under_250_kb() -> None:
    """Issue 14: /metrics of a server with 100 tools, each called ok and with four error types,
    renders to at most 250 KB (it was 1.1 MB with a per-tool semconv histogram)."""
    import importlib.util

    from prometheus_client import generate_latest

    spec = importlib.util.spec_from_file_location("bench_metrics", ROOT / "benchmarks" / "bench_metrics.py")
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    registry = CollectorRegistry()
    server = bench.build_server()
    handle = instrument(server, registry=registry, env={})
    anyio.run(bench.call_everything, server)
    body = generate_latest(registry)
    assert sample(registry, CALLS, tool="tool_099", status="error", error_type="protocol_error") == 1
    assert len(series(registry, CALLS)) == 100 * 5 + 1
    assert len(series(registry, DURATION + "_bucket")) == (100 * 2 + 1) * (len(semconv.TOOL_DURATION_BUCKETS) + 1)
    assert len(body) <= 250_000
    handle.uninstrument()


# prometheus-client 0.26 spells exponents 10 to 15 as Go (and Prometheus) do: 1e+10, where 0.20-0.25 wrote 1e+010.
_GO_EXPONENTS = tuple(int(part) for part in version("prometheus-client").split(".")[:2]) >= (0, 26)


@given(st.floats(min_value=0.0, allow_nan=False, allow_infinity=True))
@example(1e10)
@example(123456789012.5)
@example(9999999999.0)
def test_bucket_label_spells_le_as_prometheus_client_does(bound: float) -> None:
    """semconv.bucket_label (the runtime's and the generators' ``le``; the generators do not import
    prometheus-client) is prometheus-client's own spelling of every bound below 1e10 s on every
    supported version, and of every bound from 0.26; before 0.26 only the exponent's padding of
    bounds from 1e10 to 1e16 s differs (Go's two digits here)."""
    from prometheus_client.utils import floatToGoString

    ours, theirs = semconv.bucket_label(bound), floatToGoString(bound)
    if bound < 1e10 or _GO_EXPONENTS:
        assert ours == theirs
    else:
        assert re.sub(r"e\+0(1\d)$", r"e+\1", theirs) == ours


_LABELS = ("a", "b", "_unknown_")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("start", "finish", "relabel")), st.sampled_from(_LABELS),
                          st.sampled_from(_LABELS), st.integers(0, 2)), max_size=60))
def test_in_flight_is_started_minus_finished(ops: list[tuple[str, str, str, int]]) -> None:
    """The in-flight gauge, derived at a scrape from the calls started and the calls counted, is per
    label exactly what a running tally of starts, ends and relabels gives, whichever thread (shard)
    started or ended a call; a label that was ever started or ended has a series, at 0 when idle."""
    import threading

    from mcp_comply.instrument._metrics import RequestMetrics

    requests = RequestMetrics()
    tally: dict[str, int] = {}

    def on_thread(index: int, work: Any) -> None:
        if index == 0:
            work()
            return
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()

    for action, label, other, thread in ops:
        if action == "start":
            on_thread(thread, lambda label=label: requests.tool_started(label))
            tally[label] = tally.get(label, 0) + 1
        elif action == "finish":
            on_thread(thread, lambda label=label: requests.count_tool(label, "ok", None, None, False, "pipe", 0.01))
            tally[label] = tally.get(label, 0) - 1
        else:
            on_thread(thread, lambda label=label, other=other: requests.tool_relabel(label, other))
            tally[label] = tally.get(label, 0) - 1
            tally[other] = tally.get(other, 0) + 1
    gauge = {s.labels["tool"]: s.value for f in requests.collect() if f.name == semconv.TOOL_CALLS_IN_FLIGHT
             for s in f.samples}
    assert gauge == {label: float(n) for label, n in tally.items()}


@pytest.mark.skipif(servers.MCP_MAJOR != 2, reason="MCPServer is mcp 2.x")
def test_in_flight_counts_a_running_call(registry: CollectorRegistry) -> None:
    """While a tools/call runs the gauge shows it (1), and 0 once it is answered."""
    server = servers.build_mcpserver()
    instrument(server, registry=registry, env={})
    seen: list[float | None] = []

    async def drive() -> None:
        async with Client(server) as client, anyio.create_task_group() as tg:
            tg.start_soon(client.call_tool, "slow", {"seconds": 0.5})
            with anyio.fail_after(5):
                # the gauge is what is observed: nothing else signals that the call has started
                while registry.get_sample_value(semconv.TOOL_CALLS_IN_FLIGHT, {"tool": "slow"}) != 1.0:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            seen.append(registry.get_sample_value(semconv.TOOL_CALLS_IN_FLIGHT, {"tool": "slow"}))

    anyio.run(drive)
    assert seen == [1.0]
    assert registry.get_sample_value(semconv.TOOL_CALLS_IN_FLIGHT, {"tool": "slow"}) == 0.0
    assert registry.get_sample_value(CALLS, {"tool": "slow", "status": "ok", "error_type": ""}) == 1.0
