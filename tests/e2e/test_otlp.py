"""OTLP export set up from OTEL_* variables; a collector that is down or hangs never fails a call."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mcp_comply.demo import free_port

SCRIPT = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import anyio
from mcp import Client
from opentelemetry import trace
from prometheus_client import CollectorRegistry
import servers
from mcp_comply import instrument

server = servers.build_mcpserver()
handle = instrument(server, registry=CollectorRegistry())
provider = trace.get_tracer_provider()

async def go():
    ok = 0
    async with Client(server) as client:
        for i in range(200):
            result = await client.call_tool("add", {"a": i, "b": 1})
            ok += result.is_error is False
    return ok

ok = anyio.run(go)
processor = provider._active_span_processor._span_processors[0]
exporter = processor._batch_processor._exporter
t0 = time.monotonic()
handle.close()
print(json.dumps({"ok": ok, "provider": type(provider).__module__ + "." + type(provider).__name__,
                  "exporter": type(exporter).__module__, "endpoint": exporter._endpoint,
                  "close_s": time.monotonic() - t0}))
"""


def _run(endpoint: str, extra: dict[str, str] | None = None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "50",
                "OTEL_EXPORTER_OTLP_TIMEOUT": "30", "MCP_COMPLY_LOG_LEVEL": "warning"}, **(extra or {}))
    tests_dir = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", SCRIPT, tests_dir], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.e2e
def test_collector_down_never_fails_a_call() -> None:
    port = free_port()  # nothing listens here
    result = _run(f"http://127.0.0.1:{port}")
    assert result["ok"] == 200
    assert result["provider"] == "opentelemetry.sdk.trace.TracerProvider"
    assert result["exporter"] == "opentelemetry.exporter.otlp.proto.http.trace_exporter"
    assert result["endpoint"] == f"http://127.0.0.1:{port}/v1/traces"
    assert float(str(result["close_s"])) < 5.0  # shutdown is bounded, whatever the exporter timeout


@pytest.mark.e2e
def test_collector_that_hangs_never_fails_a_call() -> None:
    """A collector that accepts connections and never answers (a black hole)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        held: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                    held.append(conn)
                except OSError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            result = _run(f"http://127.0.0.1:{port}")
        finally:
            stop.set()
            thread.join(timeout=5)
            for conn in held:
                conn.close()
    assert result["ok"] == 200
    assert float(str(result["close_s"])) < 5.0
    assert held  # the exporter really tried to talk to it


@pytest.mark.e2e
def test_no_export_without_otel_variables() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    code = ("import servers; from mcp_comply import instrument; from opentelemetry import trace; "
            "from prometheus_client import CollectorRegistry; "
            "instrument(servers.build_mcpserver(), registry=CollectorRegistry()); "
            "print(type(trace.get_tracer_provider()).__name__)")
    tests_dir = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=tests_dir, timeout=60, check=True)
    assert out.stdout.strip() == "ProxyTracerProvider"
