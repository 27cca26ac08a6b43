"""Prometheus metrics of contract 2, one set per registry, cheap to update on the request path."""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from mcp_comply import semconv
from mcp_comply._record import CallRecord, error_type_of, method_label
from mcp_comply.exceptions import InstrumentationError

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


_INF = float("inf")
_TOOLS_CALL = semconv.METHOD_TOOLS_CALL


class _Series:
    """Counts of one raw outcome key: per fine bucket, and the sum of durations."""

    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0


class _Shard:
    """The counts one thread has written; only that thread ever writes them."""

    __slots__ = ("in_flight", "series")

    def __init__(self) -> None:
        self.series: dict[tuple[Any, ...], _Series] = {}
        self.in_flight: dict[str, int] = {}


def _fold_map(fine: tuple[float, ...], coarse: tuple[float, ...]) -> list[int]:
    """For each fine bucket (and +Inf), the index of the coarse bucket that contains it."""
    return [bisect_left(coarse, bound) for bound in (*fine, _INF)]


class _Family:
    """One histogram being assembled at scrape time: per label values, coarse counts and a sum."""

    __slots__ = ("fold", "les", "name", "rows", "size")

    def __init__(self, name: str, fine: tuple[float, ...], coarse: tuple[float, ...]) -> None:
        self.name = name
        self.fold = _fold_map(fine, coarse)
        self.size = len(coarse) + 1
        self.les = [semconv.bucket_label(b) for b in (*coarse, _INF)]
        self.rows: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def add(self, key: tuple[str, ...], fine: list[int], total: float) -> None:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = ([0] * self.size, [0.0])
        counts = row[0]
        for index, count in zip(self.fold, fine, strict=True):
            if count:
                counts[index] += count
        row[1][0] += total

    def samples(self, labelnames: tuple[str, ...]) -> list[Sample]:
        # Samples built directly (not through HistogramMetricFamily.add_metric): a scrape of
        # hundreds of series spends its time here.
        out: list[Sample] = []
        append = out.append
        bucket, count_name, sum_name = self.name + "_bucket", self.name + "_count", self.name + "_sum"
        les = self.les
        for key, (counts, total) in self.rows.items():
            labels = dict(zip(labelnames, key, strict=True))
            running = 0
            for le, count in zip(les, counts, strict=True):
                running += count
                append(Sample(bucket, {**labels, "le": le}, float(running)))
            append(Sample(count_name, labels, float(running)))
            append(Sample(sum_name, labels, total[0]))
        return out


class RequestMetrics(Collector):
    """The request-path metrics (tool calls, tool and operation durations, in-flight calls).

    A custom collector rather than prometheus-client metric objects. Each thread writes its own
    shard, so the request path takes no lock: one dict lookup keyed by the raw outcome, one
    ``bisect`` over the union of both histograms' bounds and three additions (about 1 µs). A scrape
    merges the shards, folds the fine buckets into each histogram's own, and derives the label
    values (status, semconv ``error.type``, bounded method) from the raw keys.

    ``tool_buckets`` are the bounds of ``mcp_tool_duration_seconds`` (from the policy);
    ``semconv_tool_label`` adds ``gen_ai_tool_name`` to ``mcp_server_operation_duration_seconds``.
    """

    def __init__(self, tool_buckets: tuple[float, ...] = semconv.TOOL_DURATION_BUCKETS,
                 semconv_tool_label: bool = False) -> None:
        self._local = threading.local()
        self._shards: list[_Shard] = []
        self._shards_lock = threading.Lock()
        self.tool_buckets = tuple(tool_buckets)
        self.semconv_tool_label = semconv_tool_label
        self._op_bounds = semconv.SEMCONV_OPERATION_BUCKETS
        # Every bucket of both histograms is a union of these finer buckets, so one bisect per
        # request serves both.
        self._fine = tuple(sorted(set(self.tool_buckets) | set(self._op_bounds)))
        self._fine_size = len(self._fine) + 1
        self._op_labels: tuple[str, ...] = (
            (semconv.LABEL_MCP_METHOD_NAME, semconv.LABEL_GEN_AI_TOOL_NAME, semconv.LABEL_ERROR_TYPE,
             semconv.LABEL_NETWORK_TRANSPORT) if semconv_tool_label
            else (semconv.LABEL_MCP_METHOD_NAME, semconv.LABEL_ERROR_TYPE, semconv.LABEL_NETWORK_TRANSPORT))

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

    def tool_relabel(self, old: str, new: str) -> None:
        """An in-flight call's label turned out to be ``new`` (it started as ``old``)."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        in_flight = shard.in_flight
        in_flight[old] = in_flight.get(old, 0) - 1
        in_flight[new] = in_flight.get(new, 0) + 1

    def count(self, method: str, tool: str, outcome: str, error_code: int | None, exception_type: str | None,
              error_result: bool, transport: str, duration: float) -> None:
        """One finished request, from its parts (the request path builds no CallRecord for this)."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        key = (method, tool, outcome, error_code, exception_type, error_result, transport)
        series = shard.series.get(key)
        if series is None:
            series = shard.series[key] = _Series(self._fine_size)
        if method == _TOOLS_CALL:
            # Usually the thread that started the call; a scrape sums the shards either way.
            shard.in_flight[tool] = shard.in_flight.get(tool, 0) - 1
        series.counts[bisect_left(self._fine, duration)] += 1
        series.sum += duration

    def observe(self, record: CallRecord) -> None:
        """One finished request, from its record."""
        self.count(record.method, record.tool_label, record.outcome, record.error_code, record.exception_type,
                   record.error_result, record.transport or "", record.duration_s)

    def describe(self) -> list[Metric]:
        # Names only, so the registry can reject a duplicate registration up front.
        return [CounterMetricFamily(semconv.TOOL_CALLS_TOTAL, ""),
                HistogramMetricFamily(semconv.TOOL_DURATION_SECONDS, ""),
                GaugeMetricFamily(semconv.TOOL_CALLS_IN_FLIGHT, ""),
                HistogramMetricFamily(semconv.SERVER_OPERATION_DURATION_SECONDS, "")]

    def collect(self) -> list[Metric]:
        with self._shards_lock:
            shards = list(self._shards)
        tool = _Family(semconv.TOOL_DURATION_SECONDS, self._fine, self.tool_buckets)
        operation = _Family(semconv.SERVER_OPERATION_DURATION_SECONDS, self._fine, self._op_bounds)
        calls: dict[tuple[str, str, str], int] = {}
        in_flight: dict[str, int] = {}
        per_tool = self.semconv_tool_label
        for shard in shards:
            # list() over a dict is a single C call: atomic under the GIL, so reading another
            # thread's shard needs no lock.
            for key, series in list(shard.series.items()):
                fine, total = list(series.counts), series.sum
                method, label, outcome, error_code, exception_type, error_result, transport = key
                error_type = error_type_of(outcome, error_code, exception_type, error_result)
                if method == _TOOLS_CALL:
                    ok = outcome == semconv.OUTCOME_OK
                    status = semconv.STATUS_OK if ok else semconv.STATUS_ERROR
                    call_key = (label, status, "" if ok else outcome)
                    calls[call_key] = calls.get(call_key, 0) + sum(fine)
                    tool.add((label, status), fine, total)
                    op_key = (method, label, error_type, transport) if per_tool else (method, error_type, transport)
                else:
                    name = method_label(method)
                    op_key = (name, "", error_type, transport) if per_tool else (name, error_type, transport)
                operation.add(op_key, fine, total)
            for label, value in list(shard.in_flight.items()):
                in_flight[label] = in_flight.get(label, 0) + value

        calls_family = CounterMetricFamily(
            semconv.TOOL_CALLS_TOTAL, "MCP tools/call requests by tool, status and error type.",
            labels=(semconv.LABEL_TOOL, semconv.LABEL_STATUS, semconv.LABEL_ERROR_TYPE))
        total_name = calls_family.name + "_total"
        calls_family.samples = [
            Sample(total_name, {semconv.LABEL_TOOL: t, semconv.LABEL_STATUS: st, semconv.LABEL_ERROR_TYPE: et},
                   float(n))
            for (t, st, et), n in calls.items()]
        tool_family = HistogramMetricFamily(
            semconv.TOOL_DURATION_SECONDS, "Server-side duration of MCP tools/call requests.", unit="seconds")
        tool_family.samples = tool.samples((semconv.LABEL_TOOL, semconv.LABEL_STATUS))
        flight_family = GaugeMetricFamily(
            semconv.TOOL_CALLS_IN_FLIGHT, "MCP tools/call requests currently being handled.",
            labels=(semconv.LABEL_TOOL,))
        flight_family.samples = [Sample(semconv.TOOL_CALLS_IN_FLIGHT, {semconv.LABEL_TOOL: label}, float(value))
                                 for label, value in in_flight.items()]
        op_family = HistogramMetricFamily(
            semconv.SERVER_OPERATION_DURATION_SECONDS,
            "MCP semantic conventions mcp.server.operation.duration: every request, receipt to result.",
            unit="seconds")
        op_family.samples = operation.samples(self._op_labels)
        return [calls_family, tool_family, flight_family, op_family]


class Metrics:
    """The metrics of one registry. Use :func:`metrics_for` rather than constructing twice:
    a registry refuses a second registration of the same names."""

    def __init__(self, registry: CollectorRegistry, tool_buckets: tuple[float, ...] = semconv.TOOL_DURATION_BUCKETS,
                 semconv_tool_label: bool = False) -> None:
        self.registry = registry
        self.requests = RequestMetrics(tool_buckets, semconv_tool_label)
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
        self.tool_relabel = self.requests.tool_relabel
        self.observe = self.requests.observe
        self.count = self.requests.count

    def internal_error(self, component: str) -> None:
        self.internal_errors.labels(component).inc()


def metrics_for(registry: CollectorRegistry | None, tool_buckets: tuple[float, ...] = semconv.TOOL_DURATION_BUCKETS,
                semconv_tool_label: bool = False) -> Metrics:
    """The one :class:`Metrics` of ``registry`` (default: prometheus-client's global registry).

    A registry holds one set of series, so every server instrumented into it must ask for the same
    buckets and labels; a different request raises :class:`InstrumentationError`.
    """
    reg = REGISTRY if registry is None else registry
    tool_buckets = tuple(tool_buckets)
    with _lock:
        metrics = _by_registry.get(reg)
        if metrics is None:
            metrics = Metrics(reg, tool_buckets, semconv_tool_label)
            _by_registry[reg] = metrics
        elif (metrics.requests.tool_buckets, metrics.requests.semconv_tool_label) != (tool_buckets,
                                                                                      semconv_tool_label):
            raise InstrumentationError(
                f"this metrics registry already serves tool buckets "
                f"{', '.join(f'{b:g}' for b in metrics.requests.tool_buckets)} and semconv_tool_label="
                f"{metrics.requests.semconv_tool_label}; this policy asks for "
                f"{', '.join(f'{b:g}' for b in tool_buckets)} and {semconv_tool_label}: use one policy per "
                f"registry, or pass registry= a registry of its own")
        return metrics
