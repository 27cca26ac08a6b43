"""Observability and compliance for Python MCP servers.

    from mcp_comply import instrument
    instrument(server)   # MCPServer, low-level Server or fastmcp.FastMCP

Importing this package is cheap: it never imports an MCP framework.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from mcp_comply.exceptions import ConfigError, InstrumentationError, MCPComplyError, MissingExtraError
from mcp_comply.instrument import Instrumentation, instrument

try:
    __version__ = version("mcp-comply")
except PackageNotFoundError:  # pragma: no cover - only when run from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = [
    "ConfigError",
    "InstrumentationError",
    "Instrumentation",
    "MCPComplyError",
    "MissingExtraError",
    "__version__",
    "instrument",
]
