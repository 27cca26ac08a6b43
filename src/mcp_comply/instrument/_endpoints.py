"""``/metrics``, ``/healthz`` and ``/readyz``: on a small loopback HTTP server, or as Starlette
routes mounted on a streamable-HTTP server's own app."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from mcp_comply.instrument._exposition import render

ReadinessCheck = Callable[[], tuple[bool, str]]


class Health:
    """Liveness is "the process answers"; readiness is every registered check passing."""

    def __init__(self) -> None:
        self.checks: dict[str, ReadinessCheck] = {}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        results: dict[str, Any] = {}
        ready = True
        for name, check in self.checks.items():
            try:
                ok, detail = check()
            except Exception as exc:  # noqa: BLE001 - a broken check means "not ready", not a crash
                ok, detail = False, f"check failed: {type(exc).__name__}"
            results[name] = {"ok": ok, "detail": detail}
            ready = ready and ok
        return ready, {"status": "ready" if ready else "not ready", "checks": results}


def render_metrics(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The body and content type prometheus-client would serve for this ``Accept`` header."""
    encoder, content_type = choose_encoder(accept or "")
    return render(registry, encoder), content_type


class EndpointServer:
    """A daemon-thread HTTP server; binds at construction so port 0 yields a real port."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int) -> None:

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, ctype = render_metrics(registry, self.headers.get("Accept"))
                    self._send(200, body, ctype)
                elif path == "/healthz":
                    self._send(200, b'{"status":"ok"}', "application/json")
                elif path == "/readyz":
                    ready, doc = health.readiness()
                    self._send(200 if ready else 503, json.dumps(doc, sort_keys=True).encode(),
                               "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # the default writes to stderr per request; scrapes are not news

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="mcp-comply-metrics",
                                        daemon=True)
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def starlette_routes(registry: CollectorRegistry, health: Health) -> list[Any]:
    """The same three endpoints as Starlette routes, for ``app.routes.extend(...)``."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def metrics(request: Request) -> Response:
        body, ctype = render_metrics(registry, request.headers.get("accept"))
        return Response(body, media_type=ctype)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        ready, doc = health.readiness()
        return JSONResponse(doc, status_code=200 if ready else 503)

    return [Route("/metrics", metrics, methods=["GET"]), Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"])]
