"""Set up the OpenTelemetry SDK with the OTLP exporter when the application did not, and the
standard ``OTEL_*`` variables ask for export.

Spans are exported by a BatchSpanProcessor on its own thread: a collector that is down or slow
costs the request path nothing but a bounded queue append (spans beyond the queue are dropped).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import propagation

PRIVATE = (
    "opentelemetry.context._RUNTIME_CONTEXT._current_context",
    "opentelemetry.trace.propagation._SPAN_KEY",
)
"""Private names of the OpenTelemetry API read by :func:`span_probe` (see the contract tests)."""

_lock = threading.Lock()
_configured: object | None = None


def export_requested(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return exporter == "otlp" or bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                                      or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def span_probe() -> tuple[Callable[[], Mapping[str, object]], str]:
    """``(current, key)`` such that ``current().get(key) is None`` exactly when no span is set in
    the current OpenTelemetry context, i.e. when ``trace.get_current_span()`` is the invalid,
    non-recording span. Two C calls per request instead of the API's four Python functions and an
    ABC ``isinstance``: the runtime context's own ``ContextVar.get`` and the span key. Where the
    runtime context is not the contextvars one (``OTEL_PYTHON_CONTEXT``) or the API moved, the
    probe never says "no span", and the caller asks the public API every time."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    key = getattr(propagation, "_SPAN_KEY", None)
    if type(runtime) is ContextVarsRuntimeContext and isinstance(var, ContextVar) and isinstance(key, str):
        return var.get, key
    return _always_a_span, UNKNOWN_SPAN_KEY


UNKNOWN_SPAN_KEY = "mcp_comply.unknown"
"""The key :func:`span_probe` returns when it could not find the API's: a mapping that always has it."""
_ALWAYS_A_SPAN: Mapping[str, object] = {UNKNOWN_SPAN_KEY: True}


def _always_a_span() -> Mapping[str, object]:
    return _ALWAYS_A_SPAN


def sdk_configured() -> bool:
    """Whether the application already installed a real TracerProvider (not the API's proxy)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def maybe_configure(service_name: str, env: Mapping[str, str] | None = None) -> object | None:
    """Install an SDK TracerProvider exporting over OTLP; returns it, or None when not wanted."""
    global _configured  # noqa: PLW0603 - one process-wide provider, set at most once
    env = os.environ if env is None else env
    with _lock:
        if _configured is not None or sdk_configured() or not export_requested(env):
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                    or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf")
        if protocol == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

            exporter: object = Grpc()
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

            exporter = Http()
        attrs = {"service.name": env.get("OTEL_SERVICE_NAME") or service_name}
        provider = TracerProvider(resource=Resource.create(attrs))
        provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
        trace.set_tracer_provider(provider)
        _configured = provider
        return provider


def shutdown_bounded(provider: object, timeout_s: float = 2.0) -> None:
    """Flush and shut down without letting an unreachable collector hold up process exit."""
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is None:
        return
    worker = threading.Thread(target=shutdown, name="mcp-comply-otel-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)

