"""Prometheus metrics of contract 2, one set per registry, with label children cached for speed."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from mcp_comply import semconv
from mcp_comply.instrument._record import CallRecord, method_label, semconv_error_type

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Metrics] = weakref.WeakKeyDictionary()


class Metrics:
    """The metric objects of one registry. Use :func:`metrics_for` rather than constructing twice:
    prometheus-client refuses a second registration of the same name in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.tool_calls = Counter(
            semconv.TOOL_CALLS_TOTAL, "MCP tools/call requests by tool, status and error type.",
            (semconv.LABEL_TOOL, semconv.LABEL_STATUS, semconv.LABEL_ERROR_TYPE), registry=registry,
        )
        self.tool_duration = Histogram(
            semconv.TOOL_DURATION_SECONDS, "Server-side duration of MCP tools/call requests.",
            (semconv.LABEL_TOOL, semconv.LABEL_STATUS), buckets=semconv.TOOL_DURATION_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            semconv.TOOL_CALLS_IN_FLIGHT, "MCP tools/call requests currently being handled.",
            (semconv.LABEL_TOOL,), registry=registry,
        )
        self.operation_duration = Histogram(
            semconv.SERVER_OPERATION_DURATION_SECONDS,
            "MCP semantic conventions mcp.server.operation.duration: every request, receipt to result.",
            (semconv.LABEL_MCP_METHOD_NAME, semconv.LABEL_GEN_AI_TOOL_NAME, semconv.LABEL_ERROR_TYPE,
             semconv.LABEL_NETWORK_TRANSPORT),
            buckets=semconv.SEMCONV_OPERATION_BUCKETS, registry=registry,
        )
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
        # labels() takes a lock and builds a key each call; caching the children keeps the request
        # path to a dict lookup. Keys are bounded because every label value is bounded.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, key: tuple[Any, ...], metric: Any, *values: str) -> Any:
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*values)
            self._children[key] = child
        return child

    def tool_started(self, tool_label: str) -> None:
        self._child(("f", tool_label), self.in_flight, tool_label).inc()

    def tool_finished(self, tool_label: str) -> None:
        self._child(("f", tool_label), self.in_flight, tool_label).dec()

    def observe(self, record: CallRecord) -> None:
        """Count one finished request."""
        duration = record.duration_s
        method = record.method
        error_type = semconv_error_type(record)
        transport = record.transport or ""
        if method == semconv.METHOD_TOOLS_CALL:
            tool = record.tool_label
            status = record.status
            outcome = "" if record.outcome == semconv.OUTCOME_OK else record.outcome
            self._child(("c", tool, status, outcome), self.tool_calls, tool, status, outcome).inc()
            self._child(("d", tool, status), self.tool_duration, tool, status).observe(duration)
            self._child(("o", method, tool, error_type, transport), self.operation_duration,
                        method, tool, error_type, transport).observe(duration)
        else:
            label = method_label(method)
            self._child(("o", label, "", error_type, transport), self.operation_duration,
                        label, "", error_type, transport).observe(duration)

    def internal_error(self, component: str) -> None:
        self._child(("e", component), self.internal_errors, component).inc()


def metrics_for(registry: CollectorRegistry | None) -> Metrics:
    """The one :class:`Metrics` of ``registry`` (default: prometheus-client's global registry)."""
    reg = REGISTRY if registry is None else registry
    with _lock:
        metrics = _by_registry.get(reg)
        if metrics is None:
            metrics = Metrics(reg)
            _by_registry[reg] = metrics
        return metrics
