"""pytest plugin for the official mcp SDK's own test suite: every MCP server the suite builds is
passed to ``mcp_comply.instrument()`` the moment it is constructed (``-p mcp_comply_autoinstrument``
with this folder on ``PYTHONPATH``). Used by ``.ci/sdk-suite`` to show that instrumenting changes
nothing the SDK does.

Each server gets its own Prometheus registry and the suite's own (global) tracer provider, so
spans are enriched exactly as in an application; settings never come from the environment.
"""

from __future__ import annotations

import threading
from typing import Any

_building = threading.local()
_patched: list[tuple[type, Any]] = []


def _server_classes() -> list[type]:
    classes: list[type] = []
    try:  # mcp 2.x
        from mcp.server.mcpserver import MCPServer

        classes.append(MCPServer)
    except ImportError:
        from mcp.server.fastmcp import FastMCP  # mcp 1.x

        classes.append(FastMCP)
    from mcp.server.lowlevel import Server

    classes.append(Server)
    return classes


def _instrumenting(init: Any) -> Any:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        depth = getattr(_building, "depth", 0)
        _building.depth = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            _building.depth = depth
        if depth == 0:  # not the low-level server a high-level one builds inside itself
            from prometheus_client import CollectorRegistry

            from mcp_comply import instrument

            instrument(self, registry=CollectorRegistry(), env={})

    __init__.__wrapped__ = init  # type: ignore[attr-defined]
    return __init__


def pytest_configure(config: Any) -> None:
    # Package metadata is read once, here, not inside the first test's event loop (the suite
    # fails any blocking call made there).
    from mcp_comply.instrument._frameworks import check_versions, mcp_generation

    mcp_generation()
    check_versions("mcp.Server")
    for cls in _server_classes():
        original = cls.__init__
        _patched.append((cls, original))
        cls.__init__ = _instrumenting(original)  # type: ignore[misc]


def pytest_unconfigure(config: Any) -> None:
    while _patched:
        cls, original = _patched.pop()
        cls.__init__ = original  # type: ignore[misc]
