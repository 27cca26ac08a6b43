"""Real transports: a uvicorn server in a thread on an ephemeral loopback port, and subprocesses."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_http(app: Any) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 until the block ends; yields the MCP endpoint URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


# Modules written against the mcp 2.x client (mcp.Client) and the mcp 1.x one (ClientSession);
# each environment of the framework matrix collects its own.
import servers  # noqa: E402

collect_ignore = (["test_http.py", "test_otlp.py", "test_prometheus.py", "test_stdio.py"]
                  if servers.MCP_MAJOR < 2 else ["test_v1_transports.py"])
