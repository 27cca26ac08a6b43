"""Which test modules apply to the installed framework generation (mcp 1.x or 2.x)."""

from __future__ import annotations

import servers

# Modules written against the mcp 2.x client API (mcp.Client) and those against mcp 1.x
# (ClientSession over the SDK's memory streams); the framework matrix runs each environment's own.
_V2_ONLY = ["test_instrument.py", "test_metrics.py", "test_outcomes.py", "test_spans.py"]
_V1_ONLY = ["test_v1.py"]

collect_ignore = _V2_ONLY if servers.MCP_MAJOR < 2 else _V1_ONLY
