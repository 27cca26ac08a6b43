"""Prometheus metrics of contract 2, one set per registry, cheap to update on the request path."""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from collections.abc import Hashable, Iterable
from itertools import accumulate
from operator import add
from typing import Any, TypeVar

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
_SPEC_METHODS = semconv.SPEC_METHODS
_OTHER_METHOD = semconv.OTHER_METHOD_LABEL
_CALL_LABELS = (semconv.LABEL_TOOL, semconv.LABEL_STATUS, semconv.LABEL_ERROR_TYPE)
_TOOL_LABELS = (semconv.LABEL_TOOL, semconv.LABEL_STATUS)
_FLIGHT_LABELS = (semconv.LABEL_TOOL,)


class _Series:
    """Counts of one raw outcome key: per fine bucket, and the sum of durations."""

    __slots__ = ("counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0


class _Shard:
    """The counts one thread has written; only that thread ever writes them.

    ``started`` counts tools/call requests per label as they start; a call's end is its count in
    ``series``, so the in-flight gauge is derived at a scrape (started minus finished, per label)
    and a finished call costs the request path no second dictionary update.
    """

    __slots__ = ("series", "started")

    def __init__(self) -> None:
        self.series: dict[tuple[Any, ...], _Series] = {}
        self.started: dict[str, int] = {}


Row = dict[tuple[str, ...], list[Any]]
# per exposition style, per row: the text of each of its lines up to the value (see _exposition)
LineCache = dict[Hashable, dict[tuple[str, ...], list[str]]]
# what one raw outcome key adds to: (calls counter row, tool histogram row) for tools/call, semconv row
_Derived = tuple[tuple[str, ...] | None, tuple[str, ...] | None, tuple[str, ...]]


class Table:
    """One family's series at one scrape: per row of label values, the values of its samples in the
    order prometheus-client writes them (each bucket, then ``_count`` and ``_sum``; or the one value).

    Both :meth:`samples` (for any reader of ``collect()``) and the ``/metrics`` renderer, which writes
    the text straight from the rows, read the same table, so they cannot disagree.
    """

    __slots__ = ("extras", "labelnames", "lines", "rows", "sample_names")

    def __init__(self, labelnames: tuple[str, ...], sample_names: tuple[str, ...],
                 extras: tuple[dict[str, str], ...], rows: Row, lines: LineCache) -> None:
        self.labelnames = labelnames
        self.sample_names = sample_names
        self.extras = extras  # per sample, labels beyond the row's own (a bucket's ``le``)
        self.rows = rows
        self.lines = lines  # the renderer's cache, per exposition style: row -> text before each value

    def samples(self, keys: Iterable[tuple[str, ...]] | None = None) -> list[Sample]:
        """The samples of every row (or of ``keys``), as prometheus-client's families hold them."""
        out: list[Sample] = []
        append = out.append
        labelnames, per_sample = self.labelnames, tuple(zip(self.sample_names, self.extras, strict=True))
        rows = self.rows
        for key, values in rows.items() if keys is None else ((key, rows[key]) for key in keys):
            labels = dict(zip(labelnames, key, strict=True))
            for (name, extra), value in zip(per_sample, values, strict=True):
                append(Sample(name, {**labels, **extra} if extra else labels, float(value)))
        return out


class LazyFamily(Metric):
    """A family whose samples are built from its :class:`Table` when someone first reads them.

    Any reader (prometheus-client's own writers, ``get_sample_value``, a restricted registry) sees
    the samples as before; our ``/metrics`` renderer reads the table instead while they are unread.
    """

    table: Table
    _built: list[Sample] | None

    @property
    def samples(self) -> list[Sample]:
        built = self._built
        if built is None:
            built = self._built = self.table.samples()
        return built

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        self._built = value

    @property
    def untouched(self) -> bool:
        """True while nobody has read or replaced the samples, so the table is all there is."""
        return self._built is None


class _LazyCounter(LazyFamily, CounterMetricFamily):
    pass


class _LazyGauge(LazyFamily, GaugeMetricFamily):
    pass


class _LazyHistogram(LazyFamily, HistogramMetricFamily):
    pass


_F = TypeVar("_F", bound=LazyFamily)


def _lazy(family: _F, table: Table) -> _F:
    family.table = table
    family._built = None  # Metric.__init__ set an empty list through the property
    return family


def _merge(rows: Row, key: tuple[str, ...], fine: list[int], total: float) -> None:
    row = rows.get(key)
    if row is None:
        rows[key] = [fine, total]  # fine is never mutated: a merge builds a new list
    else:
        row[0] = list(map(add, row[0], fine))
        row[1] += total


class _Histogram:
    """How one histogram's buckets are read off the fine counts: cumulative counts at its bounds."""

    __slots__ = ("at", "extras", "lines", "sample_names")

    def __init__(self, name: str, fine: tuple[float, ...], coarse: tuple[float, ...]) -> None:
        # every coarse bound is one of the fine bounds; the last fine slot is +Inf
        self.at = (*(fine.index(b) for b in coarse), len(fine))
        les = [semconv.bucket_label(b) for b in (*coarse, _INF)]
        self.sample_names = (*(name + "_bucket" for _ in les), name + "_count", name + "_sum")
        self.extras: tuple[dict[str, str], ...] = (*({"le": le} for le in les), {}, {})
        self.lines: LineCache = {}

    def table(self, labelnames: tuple[str, ...], rows: Row) -> Table:
        at = self.at
        out: Row = {}
        for key, (fine, total) in rows.items():
            running = list(accumulate(fine))
            out[key] = [*[running[i] for i in at], running[-1], total]
        return Table(labelnames, self.sample_names, self.extras, out, self.lines)


class RequestMetrics(Collector):
    """The request-path metrics (tool calls, tool and operation durations, in-flight calls).

    A custom collector rather than prometheus-client metric objects. Each thread writes its own
    shard, so the request path takes no lock: one dict lookup keyed by the raw outcome, one
    ``bisect`` over the union of both histograms' bounds and three additions (about 1 µs). A scrape
    merges the shards, folds the fine buckets into each histogram's own, and derives the label
    values (status, semconv ``error.type``, bounded method) from the raw keys (once per key). The
    families it returns build their samples only when read: ``/metrics`` writes their text straight
    from the counts (see ``_exposition``).

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
        self._tool = _Histogram(semconv.TOOL_DURATION_SECONDS, self._fine, self.tool_buckets)
        self._operation = _Histogram(semconv.SERVER_OPERATION_DURATION_SECONDS, self._fine, self._op_bounds)
        self._calls_lines: LineCache = {}
        self._flight_lines: LineCache = {}
        # raw outcome key -> the label values it adds to (see _derive); as bounded as the keys
        self._derived: dict[tuple[Any, ...], _Derived] = {}

    def _new_shard(self) -> _Shard:
        shard = self._local.shard = _Shard()
        with self._shards_lock:
            self._shards.append(shard)
        return shard

    def tool_started(self, tool_label: str) -> None:
        """A tools/call is in flight; counting it (:meth:`count`, :meth:`count_tool`) ends it."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        started = shard.started
        started[tool_label] = started.get(tool_label, 0) + 1

    def tool_relabel(self, old: str, new: str) -> None:
        """An in-flight call's label turned out to be ``new`` (it started as ``old``)."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        started = shard.started
        started[old] = started.get(old, 0) - 1
        started[new] = started.get(new, 0) + 1

    def count(self, method: str, tool: str, outcome: str, error_code: int | None, exception_type: str | None,
              error_result: bool, transport: str, duration: float) -> None:
        """One finished request, from its parts (the request path builds no CallRecord for this)."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        if method not in _SPEC_METHODS:  # a client names any method: keyed as its label, or it grows the keys
            method = _OTHER_METHOD
        key = (method, tool, outcome, error_code, exception_type, error_result, transport)
        series = shard.series.get(key)
        if series is None:
            series = shard.series[key] = _Series(self._fine_size)
        series.counts[bisect_left(self._fine, duration)] += 1
        series.sum += duration

    def count_tool(self, tool: str, outcome: str, error_code: int | None, exception_type: str | None,
                   error_result: bool, transport: str, duration: float) -> None:
        """:meth:`count` of a tools/call (the middleware's common case, without the method checks)."""
        shard = getattr(self._local, "shard", None) or self._new_shard()
        key = (_TOOLS_CALL, tool, outcome, error_code, exception_type, error_result, transport)
        series = shard.series.get(key)
        if series is None:
            series = shard.series[key] = _Series(self._fine_size)
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

    def _derive(self, key: tuple[Any, ...]) -> _Derived:
        """The label values a raw outcome key adds to: calls counter, tool histogram, semconv histogram."""
        method, label, outcome, error_code, exception_type, error_result, transport = key
        error_type = error_type_of(outcome, error_code, exception_type, error_result)
        per_tool = self.semconv_tool_label
        derived: _Derived
        if method == _TOOLS_CALL:
            ok = outcome == semconv.OUTCOME_OK
            status = semconv.STATUS_OK if ok else semconv.STATUS_ERROR
            op_key = (method, label, error_type, transport) if per_tool else (method, error_type, transport)
            derived = (label, status, "" if ok else outcome), (label, status), op_key
        else:
            name = method_label(method)
            derived = None, None, (name, "", error_type, transport) if per_tool else (name, error_type, transport)
        self._derived[key] = derived
        return derived

    def tables(self) -> tuple[Table, Table, Table, Table]:
        """The shards summed: calls counter, tool histogram, in-flight gauge, semconv histogram."""
        with self._shards_lock:
            shards = list(self._shards)
        calls: dict[tuple[str, ...], int] = {}
        tool_rows: Row = {}
        op_rows: Row = {}
        in_flight: dict[str, int] = {}
        derived = self._derived
        for shard in shards:
            # list() over a dict is a single C call: atomic under the GIL, so reading another
            # thread's shard needs no lock.
            for key, series in list(shard.series.items()):
                fine, total = list(series.counts), series.sum
                call_key, tool_key, op_key = derived.get(key) or self._derive(key)
                if call_key is not None and tool_key is not None:
                    finished = sum(fine)
                    calls[call_key] = calls.get(call_key, 0) + finished
                    in_flight[call_key[0]] = in_flight.get(call_key[0], 0) - finished
                    _merge(tool_rows, tool_key, fine, total)
                _merge(op_rows, op_key, fine, total)
        # Started after finished: a call that ends between the two reads counts as still in
        # flight, never as finished without having started (which would show a negative gauge).
        for shard in shards:
            for label, value in list(shard.started.items()):
                in_flight[label] = in_flight.get(label, 0) + value
        return (Table(_CALL_LABELS, (semconv.TOOL_CALLS_TOTAL,), ({},),
                       {key: [n] for key, n in calls.items()}, self._calls_lines),
                self._tool.table(_TOOL_LABELS, tool_rows),
                Table(_FLIGHT_LABELS, (semconv.TOOL_CALLS_IN_FLIGHT,), ({},),
                       {(label,): [n] for label, n in in_flight.items()}, self._flight_lines),
                self._operation.table(self._op_labels, op_rows))

    def collect(self) -> list[Metric]:
        calls, tool, in_flight, operation = self.tables()
        return [
            _lazy(_LazyCounter(semconv.TOOL_CALLS_TOTAL, "MCP tools/call requests by tool, status and error type.",
                               labels=_CALL_LABELS), calls),
            _lazy(_LazyHistogram(semconv.TOOL_DURATION_SECONDS, "Server-side duration of MCP tools/call requests.",
                                 unit="seconds"), tool),
            _lazy(_LazyGauge(semconv.TOOL_CALLS_IN_FLIGHT, "MCP tools/call requests currently being handled.",
                             labels=_FLIGHT_LABELS), in_flight),
            _lazy(_LazyHistogram(
                semconv.SERVER_OPERATION_DURATION_SECONDS,
                "MCP semantic conventions mcp.server.operation.duration: every request, receipt to result.",
                unit="seconds"), operation)]


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
        # Servers of one name share their info series: instrumentations holding each one.
        self._info_holders: dict[tuple[str, str], int] = {}
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
        self.count_tool = self.requests.count_tool

    def internal_error(self, component: str) -> None:
        self.internal_errors.labels(component).inc()

    def hold_info(self, version: str, server_name: str) -> None:
        """Show ``mcp_comply_info{version, server_name} 1`` while at least one instrumentation holds it."""
        with _lock:
            key = (version, server_name)
            self._info_holders[key] = self._info_holders.get(key, 0) + 1
            self.info.labels(version, server_name).set(1)

    def release_info(self, version: str, server_name: str) -> None:
        """Drop one hold; the series goes with the last (two servers of one name share it)."""
        with _lock:
            key = (version, server_name)
            left = self._info_holders[key] - 1
            if left > 0:
                self._info_holders[key] = left
                return
            del self._info_holders[key]
            # once: prometheus-client before 0.22 raises KeyError for a series it no longer has
            self.info.remove(version, server_name)


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
