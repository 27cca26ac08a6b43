"""Prometheus metrics of contract 2, one set per registry, cheap to update on the request path."""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from mcp_comply import semconv
from mcp_comply._record import CallRecord, error_type_of, method_label

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


_INF = float("inf")
_TOOLS_CALL = semconv.METHOD_TOOLS_CALL


class _Histogram:
    """Per-bucket (non-cumulative) counts and a sum; cumulated only when scraped."""

    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0


# Every bucket of both histograms is a union of these finer buckets, so one bisect per request
# serves both; the two histograms are folded out of the fine counts when scraped.
_FINE_BOUNDS: tuple[float, ...] = tuple(sorted(set(semconv.TOOL_DURATION_BUCKETS)
                                               | set(semconv.SEMCONV_OPERATION_BUCKETS)))


def _fold_map(coarse: tuple[float, ...]) -> list[int]:
    """For each fine bucket, the index of the coarse bucket that contains it."""
    return [bisect_left(coarse, bound) for bound in (*_FINE_BOUNDS, _INF)]


class _Series:
    """Counts of one raw outcome key: per fine bucket, and the sum of durations."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(_FINE_BOUNDS) + 1)
        self.sum = 0.0


def _fold(fine: list[int], mapping: list[int], size: int) -> list[int]:
    out = [0] * size
    for index, count in zip(mapping, fine, strict=True):
        out[index] += count
    return out


class _Shard:
    """The counts one thread has written; only that thread ever writes them."""

    __slots__ = ("in_flight", "series")

    def __init__(self) -> None:
        self.series: dict[tuple[Any, ...], _Series] = {}
        self.in_flight: dict[str, int] = {}


class RequestMetrics(Collector):
    """The request-path metrics (tool calls, tool and operation durations, in-flight calls).

    A custom collector rather than prometheus-client metric objects. Each thread writes its own
    shard, so the request path takes no lock: one dict lookup keyed by the raw outcome, two
    ``bisect`` calls and three additions (about 1 µs). A scrape merges the shards and derives the
    label values (status, semconv ``error.type``, bounded method) from the raw keys.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._shards: list[_Shard] = []
        self._shards_lock = threading.Lock()
        self._tool_bounds = semconv.TOOL_DURATION_BUCKETS
        self._op_bounds = semconv.SEMCONV_OPERATION_BUCKETS
        self._tool_map = _fold_map(self._tool_bounds)
        self._op_map = _fold_map(self._op_bounds)

    def _new_shard(self) -> _Shard:
        shard = self._local.shard = _Shard()
        with self._shards_lock:
            self._shards.append(shard)
        return shard

    def tool_started(self, tool_label: str) -> None:
        """A tools/call is in flight; :meth:`count` ends it."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        in_flight = shard.in_flight
        in_flight[tool_label] = in_flight.get(tool_label, 0) + 1

    def count(self, method: str, tool: str, outcome: str, error_code: int | None, exception_type: str | None,
              error_result: bool, transport: str, duration: float) -> None:
        """One finished request, from its parts (the request path builds no CallRecord for this)."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        key = (method, tool, outcome, error_code, exception_type, error_result, transport)
        series = shard.series.get(key)
        if series is None:
            series = shard.series[key] = _Series()
        if method == _TOOLS_CALL:
            # Usually the thread that started the call; a scrape sums the shards either way.
            shard.in_flight[tool] = shard.in_flight.get(tool, 0) - 1
        series.counts[bisect_left(_FINE_BOUNDS, duration)] += 1
        series.sum += duration

    def observe(self, record: CallRecord) -> None:
        """One finished request, from its record."""
        self.count(record.method, record.tool_label, record.outcome, record.error_code, record.exception_type,
                   record.error_result, record.transport or "", record.duration_s)

    def _snapshot(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], _Histogram],
                                 dict[tuple[str, str, str, str], _Histogram], dict[str, int]]:
        with self._shards_lock:
            shards = list(self._shards)
        raw = []
        in_flight: dict[str, int] = {}
        for shard in shards:
            # list() over a dict and over a list are single C calls: atomic under the GIL, so
            # reading another thread's shard needs no lock.
            for key, series in list(shard.series.items()):
                raw.append((key, list(series.counts), series.sum))
            for label, value in list(shard.in_flight.items()):
                in_flight[label] = in_flight.get(label, 0) + value
        calls: dict[tuple[str, str, str], int] = {}
        tool: dict[tuple[str, str], _Histogram] = {}
        operation: dict[tuple[str, str, str, str], _Histogram] = {}
        tool_size, op_size = len(self._tool_bounds) + 1, len(self._op_bounds) + 1
        for key, fine, total in raw:
            op_counts = _fold(fine, self._op_map, op_size)
            method, label, outcome, error_code, exception_type, error_result, transport = key
            error_type = error_type_of(outcome, error_code, exception_type, error_result)
            if method == _TOOLS_CALL:
                ok = outcome == semconv.OUTCOME_OK
                status = semconv.STATUS_OK if ok else semconv.STATUS_ERROR
                call_key = (label, status, "" if ok else outcome)
                tool_counts = _fold(fine, self._tool_map, tool_size)
                calls[call_key] = calls.get(call_key, 0) + sum(tool_counts)
                _merge(tool, (label, status), tool_counts, total)
                _merge(operation, (method, label, error_type, transport), op_counts, total)
            else:
                _merge(operation, (method_label(method), "", error_type, transport), op_counts, total)
        return calls, tool, operation, in_flight

    def describe(self) -> list[Metric]:
        # Names only, so the registry can reject a duplicate registration up front.
        return [CounterMetricFamily(semconv.TOOL_CALLS_TOTAL, ""),
                HistogramMetricFamily(semconv.TOOL_DURATION_SECONDS, ""),
                GaugeMetricFamily(semconv.TOOL_CALLS_IN_FLIGHT, ""),
                HistogramMetricFamily(semconv.SERVER_OPERATION_DURATION_SECONDS, "")]

    def collect(self) -> list[Metric]:
        calls, tool_hists, op_hists, in_flight = self._snapshot()
        tool = {k: (h.counts, h.sum) for k, h in tool_hists.items()}
        operation = {k: (h.counts, h.sum) for k, h in op_hists.items()}
        calls_family = CounterMetricFamily(
            semconv.TOOL_CALLS_TOTAL, "MCP tools/call requests by tool, status and error type.",
            labels=(semconv.LABEL_TOOL, semconv.LABEL_STATUS, semconv.LABEL_ERROR_TYPE))
        for call_labels, count in calls.items():
            calls_family.add_metric(call_labels, count)
        tool_family = HistogramMetricFamily(
            semconv.TOOL_DURATION_SECONDS, "Server-side duration of MCP tools/call requests.",
            labels=(semconv.LABEL_TOOL, semconv.LABEL_STATUS), unit="seconds")
        for tool_labels, (counts, total) in tool.items():
            tool_family.add_metric(tool_labels, _cumulative(self._tool_bounds, counts), total)
        flight_family = GaugeMetricFamily(
            semconv.TOOL_CALLS_IN_FLIGHT, "MCP tools/call requests currently being handled.",
            labels=(semconv.LABEL_TOOL,))
        for label, value in in_flight.items():
            flight_family.add_metric((label,), value)
        op_family = HistogramMetricFamily(
            semconv.SERVER_OPERATION_DURATION_SECONDS,
            "MCP semantic conventions mcp.server.operation.duration: every request, receipt to result.",
            labels=(semconv.LABEL_MCP_METHOD_NAME, semconv.LABEL_GEN_AI_TOOL_NAME, semconv.LABEL_ERROR_TYPE,
                    semconv.LABEL_NETWORK_TRANSPORT), unit="seconds")
        for op_labels, (op_counts, op_total) in operation.items():
            op_family.add_metric(op_labels, _cumulative(self._op_bounds, op_counts), op_total)
        return [calls_family, tool_family, flight_family, op_family]


def _merge(into: dict[Any, _Histogram], key: Any, counts: list[int], total: float) -> None:
    hist = into.get(key)
    if hist is None:
        hist = into[key] = _Histogram(len(counts))
    for i, count in enumerate(counts):
        hist.counts[i] += count
    hist.sum += total


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    out = []
    running = 0
    for bound, count in zip((*bounds, _INF), counts, strict=True):
        running += count
        out.append((semconv.bucket_label(bound), float(running)))
    return out


class Metrics:
    """The metrics of one registry. Use :func:`metrics_for` rather than constructing twice:
    a registry refuses a second registration of the same names."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = RequestMetrics()
        registry.register(self.requests)
        self.audit_records = Counter(
            semconv.AUDIT_RECORDS_TOTAL, "Audit records made durable.", registry=registry)
        self.audit_write_errors = Counter(
            semconv.AUDIT_WRITE_ERRORS_TOTAL, "Audit records that could not be written.", registry=registry)
        self.audit_queue_depth = Gauge(
            semconv.AUDIT_QUEUE_DEPTH, "Audit records waiting for the writer thread.", registry=registry)
        self.audit_last_checkpoint = Gauge(
            semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS,
            "Unix time of the last audit checkpoint written.", registry=registry)
        self.info = Gauge(
            semconv.COMPLY_INFO, "mcp-comply is instrumenting this server (value 1).",
            (semconv.LABEL_VERSION, semconv.LABEL_SERVER_NAME), registry=registry,
        )
        self.internal_errors = Counter(
            semconv.COMPLY_INTERNAL_ERRORS_TOTAL,
            "Failures inside mcp-comply itself (never the application's); the request was served anyway.",
            (semconv.LABEL_COMPONENT,), registry=registry,
        )
        for component in semconv.COMPONENTS:
            self.internal_errors.labels(component)
        self.tool_started = self.requests.tool_started
        self.observe = self.requests.observe
        self.count = self.requests.count

    def internal_error(self, component: str) -> None:
        self.internal_errors.labels(component).inc()


def metrics_for(registry: CollectorRegistry | None) -> Metrics:
    """The one :class:`Metrics` of ``registry`` (default: prometheus-client's global registry)."""
    reg = REGISTRY if registry is None else registry
    with _lock:
        metrics = _by_registry.get(reg)
        if metrics is None:
            metrics = Metrics(reg)
            _by_registry[reg] = metrics
        return metrics
