"""Set up the OpenTelemetry SDK with the OTLP exporter when the application did not, and the
standard ``OTEL_*`` variables ask for export.

Spans are exported by a BatchSpanProcessor on its own thread: a collector that is down or slow
costs the request path nothing but a bounded queue append (spans beyond the queue are dropped).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace import propagation

PRIVATE = (
    "opentelemetry.context._RUNTIME_CONTEXT._current_context",
    "opentelemetry.trace.propagation._SPAN_KEY",
    "opentelemetry.sdk.trace.Span._lock, _end_time, _attributes",
    "opentelemetry.attributes.BoundedAttributes._lock, _immutable, _setitem_locked",
)
"""Private names of the OpenTelemetry API and SDK read by :func:`span_probe` and
:func:`set_attributes_fast` (see the contract tests)."""

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


# -- attributes on an SDK span without the SDK's per-attribute checks -------------------------------

SET_ATTRIBUTE_SOURCE_SHA256 = "a03886788981e8ec8a440d58493038e0d8fed2398968c683a09aa039f8ef6653"
"""SHA-256 of the source of what :func:`set_attributes_fast` stands in for (see
:func:`_replaced_source`): the fast path is taken only where the installed SDK's code is the code it
was checked against, so an SDK release that changes it gets the public API."""

_PLAIN = frozenset({str, int, float, bool})
_fast_span_types: dict[type, bool] = {}
_bounded: list[Any] = []  # opentelemetry.attributes.BoundedAttributes, once verified


def _replaced_source() -> str:
    """The SDK code :func:`set_attributes_fast` does the work of: ``Span.set_attribute`` and
    ``set_attributes`` (lock, ended check), ``BoundedAttributes.__setitem__``, ``_set_items`` and
    ``_raise_if_immutable`` (the mutability, count-limit and key checks), ``_clean_attribute_value``
    (what a plain value becomes). ``_setitem_locked`` (the count limit's eviction) is called, not
    replaced."""
    import inspect

    from opentelemetry import attributes
    from opentelemetry.sdk.trace import Span as SdkSpan

    bounded = attributes.BoundedAttributes
    parts = (SdkSpan.set_attribute, SdkSpan.set_attributes, bounded.__setitem__, bounded._set_items,
             bounded._raise_if_immutable, attributes._clean_attribute_value)
    return "".join(inspect.getsource(part) for part in parts)


def _verify(kind: type) -> bool:
    """Whether spans of ``kind`` may take :func:`set_attributes_fast`: the SDK's span class (or a
    subclass that does not override setting attributes) of an SDK whose replaced code is the one
    checked."""
    try:
        from opentelemetry import attributes
        from opentelemetry.sdk.trace import Span as SdkSpan

        if not (issubclass(kind, SdkSpan) and kind.set_attribute is SdkSpan.set_attribute
                and kind.set_attributes is SdkSpan.set_attributes):
            return False
        verified = hashlib.sha256(_replaced_source().encode()).hexdigest() == SET_ATTRIBUTE_SOURCE_SHA256
    except Exception:  # noqa: BLE001 - no SDK, no source, another layout: the public API it is
        return False
    if verified and not _bounded:
        _bounded.append(attributes.BoundedAttributes)
    return verified


def set_attributes_fast(span: Any, attrs: Mapping[str, Any]) -> bool:
    """``span.set_attributes(attrs)`` for a recording SDK span, without the per-attribute calls:
    under the span's lock and then its attributes' lock, as the SDK, each item goes to
    ``BoundedAttributes._setitem_locked`` (which applies the count limit, evicting the oldest as
    the SDK does). Returns False, having done nothing, where the SDK's own checks could do more
    than pass the values through: not a verified SDK span, attributes immutable or limited to
    none, an ended span (whose warning is the SDK's), a key that is not a non-empty ``str``, a
    value that is not a plain ``str``/``int``/``float``/``bool`` or a string over the length
    limit; the caller then uses the public API. With valid keys and plain values within the
    limits, the SDK's checks pass every value through unchanged and drop nothing, so the span
    ends with the same attributes in the same order and the same ``dropped`` count."""
    kind = type(span)
    fast = _fast_span_types.get(kind)
    if fast is None:
        fast = _fast_span_types[kind] = _verify(kind)
    if not fast:
        return False
    bounded: Any = span._attributes
    if type(bounded) is not _bounded[0] or bounded._immutable or bounded.maxlen == 0:
        return False
    limit = bounded.max_value_len
    for key, value in attrs.items():
        plain = type(value)
        if (plain not in _PLAIN or type(key) is not str or not key
                or (limit is not None and plain is str and len(value) > limit)):
            return False
    with span._lock:
        if span._end_time is not None:
            return False
        with bounded._lock:
            setitem = bounded._setitem_locked
            for key, value in attrs.items():
                setitem(key, value)
    return True
