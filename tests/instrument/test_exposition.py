"""/metrics: our renderer serves exactly the bytes prometheus-client writes, for every Accept header,
any label value and any number, while requests run; readers of ``collect()`` see what they saw before."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from mcp_comply import semconv
from mcp_comply.instrument import _exposition
from mcp_comply.instrument._endpoints import EndpointServer, Health, render_metrics, starlette_routes
from mcp_comply.instrument._exposition import render
from mcp_comply.instrument._metrics import Metrics, RequestMetrics, Table

# What real scrapers send. Prometheus 2.42 (the Debian package the e2e tests run) sent the first one,
# captured from a real scrape: it negotiates OpenMetrics.
PROMETHEUS_2_42 = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                   "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
# (prometheus-client 0.26 adds "; escaping=underscores"; 0.20 did not)
OPENMETRICS_TYPE = choose_encoder(PROMETHEUS_2_42)[1]
ACCEPTS = {
    "prometheus 2.42": PROMETHEUS_2_42,
    "no header (curl)": "",
    "openmetrics, allow-utf-8": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                                "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,*/*;q=0.2",
    "openmetrics without a version": "application/openmetrics-text",
    "openmetrics, values escaping": "application/openmetrics-text;version=1.0.0;escaping=values",
    "text 1.0.0, dots escaping": "text/plain;version=1.0.0;escaping=dots",
    "text 1.0.0, values escaping": "text/plain;version=1.0.0;escaping=values",
    "json (unsupported: text 0.0.4)": "application/json",
}


def _busy_registry(per_tool: bool = False) -> tuple[CollectorRegistry, Metrics]:
    """Our metrics among prometheus-client's own kinds, before and after ours, and a target_info."""
    registry = CollectorRegistry(target_info={"service": "calc", "odd": 'a "quoted"\nvalue\\'})
    jobs = Counter("jobs", "Jobs done.", ("queue",), registry=registry)
    jobs.labels("fast").inc(3)
    jobs.labels('we"ird\n').inc(1e7)
    Summary("lag_seconds", "Lag.", registry=registry).observe(0.25)
    metrics = Metrics(registry, semconv_tool_label=per_tool)
    metrics.audit_records.inc(12)
    metrics.info.labels("1.2.3", "calc").set(1)
    Histogram("payload_bytes", "Payloads.", registry=registry, buckets=(10, 1e3, 1e6)).observe(5e5)
    Info("build", "Build.", registry=registry).info({"commit": "abc"})
    Enum("phase", "Phase.", states=["up", "down"], registry=registry).state("down")
    Gauge("temperature_celsius", "Temperature.", registry=registry).set(-3.5e-7)
    return registry, metrics


def _traffic(requests: RequestMetrics, tools: int = 3, start: int = 0) -> None:
    for i in range(start, start + tools):
        tool = f"tool_{i}"
        for outcome, code, exc, error_result, duration in (
                ("ok", None, None, False, 0.003), ("ok", None, None, False, 0.4),
                ("validation_error", None, None, True, 0.001), ("tool_error", None, None, True, 0.02),
                ("exception", None, "ZeroDivisionError", True, 2.5), ("protocol_error", -32001, None, False, 9.0)):
            requests.tool_started(tool)
            requests.count("tools/call", tool, outcome, code, exc, error_result, "stdio", duration)
    requests.count("tools/list", "", "ok", None, None, False, "stdio", 0.0004)
    requests.count("x-vendor/thing", "", "protocol_error", -32601, None, False, "stdio", 0.0001)
    requests.tool_started("_unknown_")  # one call still in flight


@pytest.mark.parametrize("accept", ACCEPTS.values(), ids=ACCEPTS.keys())
def test_render_is_what_prometheus_client_writes(accept: str) -> None:
    """For each Accept header: the same content type and the same bytes as prometheus-client,
    on the first scrape (our series learned), the next (from the cache) and after new series."""
    registry, metrics = _busy_registry()
    encoder, content_type = choose_encoder(accept)
    _traffic(metrics.requests)
    for _ in range(2):
        body, ctype = render_metrics(registry, accept)
        assert ctype == content_type
        assert body == encoder(registry)
    _traffic(metrics.requests, tools=2, start=2)  # one known tool again, one new
    assert render_metrics(registry, accept)[0] == encoder(registry)
    # ... and our four families were written by us, not handed back to prometheus-client
    families = (metrics.requests._calls_lines, metrics.requests._tool.lines, metrics.requests._flight_lines,
                metrics.requests._operation.lines)
    assert all(len(cache) == 1 for cache in families)


def test_an_empty_registry_and_a_registry_of_only_ours() -> None:
    for accept in ACCEPTS.values():
        encoder, _ = choose_encoder(accept)
        empty = CollectorRegistry()
        assert render(empty, encoder) == encoder(empty)
        only = CollectorRegistry()
        requests = RequestMetrics()
        only.register(requests)
        assert render(only, encoder) == encoder(only)  # no series yet: headers only
        _traffic(requests)
        assert render(only, encoder) == encoder(only)


def test_each_series_is_formatted_by_prometheus_client_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape hands prometheus-client only the series it has not seen in this style; the rest is
    written from the counts."""
    learned: list[tuple[str, ...]] = []
    samples = Table.samples

    def counting(table: Table, keys: Any = None) -> Any:
        assert keys is not None, "a whole family went to prometheus-client"
        learned.extend(keys)
        return samples(table, keys)

    monkeypatch.setattr(Table, "samples", counting)
    registry, metrics = _busy_registry()
    _traffic(metrics.requests, tools=2)
    render_metrics(registry, "")
    # calls (ok + 4 error types per tool), tool histogram (ok/error), in flight (+ _unknown_), and the
    # semconv rows: tools/call ok, tool_error, -32001; tools/list; _other_ -32601
    assert len(learned) == 2 * 5 + 2 * 2 + 3 + 5
    learned.clear()
    render_metrics(registry, "")
    assert learned == []
    for tool in ("tool_0", "tool_9"):
        metrics.requests.tool_started(tool)
        metrics.requests.count("tools/call", tool, "ok", None, None, False, "stdio", 0.1)
    render_metrics(registry, "")
    assert learned == [("tool_9", "ok", ""), ("tool_9", "ok"), ("tool_9",)]
    learned.clear()
    render_metrics(registry, PROMETHEUS_2_42)  # another style learns its own text
    assert len(learned) == 22 + 3


# Pieces that need escaping or look like escapes, line separators Python's splitlines() would split
# on, and any other character that UTF-8 can carry.
_LABEL = st.lists(st.sampled_from(["\\", '"', "\n", "\\n", '\\"', "\r", "\u2028", "\x85", "é", "🙂", "le", ","])
                  | st.characters(exclude_categories=("Cs",)), max_size=6).map("".join)
_EVENT = st.tuples(
    st.sampled_from(["tools/call", "tools/call", "tools/list", "initialize", "x-vendor/any"]), _LABEL,
    st.sampled_from(["ok", "tool_error", "validation_error", "exception", "protocol_error", "cancelled"]),
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=True), _LABEL)


@settings(max_examples=150, deadline=None)
@given(st.lists(_EVENT, max_size=25), st.lists(_EVENT, max_size=10),
       st.integers(min_value=1, max_value=10**17), st.booleans(), st.sampled_from(sorted(ACCEPTS.values())))
def test_any_labels_and_numbers_render_as_prometheus_client_does(
        first: list[tuple[str, str, str, float, str]], then: list[tuple[str, str, str, float, str]],
        scale: int, per_tool: bool, accept: str) -> None:
    """Label values that need escaping (backslash, quote, newline, any unicode), sums of any size
    (exponent spellings, +Inf) and counts up to 1e17 (``1.234567e+06`` ...): the same bytes."""
    registry, metrics = _busy_registry(per_tool)
    requests = metrics.requests
    encoder, _ = choose_encoder(accept)

    def apply(events: list[tuple[str, str, str, float, str]]) -> None:
        for method, tool, outcome, duration, transport in events:
            if method == "tools/call":
                requests.tool_started(tool)
            requests.count(method, tool, outcome, -32602 if outcome == "protocol_error" else None,
                           "ValueError" if outcome == "exception" else None, outcome.endswith("error"),
                           transport, duration)

    apply(first)
    for series in requests._local.shard.series.values() if first else ():
        series.counts[:] = [n * scale for n in series.counts]  # counts no test could make call by call
    assert render(registry, encoder) == encoder(registry)
    apply(then)
    assert render(registry, encoder) == encoder(registry)


def test_a_writer_we_cannot_learn_is_left_to_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should a prometheus-client write lines we cannot take apart (here: values spelled otherwise
    than we expect), that style is rendered by prometheus-client from then on."""
    monkeypatch.setattr(_exposition, "_STYLES", {})
    registry, metrics = _busy_registry()
    _traffic(metrics.requests)
    encoder, _ = choose_encoder("")
    with monkeypatch.context() as patch:
        patch.setattr(_exposition, "_spell", lambda value: f"{value:.3e}")
        assert render(registry, encoder) == encoder(registry)
    assert list(_exposition._STYLES.values()) == [None]
    assert render(registry, encoder) == encoder(registry)
    assert [bool(lines) for lines in metrics.requests._calls_lines.values()] == [False]  # nothing kept


def test_styles_beyond_the_cap_are_left_to_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Accept header picks the style (escaping, version), so only so many are learned."""
    monkeypatch.setattr(_exposition, "_STYLES", {f"seen {i}": b"" for i in range(_exposition._MAX_STYLES)})
    registry, metrics = _busy_registry()
    _traffic(metrics.requests)
    for accept in ACCEPTS.values():
        encoder, _ = choose_encoder(accept)
        assert render(registry, encoder) == encoder(registry)
    assert len(_exposition._STYLES) == _exposition._MAX_STYLES
    assert metrics.requests._calls_lines == {}


def test_a_label_prometheus_client_cannot_encode_fails_the_same_way() -> None:
    """A lone surrogate cannot be UTF-8: prometheus-client raises, and so do we (no partial body)."""
    registry, metrics = _busy_registry()
    metrics.requests.count("tools/call", "bad\ud800", "ok", None, None, False, "stdio", 0.1)
    encoder, _ = choose_encoder("")
    with pytest.raises(UnicodeEncodeError):
        encoder(registry)
    with pytest.raises(UnicodeEncodeError):
        render(registry, encoder)


def test_readers_of_collect_see_plain_families_and_samples() -> None:
    """prometheus-client's own generate_latest, get_sample_value and a restricted registry read our
    families as before; a family whose samples someone touched is left to prometheus-client."""
    registry, metrics = _busy_registry()
    _traffic(metrics.requests)
    before = generate_latest(registry)
    assert render_metrics(registry, "")[0] == before
    assert generate_latest(registry) == before  # rendering changed nothing for the library's own writer
    calls, tool, in_flight, operation = metrics.requests.collect()
    assert isinstance(calls, CounterMetricFamily)
    assert isinstance(tool, HistogramMetricFamily)
    assert isinstance(in_flight, GaugeMetricFamily)
    assert isinstance(operation, HistogramMetricFamily)
    assert len(tool.samples) == 6 * 11  # 3 tools x ok/error, 9 bounds + +Inf, _count, _sum
    assert tool.samples[0].name == "mcp_tool_duration_seconds_bucket"
    assert tool.samples[0].labels == {"tool": "tool_0", "status": "ok", "le": "0.02"}
    assert tool.samples[0].value == 1.0
    assert registry.get_sample_value(semconv.TOOL_CALLS_TOTAL, {
        "tool": "tool_1", "status": "error", "error_type": "protocol_error"}) == 1.0
    assert registry.get_sample_value(semconv.TOOL_CALLS_IN_FLIGHT, {"tool": "_unknown_"}) == 1.0
    restricted = generate_latest(registry.restricted_registry([semconv.TOOL_DURATION_SECONDS + "_count"]))
    assert restricted.count(b"mcp_tool_duration_seconds_count{") == 6

    class Touching:
        """A collector that rewrites our counter's samples before anyone renders them."""

        def collect(self) -> list[Any]:
            family = metrics.requests.collect()[0]
            family.samples = [s._replace(value=s.value * 2) for s in family.samples]
            return [family]

    other = CollectorRegistry()
    other.register(Touching())
    encoder, _ = choose_encoder(PROMETHEUS_2_42)
    assert render(other, encoder) == encoder(other)
    assert b'mcp_tool_calls_total{error_type="",status="ok",tool="tool_0"} 4.0\n' in render(other, encoder)


def test_scrapes_while_requests_run() -> None:
    """Two threads count (new series keep appearing) while two threads scrape in both styles:
    every scrape parses and its histograms are whole; once quiet, the bytes are the library's."""
    registry, metrics = _busy_registry()
    requests = metrics.requests
    stop = threading.Event()
    errors: list[BaseException] = []
    scrapes = [0]

    def count(offset: int) -> None:
        n = 0
        while not stop.is_set() and n < 20_000:
            tool = f"tool_{(n + offset) % 60}"
            requests.tool_started(tool)
            requests.count("tools/call", tool, "ok" if n % 3 else "tool_error", None, None, n % 3 == 0, "stdio",
                           (n % 97) / 50)
            n += 1

    def scrape(accept: str) -> None:
        try:
            for _ in range(15):
                body = render_metrics(registry, accept)[0].decode()
                if accept:
                    assert body.endswith("# EOF\n")
                    body = body.removesuffix("# EOF\n")
                for family in text_string_to_metric_families(body):
                    if family.name == semconv.TOOL_DURATION_SECONDS:
                        _assert_whole(family.samples)
                scrapes[0] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=count, args=(i * 30,)) for i in range(2)]
    threads += [threading.Thread(target=scrape, args=(a,)) for a in ("", PROMETHEUS_2_42)]
    for thread in threads:
        thread.start()
    for thread in threads[2:]:
        thread.join()
    stop.set()
    for thread in threads[:2]:
        thread.join()
    assert errors == []
    assert scrapes[0] == 30
    for accept in ("", PROMETHEUS_2_42):
        encoder, _ = choose_encoder(accept)
        assert render(registry, encoder) == encoder(registry)


def _assert_whole(samples: list[Any]) -> None:
    """Per series: buckets never decrease and the +Inf bucket is the count."""
    buckets: dict[tuple[str, str], list[float]] = {}
    counts: dict[tuple[str, str], float] = {}
    for s in samples:
        key = (s.labels["tool"], s.labels["status"])
        if s.name.endswith("_bucket"):
            buckets.setdefault(key, []).append(s.value)
        elif s.name.endswith("_count"):
            counts[key] = s.value
    for key, values in buckets.items():
        assert values == sorted(values), key
        assert values[-1] == counts[key], key


def test_the_endpoint_negotiates_like_prometheus_client(registry: CollectorRegistry) -> None:
    """Over real HTTP: Prometheus's Accept header gets OpenMetrics, no header the text format, each
    exactly the library's bytes and content type."""
    metrics = Metrics(registry)
    _traffic(metrics.requests)
    server = EndpointServer(registry, Health(), "127.0.0.1", 0)
    try:
        for accept, want_type in ((PROMETHEUS_2_42, OPENMETRICS_TYPE),
                                  ("", "text/plain; version=0.0.4; charset=utf-8")):
            request = urllib.request.Request(server.url, headers={"Accept": accept} if accept else {})
            with urllib.request.urlopen(request, timeout=5) as response:
                body, ctype = response.read(), response.headers["Content-Type"]
            assert ctype == want_type
            assert ctype.startswith("application/openmetrics-text; version=1.0.0" if accept else "text/plain")
            encoder, _ = choose_encoder(accept)
            assert body == encoder(registry)
    finally:
        server.close()


def test_the_starlette_route_negotiates_the_same(registry: CollectorRegistry) -> None:
    from starlette.requests import Request

    metrics = Metrics(registry)
    _traffic(metrics.requests)
    route = starlette_routes(registry, Health())[0]
    scope = {"type": "http", "method": "GET", "path": "/metrics", "query_string": b"",
             "headers": [(b"accept", PROMETHEUS_2_42.encode())]}
    response = anyio.run(route.endpoint, Request(scope))
    assert response.headers["content-type"] == OPENMETRICS_TYPE
    assert response.body == openmetrics.generate_latest(registry)
