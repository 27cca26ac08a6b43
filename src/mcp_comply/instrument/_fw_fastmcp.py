"""fastmcp 2.x, 3.x and 4.x: the only module that touches fastmcp's private attributes. Each is
listed in :data:`PRIVATE` and pinned by ``tests/instrument/test_contracts.py``.

fastmcp runs on the SDK's low-level server (``FastMCP._mcp_server``): mcp 1.x under fastmcp 2/3,
mcp 2.x under fastmcp 4. Requests are recorded there by the SDK adapter of that generation; what
fastmcp adds is its public ``Middleware``, which sees a tool's failure as an exception before it
becomes an ``isError`` result, and, from 3.0 on, its own server span, which we enrich instead of
opening a second one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry.trace import INVALID_SPAN

from mcp_comply import semconv
from mcp_comply.instrument._core import current_request, exception_name

PRIVATE = (
    "FastMCP._mcp_server",
    "fastmcp.server.low_level.FastMCPServerMiddleware (4.x)",
    "fastmcp.server.server.server_span (3.x)",
)
"""Private names this adapter relies on (see the contract tests)."""

# The methods fastmcp 3.x opens its own server span for (inside FastMCP.call_tool and friends).
SPANNED_V3 = frozenset({
    semconv.METHOD_TOOLS_CALL, semconv.METHOD_TOOLS_LIST, "resources/list", "resources/templates/list",
    "resources/read", "prompts/list", semconv.METHOD_PROMPTS_GET,
})


def version_string() -> str:
    import fastmcp

    return str(getattr(fastmcp, "__version__", "") or "")


def lowlevel_of(server: Any) -> Any:
    return server._mcp_server


def span_owner_v4() -> type:
    from fastmcp.server.low_level import FastMCPServerMiddleware

    owner: type = FastMCPServerMiddleware
    return owner


def tool_loader(server: Any, fastmcp_major: int) -> Callable[[Any], Awaitable[Mapping[str, Any]]]:
    """Ask the server for its tools without running its middleware."""

    async def load(_ctx: Any) -> Mapping[str, Any]:
        if fastmcp_major < 3:
            tools = await server.get_tools()
            return {t.name: t.parameters for t in tools.values()}
        # our own lookup is not a request: no fastmcp span for it, and the request's span hook
        # stays for the request
        token = _quiet.set(True)
        try:
            listed = await server.list_tools(run_middleware=False)
        finally:
            _quiet.reset(token)
        return {t.name: t.parameters for t in listed}

    return load


def tool_probe(server: Any, fastmcp_major: int) -> Callable[[str], Awaitable[bool]] | None:
    """fastmcp 4.x: whether one tool name is served (``get_tool``: enabled and authorized), without
    the span ``list_tools`` opens or enriches; that would rename the request's span once the call
    has left fastmcp's own span. None before 4.x (the loader serves)."""
    if fastmcp_major < 4:
        return None

    async def probe(name: str) -> bool:
        return await server.get_tool(name) is not None

    return probe


def access_token_reader() -> Callable[[], Any] | None:
    try:
        from fastmcp.server.dependencies import get_access_token
    except ImportError:  # pragma: no cover - every supported fastmcp has it
        return None

    def read() -> Any:
        try:
            return get_access_token()
        except RuntimeError:
            return None

    return read


def classify(exc: BaseException) -> tuple[str, str | None] | None:
    """The outcome of a tool failure fastmcp is about to turn into an ``isError`` result
    (None: a JSON-RPC error the recorder classifies itself)."""
    import fastmcp.exceptions as fx
    from pydantic import ValidationError as PydanticValidationError

    not_found = tuple(c for c in (getattr(fx, "NotFoundError", None), getattr(fx, "DisabledError", None))
                      if isinstance(c, type))
    if isinstance(exc, not_found):
        return semconv.ERROR_UNKNOWN_TOOL, None
    validation = getattr(fx, "ValidationError", None)
    if isinstance(exc, PydanticValidationError) or (isinstance(validation, type) and isinstance(exc, validation)):
        return semconv.ERROR_VALIDATION, None
    if isinstance(exc, fx.ToolError):
        cause = exc.__cause__
        if cause is not None and not isinstance(cause, fx.ToolError):
            return semconv.ERROR_EXCEPTION, exception_name(cause)
        return semconv.ERROR_TOOL, None
    if type(exc).__name__ in ("MCPError", "McpError"):
        return None
    return semconv.ERROR_EXCEPTION, exception_name(exc)


def add_enricher(server: Any, apply_detail: Callable[..., None]) -> Callable[[], None]:
    """Put a fastmcp ``Middleware`` first in the server's chain; returns the undo."""
    from fastmcp.server.middleware import Middleware

    class ComplyFastMCPMiddleware(Middleware):  # type: ignore[misc]
        """Sees tool failures as exceptions, before fastmcp turns them into isError results."""

        async def on_call_tool(self, context: Any, call_next: Any) -> Any:
            try:
                result = await call_next(context)
            except Exception as exc:
                found = classify(exc)
                if found is not None:
                    apply_detail(current_request.get(), *found)
                raise
            if getattr(result, "is_error", False) is True:
                apply_detail(current_request.get(), semconv.ERROR_TOOL)
            return result

    enricher = ComplyFastMCPMiddleware()
    server.middleware.insert(0, enricher)

    def restore() -> None:
        server.middleware[:] = [m for m in server.middleware if m is not enricher]

    return restore


# -- fastmcp 3.x native span ----------------------------------------------------------------------

SpanStart = Callable[[Any, object], Callable[[BaseException | None], None] | None]
_span_start: ContextVar[SpanStart | None] = ContextVar("mcp_comply_fastmcp_span", default=None)
_quiet: ContextVar[bool] = ContextVar("mcp_comply_fastmcp_quiet", default=False)
_patch: dict[str, Any] = {}


def expect_span(start: SpanStart) -> Callable[[], None]:
    """Within this request, offer fastmcp's server spans to ``start(span, method)``, which returns
    the function that writes the outcome before the span ends, or None when the span is not the
    request's. Returns the reset."""
    token = _span_start.set(start)
    return lambda: _span_start.reset(token)


def patch_server_span() -> Callable[[], None]:
    """Wrap ``fastmcp.server.server.server_span`` (process-wide, reference-counted): inside a
    request of an instrumented server the span fastmcp opens is handed to our enricher; anywhere
    else the wrapper only passes through. Returns the undo."""
    import fastmcp.server.server as fm_server

    if not _patch:
        original = fm_server.server_span

        @contextmanager
        def server_span(*args: Any, **kwargs: Any) -> Iterator[Any]:
            if _quiet.get():
                yield INVALID_SPAN
                return
            with original(*args, **kwargs) as span:
                start = _span_start.get()
                # server_span(name, method, ...): a span for another method inside this request
                # (the SDK's tool-cache refill lists tools inside tools/call) is not the request's
                method = args[1] if len(args) > 1 else kwargs.get("method")
                finish = start(span, method) if start is not None else None
                if finish is None:
                    yield span
                    return
                _span_start.set(None)  # nested (mounted) servers: the outermost span only
                try:
                    yield span
                except BaseException as exc:
                    finish(exc)
                    raise
                finish(None)

        _patch.update(original=original, wrapper=server_span, users=0)
        fm_server.server_span = server_span
    _patch["users"] += 1

    def undo() -> None:
        if not _patch:
            return
        _patch["users"] -= 1
        if _patch["users"] == 0:
            if fm_server.server_span is _patch["wrapper"]:
                fm_server.server_span = _patch["original"]
            _patch.clear()

    return undo
