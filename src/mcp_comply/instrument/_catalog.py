"""Which tools a server registers: the bound on the ``tool`` label and the basis of ``unknown_tool``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Loader = Callable[[Any], Awaitable[Mapping[str, Any]]]
Probe = Callable[[str], Awaitable[bool]]

# A hostile client calling random tool names must not turn every call into a tool-list reload.
_RELOAD_INTERVAL_S = 5.0
_MAX_TOOLS = 10_000
# Names a server served successfully but never listed (a low-level server may list nothing):
# each becomes its own label, up to this many; the cardinality bound against a server that
# answers any name.
_MAX_UNLISTED = 100


class ToolCatalog:
    """Tool names (and input schemas when known) of one server.

    Four sources, whichever the framework offers: a live mapping owned by the framework
    (MCPServer's tool manager), the ``tools/list`` results that pass through the middleware,
    successful calls (:meth:`prove`), and an async loader that asks the server (rate-limited; used
    only after a call of an unseen name failed, so the server's own handlers never run before or
    around a call that needs no lookup).
    """

    def __init__(self, live: Mapping[str, Any] | None = None, loader: Loader | None = None,
                 probe: Probe | None = None) -> None:
        self._live = live
        self._loader = loader
        # asks the framework about one name, without running anything of the server's (fastmcp
        # 4.x: listing would rename the request's span); preferred to the loader
        self._probe = probe
        self._schemas: dict[str, Any] = {}
        self._proven: set[str] = set()
        self._loaded_at = float("-inf")

    @property
    def live(self) -> Mapping[str, Any] | None:
        """The framework's own registry, when it offers one (read live: tools added later count)."""
        return self._live

    def __contains__(self, name: object) -> bool:
        live = self._live  # the framework's own registry first: where a registered tool is found
        return (live is not None and name in live) or name in self._schemas or name in self._proven

    def prove(self, name: str) -> bool:
        """A call of ``name`` succeeded: the server serves that tool. Whether it is now known
        (False only beyond the bound on names never listed, or when a live mapping that the
        framework owns says otherwise)."""
        if name in self:
            return True
        if self._live is not None or len(self._proven) >= _MAX_UNLISTED:
            return False
        self._proven.add(name)
        return True

    async def contains(self, name: str, ctx: Any) -> bool:
        """Whether ``name`` is registered, reloading from the server at most every few seconds."""
        if name in self:
            return True
        if self._probe is not None:
            if not await self._probe(name):
                return False
            if len(self._schemas) < _MAX_TOOLS:
                self._schemas[name] = None
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
