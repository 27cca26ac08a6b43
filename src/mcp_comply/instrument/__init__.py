"""``instrument(server)``: one line makes an MCP server observable.

    from mcp.server.mcpserver import MCPServer
    from mcp_comply import instrument

    server = MCPServer("weather")
    handle = instrument(server, metrics_port=9464)   # /metrics, /healthz, /readyz on 127.0.0.1
    server.run("stdio")
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry

from mcp_comply import semconv
from mcp_comply._log import get_logger
from mcp_comply._record import CallRecord
from mcp_comply.config import Policy, load_policy, metrics_port_from_env
from mcp_comply.exceptions import InstrumentationError
from mcp_comply.instrument._core import Recorder, Sink
from mcp_comply.instrument._endpoints import EndpointServer, Health, starlette_routes
from mcp_comply.instrument._frameworks import Binding, bind, check_versions, detect
from mcp_comply.instrument._metrics import Metrics, metrics_for
from mcp_comply.instrument._otel import maybe_configure, shutdown_bounded
from mcp_comply.instrument._signals import SigtermSeal

if TYPE_CHECKING:
    from mcp_comply.audit.sink import AuditSink

__all__ = ["CallRecord", "Instrumentation", "instrument", "instrumentation_of"]

_log = get_logger()
_lock = threading.Lock()
_handles: weakref.WeakKeyDictionary[Any, Instrumentation] = weakref.WeakKeyDictionary()


def instrumentation_of(server: Any) -> Instrumentation | None:
    """The active handle of an instrumented server (None when instrument() was not called on it)."""
    handle = _handles.get(server)
    return handle if handle is not None and handle.active else None


def _package_version() -> str:
    from mcp_comply import __version__

    return __version__


class Instrumentation:
    """The handle instrument() returns: undo it, close it, read its registry, mount its routes."""

    def __init__(self, server: Any, binding: Binding, recorder: Recorder, metrics: Metrics,
                 policy: Policy, health: Health, endpoint: EndpointServer | None, installed: list[Any],
                 otel_provider: object | None, audit: AuditSink | None = None) -> None:
        self.server = server
        self.framework = binding.framework
        self.policy = policy
        self.health = health
        self._binding = binding
        self._recorder = recorder
        self._metrics = metrics
        self._endpoint = endpoint
        self._installed = installed
        self._otel_provider = otel_provider
        self.audit = audit
        """The audit sink (its ``writer`` has the chain, directory and health), when auditing."""
        self._sigterm: SigtermSeal | None = None
        self._active = True
        self.health.checks["instrumentation"] = lambda: (self._active, "active" if self._active
                                                         else "uninstrumented")

    @property
    def registry(self) -> CollectorRegistry:
        return self._metrics.registry

    @property
    def metrics_url(self) -> str | None:
        """Where ``/metrics`` is served, when ``metrics_port`` was given."""
        return self._endpoint.url if self._endpoint is not None else None

    @property
    def active(self) -> bool:
        return self._active

    def add_sink(self, sink: Sink) -> None:
        """Receive every :class:`CallRecord` (called on the request path: keep it cheap)."""
        self._recorder.sinks.append(sink)

    def routes(self) -> list[Any]:
        """``/metrics``, ``/healthz``, ``/readyz`` as Starlette routes for the server's own app:
        ``app = server.streamable_http_app(); app.routes.extend(handle.routes())``."""
        return starlette_routes(self.registry, self.health)

    def uninstrument(self) -> None:
        """Restore the server exactly as it was before instrument()."""
        with _lock:
            if not self._active:
                return
            self._active = False
            self._recorder.enabled = False
            for undo in reversed(self._binding.undo):
                undo()
            self._metrics.release_info(_package_version(), self._binding.server_name)
            if _handles.get(self.server) is self:
                del _handles[self.server]
        self.close()

    def close(self) -> None:
        """Flush and stop what instrument() started: the audit writer (final checkpoint and close
        record), the metrics endpoint, an OTLP exporter."""
        if self.audit is not None:
            self._recorder.sinks[:] = [s for s in self._recorder.sinks if s is not self.audit]
            self.audit.close()
            atexit.unregister(self.close)
            if self._sigterm is not None:
                self._sigterm.uninstall()
        if self._endpoint is not None:
            self._endpoint.close()
        if self._otel_provider is not None:
            shutdown_bounded(self._otel_provider)
            self._otel_provider = None


def instrument(
    server: Any,
    *,
    policy: str | os.PathLike[str] | Policy | None = None,
    audit_dir: str | os.PathLike[str] | None = None,
    metrics_port: int | None = None,
    metrics_host: str | None = None,
    registry: CollectorRegistry | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    env: Mapping[str, str] | None = None,
) -> Instrumentation:
    """Instrument an MCP server in place and return the handle.

    Works on ``mcp.server.mcpserver.MCPServer`` (mcp 2.x), ``mcp.server.fastmcp.FastMCP`` (mcp 1.x),
    the low-level ``mcp.server.Server`` (both) and ``fastmcp.FastMCP`` (2.x, 3.x, 4.x).
    Calling it again on the same server returns the same handle.
    Settings not given as arguments come from ``MCP_COMPLY_POLICY``, ``MCP_COMPLY_AUDIT_DIR``,
    ``MCP_COMPLY_AUDIT_SIGNING_KEY``, ``MCP_COMPLY_METRICS_PORT`` and ``MCP_COMPLY_METRICS_HOST``;
    tracing honours the standard ``OTEL_*`` variables.
    """
    framework = detect(server)
    with _lock:
        existing = _handles.get(server)
        if existing is not None:
            return existing
    check_versions(framework)
    env = os.environ if env is None else env

    resolved = _resolve_policy(policy, env)
    audit_source = audit_dir if audit_dir is not None else (env.get(semconv.ENV_AUDIT_DIR)
                                                            or resolved.audit.directory)
    host = metrics_host or env.get(semconv.ENV_METRICS_HOST) or resolved.metrics.host
    port = metrics_port if metrics_port is not None else metrics_port_from_env(env)
    if port is None:
        port = resolved.metrics.port

    with _lock:
        existing = _handles.get(server)
        if existing is not None:
            return existing
        # before bind(): a refused registry leaves the server untouched
        metrics = metrics_for(registry, resolved.tool_duration_buckets, resolved.metrics.semconv_tool_label)
        binding = bind(server, framework)
        otel_provider = None
        if resolved.tracing.enabled and resolved.tracing.auto_configure and tracer_provider is None:
            otel_provider = maybe_configure(binding.server_name, env)
        provider = tracer_provider or trace.get_tracer_provider()
        tracer = provider.get_tracer(semconv.TRACER_NAME, _package_version())
        recorder = Recorder(framework=framework, metrics=metrics, tracer=tracer, catalog=binding.catalog,
                            sinks=[], protocol_error=binding.protocol_error, params_error=binding.params_error,
                            span_has_ids=binding.span_has_ids)
        recorder.client_errors_as_span_errors = resolved.tracing.client_errors_as_span_errors
        # The framework adapter installs the recorder (middleware on mcp 2.x, handler wrappers
        # on mcp 1.x) and registers its own undo in binding.undo.
        recording = binding.attach(recorder, resolved.tracing)
        installed: list[Any] = list(recording)

        health = Health()
        endpoint = None
        sink = None
        try:
            if audit_source:
                from mcp_comply.audit.sink import AuditSink

                try:
                    sink = AuditSink(resolved.audit, Path(audit_source), server_name=binding.server_name,
                                     policy_name=resolved.name, metrics=metrics, schemas=binding.catalog,
                                     env=dict(env))
                except OSError as exc:
                    raise InstrumentationError(
                        f"cannot open the audit log in {audit_source}: {exc.strerror or exc}") from exc
                recorder.sinks.append(sink)
                health.checks["audit"] = sink.writer.readiness
                if sink.fail_closed:
                    gate = _refusing_gate(sink, binding.make_error)
                    for ours in recording:
                        ours.gate = gate
            if port is not None:
                try:
                    endpoint = EndpointServer(metrics.registry, health, host, port)
                except OSError as exc:
                    raise InstrumentationError(
                        f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from exc
        except BaseException:
            # leave the server exactly as it was
            if sink is not None:
                sink.close()
            for undo in reversed(binding.undo):
                undo()
            raise
        handle = Instrumentation(server, binding, recorder, metrics, resolved, health, endpoint, installed,
                                 otel_provider, sink)
        metrics.hold_info(_package_version(), binding.server_name)
        _handles[server] = handle
        if sink is not None:
            # A process that ends normally (stdio EOF, SystemExit, Ctrl-C) or by SIGTERM seals its
            # chain: close record and final signed checkpoint. kill -9 leaves a tail the next start
            # recovers and signs.
            atexit.register(handle.close)
            handle._sigterm = SigtermSeal(handle.close)
            handle._sigterm.install()
    _log.info("mcp_comply_instrumented", server=binding.server_name, framework=framework,
              metrics_url=handle.metrics_url, spans=binding.spans,
              audit_chain=str(sink.writer.chain_dir) if sink is not None else None)
    if sink is not None and not sink.signed:
        _log.warning("mcp_comply_audit_unsigned", detail="no audit.signing_key or MCP_COMPLY_AUDIT_SIGNING_KEY: "
                     "checkpoints are written unsigned, so a rewrite of log and checkpoints is not detectable")
    return handle


def _refusing_gate(sink: AuditSink, make_error: Any) -> Any:
    from mcp_comply.audit.sink import AuditRefusal

    async def gate(req: Any) -> None:
        try:
            await sink.gate(req)
        except AuditRefusal:
            raise make_error(semconv.INTERNAL_ERROR,
                             "audit log unavailable: the call was refused (fail-closed policy)") from None

    return gate


def _resolve_policy(policy: str | os.PathLike[str] | Policy | None, env: Mapping[str, str]) -> Policy:
    if isinstance(policy, Policy):
        return policy
    source = policy if policy is not None else env.get(semconv.ENV_POLICY)
    return load_policy(source) if source else Policy()
