"""Which tools a server registers: the bound on the ``tool`` label and the basis of ``unknown_tool``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Loader = Callable[[Any], Awaitable[Mapping[str, Any]]]

# A hostile client calling random tool names must not turn every call into a tool-list reload.
_RELOAD_INTERVAL_S = 5.0
_MAX_TOOLS = 10_000


class ToolCatalog:
    """Tool names (and input schemas when known) of one server.

    Three sources, whichever the framework offers: a live mapping owned by the framework
    (MCPServer's tool manager), an async loader that asks the server (rate-limited), and the
    ``tools/list`` results that pass through the middleware.
    """

    def __init__(self, live: Mapping[str, Any] | None = None, loader: Loader | None = None) -> None:
        self._live = live
        self._loader = loader
        self._schemas: dict[str, Any] = {}
        self._loaded_at = float("-inf")

    def __contains__(self, name: object) -> bool:
        return name in self._schemas or (self._live is not None and name in self._live)

    async def contains(self, name: str, ctx: Any) -> bool:
        """Whether ``name`` is registered, reloading from the server at most every few seconds."""
        if name in self:
            return True
        if self._loader is not None and time.monotonic() - self._loaded_at >= _RELOAD_INTERVAL_S:
            self._loaded_at = time.monotonic()
            self.replace(await self._loader(ctx))
        return name in self

    def replace(self, schemas: Mapping[str, Any]) -> None:
        self._schemas = dict(list(schemas.items())[:_MAX_TOOLS])

    def learn(self, result: object) -> None:
        """Take tool names and schemas from a ``tools/list`` result (wire dict or model)."""
        tools = result.get("tools") if isinstance(result, dict) else getattr(result, "tools", None)
        if not isinstance(tools, list):
            return
        for tool in tools:
            if len(self._schemas) >= _MAX_TOOLS:
                return
            if isinstance(tool, dict):
                name, schema = tool.get("name"), tool.get("inputSchema")
            else:
                name, schema = getattr(tool, "name", None), getattr(tool, "input_schema", None)
            if isinstance(name, str):
                self._schemas[name] = schema

    def schema(self, name: str) -> Any:
        return self._schemas.get(name)
