"""The framework adapters' public face: which framework a server is, whether its version is
supported, and a :class:`Binding` that attaches the recorder to it. Frameworks are imported only
here and in the ``_fw_*`` modules, and only once the server object says which one it is.

Private framework attributes are touched only in ``_fw_mcp1`` (mcp 1.x), ``_fw_mcp2`` (mcp 2.x)
and ``_fw_fastmcp`` (fastmcp); ``generate``'s introspection uses :func:`sdk_server` and
:func:`open_session` from here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from mcp_comply import semconv
from mcp_comply.config import TracingPolicy
from mcp_comply.exceptions import InstrumentationError
from mcp_comply.instrument._catalog import ToolCatalog
from mcp_comply.instrument._core import FactsReader, Recorder, current_request
from mcp_comply.instrument._sdk import AmbientCapture, ComplyMiddleware, apply_detail

MCPSERVER = "mcp.MCPServer"
"""mcp 2.x ``mcp.server.mcpserver.MCPServer``."""
SDK_FASTMCP = "mcp.FastMCP"
"""mcp 1.x ``mcp.server.fastmcp.FastMCP``."""
LOWLEVEL = "mcp.Server"
"""The low-level ``mcp.server.lowlevel.Server`` (1.x and 2.x)."""
FASTMCP = "fastmcp.FastMCP"
"""The standalone ``fastmcp.FastMCP`` (2.x, 3.x, 4.x)."""

# Tested ranges, [low, high). mcp 2.x: the SDK marks its middleware API provisional ("may change
# in a 2.x minor"), so 2.0-2.2 (whose middleware had another shape) are not supported.
SUPPORTED_MCP = (((1, 20), (2, 0)), ((2, 3), (3, 0)))
SUPPORTED_FASTMCP = (((2, 14), (3, 0)), ((3, 0), (4, 0)), ((4, 1), (5, 0)))
_MCP_RANGES = "mcp >= 1.20, < 2 or >= 2.3, < 3"
_FASTMCP_RANGES = "fastmcp >= 2.14, < 3, 3.x or >= 4.1, < 5"


def detect(server: object) -> str:
    """Which framework ``server`` belongs to, from its class hierarchy (no framework import)."""
    for cls in type(server).__mro__:
        where = (cls.__module__, cls.__qualname__)
        if where == ("fastmcp.server.server", "FastMCP"):
            return FASTMCP
        if where == ("mcp.server.mcpserver.server", "MCPServer"):
            return MCPSERVER
        if where == ("mcp.server.fastmcp.server", "FastMCP"):
            return SDK_FASTMCP
        if where == ("mcp.server.lowlevel.server", "Server"):
            return LOWLEVEL
    names = ", ".join(f"{c.__module__}.{c.__qualname__}" for c in type(server).__mro__[:3])
    raise InstrumentationError(
        f"cannot instrument an object of type {names}: expected mcp.server.mcpserver.MCPServer, "
        "mcp.server.fastmcp.FastMCP (mcp 1.x), mcp.server.Server (low level) or fastmcp.FastMCP"
    )


_versions: dict[tuple[str, object], tuple[int, int]] = {}


def _version_tuple(dist: str) -> tuple[int, int]:
    """``(major, minor)`` of an installed distribution; looked up once per process (reading package
    metadata is file-system work that instrument() called inside an event loop should not repeat)."""
    key = (dist, version)
    found = _versions.get(key)
    if found is not None:
        return found
    try:
        parts = version(dist).split(".")
        found = int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)
    except (PackageNotFoundError, ValueError, IndexError) as exc:
        raise InstrumentationError(f"cannot determine the installed version of {dist}: {exc}") from exc
    _versions[key] = found
    return found


def _within(got: tuple[int, int], ranges: tuple[tuple[tuple[int, int], tuple[int, int]], ...]) -> bool:
    return any(low <= got < high for low, high in ranges)


def mcp_generation() -> int:
    """The installed mcp SDK's major version (1 or 2)."""
    return _version_tuple("mcp")[0]


def check_versions(framework: str) -> None:
    """Refuse framework versions outside the tested ranges, and feature-detect the 2.x middleware."""
    got = _version_tuple("mcp")
    if not _within(got, SUPPORTED_MCP):
        raise InstrumentationError(
            f"mcp {'.'.join(map(str, got))} is not supported: mcp-comply supports {_MCP_RANGES}"
        )
    if (framework == MCPSERVER and got[0] != 2) or (framework == SDK_FASTMCP and got[0] != 1):
        raise InstrumentationError(f"{framework} does not belong to the installed mcp {'.'.join(map(str, got))}")
    if got[0] == 2:
        from mcp_comply.instrument import _fw_mcp2

        _fw_mcp2.check_middleware_api()
    if framework == FASTMCP:
        got = _version_tuple("fastmcp")
        if not _within(got, SUPPORTED_FASTMCP):
            raise InstrumentationError(
                f"fastmcp {'.'.join(map(str, got))} is not supported: mcp-comply supports {_FASTMCP_RANGES}"
            )


Attach = Callable[[Recorder, TracingPolicy], list[ComplyMiddleware]]


@dataclass
class Binding:
    """What instrument() needs from a framework, and how to undo what it did."""

    framework: str
    server_name: str
    lowlevel: Any
    """The SDK low-level Server the recorder attaches to."""
    catalog: ToolCatalog
    facts: FactsReader
    protocol_error: type[BaseException]
    """The SDK's JSON-RPC error class (carries ``.error.code``)."""
    make_error: Callable[[int, str], Exception]
    """Builds that error, for a fail-closed refusal."""
    attach: Attach = field(repr=False)
    """Installs the recorder; returns the middleware that records tool calls (for the gate)."""
    generation: int = 2
    span_has_ids: bool = True
    """The framework's span already carries request id, protocol version and operation name."""
    spans: str = "enriched"
    """``enriched`` (the framework opens the server span) or ``created`` (we do)."""
    undo: list[Callable[[], None]] = field(default_factory=list)

    @property
    def params_error(self) -> type[BaseException]:
        from pydantic import ValidationError

        return ValidationError


def bind(server: Any, framework: str) -> Binding:
    if framework == FASTMCP:
        return _bind_fastmcp(server)
    if mcp_generation() == 1:
        return _bind_v1(server, framework)
    return _bind_v2(server, framework)


# -- public adapter API (also used by generate's introspection) -----------------------------------

def sdk_server(server: Any) -> Any:
    """The SDK low-level ``Server`` inside any supported server (itself for a low-level one)."""
    framework = detect(server)
    if framework == FASTMCP:
        from mcp_comply.instrument import _fw_fastmcp

        return _fw_fastmcp.lowlevel_of(server)
    if framework == SDK_FASTMCP:
        from mcp_comply.instrument import _fw_mcp1

        return _fw_mcp1.lowlevel_of_fastmcp(server)
    if framework == MCPSERVER:
        from mcp_comply.instrument import _fw_mcp2

        return _fw_mcp2.lowlevel_of_mcpserver(server)
    return server


def auth_configured(server: Any) -> bool | None:
    """Whether the server verifies bearer tokens itself (None: a low-level ``Server``, whose
    authentication lives in the ASGI app that serves it)."""
    framework = detect(server)
    if framework == FASTMCP:
        return getattr(server, "auth", None) is not None
    if framework == SDK_FASTMCP:
        from mcp_comply.instrument import _fw_mcp1

        return _fw_mcp1.auth_configured(server)
    if framework == MCPSERVER:
        from mcp_comply.instrument import _fw_mcp2

        return _fw_mcp2.auth_configured(server)
    return None


@asynccontextmanager
async def open_session(server: Any) -> AsyncIterator[tuple[Any, Any]]:
    """An in-process client session on ``server`` with the installed SDK's own client:
    yields ``(session, server_info)``; the session has ``list_tools()``, ``list_resources()``,
    ``list_resource_templates()`` and ``list_prompts()``."""
    target = sdk_server(server)
    if mcp_generation() == 1:
        import importlib

        memory: Any = importlib.import_module("mcp.shared.memory")
        async with memory.create_connected_server_and_client_session(target) as session:
            # The session is initialised already; the server's name and version are the ones its
            # initialization options announce.
            options = target.create_initialization_options()
            yield session, _Info(options.server_name, options.server_version)
        return
    from mcp import Client

    async with Client(target) as client:
        yield client, client.server_info


@dataclass(frozen=True)
class _Info:
    name: str
    version: str | None


def protocol_error_class() -> type[BaseException]:
    """The installed SDK's JSON-RPC error (``McpError`` on 1.x, ``MCPError`` on 2.x)."""
    if mcp_generation() == 1:
        import importlib

        error: type[BaseException] = importlib.import_module("mcp.shared.exceptions").McpError
        return error
    from mcp.shared.exceptions import MCPError

    return MCPError


# -- mcp 2.x (and fastmcp 4.x on it) --------------------------------------------------------------

def _v2_error(code: int, message: str) -> Exception:
    from mcp.shared.exceptions import MCPError

    return MCPError(code=code, message=message)


def _v2_facts() -> FactsReader:
    from mcp_comply.instrument import _fw_mcp2
    from mcp_comply.instrument._context import SdkFacts

    try:
        from mcp.server.auth.middleware.auth_context import get_access_token
    except ImportError:  # pragma: no cover - auth is part of every supported SDK
        get_access_token = None  # type: ignore[assignment]
    return SdkFacts(_fw_mcp2.stdio_claims(), get_access_token)


def _attach_v2(binding: Binding, span_owner: type | None, detail: bool, reported: bool = False) -> Attach:
    def attach(recorder: Recorder, tracing: TracingPolicy) -> list[ComplyMiddleware]:
        facts: Any = binding.facts
        middleware: list[Any] = binding.lowlevel.middleware
        owner_index = next((i for i, m in enumerate(middleware)
                            if span_owner is not None and isinstance(m, span_owner)), None)
        installed: list[Any] = []
        if not tracing.enabled:
            ours = ComplyMiddleware(recorder, facts, own_span=False, tracing=False, detail=detail,
                                    reported=reported)
            middleware.insert(0, ours)
        elif owner_index is None:
            ours = ComplyMiddleware(recorder, facts, own_span=True, detail=detail, reported=reported)
            middleware.insert(0, ours)
            binding.spans = "created"
        else:
            from mcp_comply.instrument._otel import sdk_configured

            capture = AmbientCapture()

            def install_capture() -> None:
                if not any(m is capture for m in middleware):
                    middleware.insert(0, capture)
                    installed.append(capture)

            ours = ComplyMiddleware(recorder, facts, own_span=False, detail=detail, reported=reported,
                                    on_recording_span=install_capture)
            middleware.insert(owner_index + 1, ours)
            if sdk_configured():
                install_capture()
        installed.append(ours)

        def detach() -> None:
            middleware[:] = [m for m in middleware if not any(m is x for x in installed)]

        binding.undo.append(detach)
        return [ours]

    return attach


def _bind_v2(server: Any, framework: str) -> Binding:
    from mcp_comply.instrument import _fw_mcp2

    if framework == MCPSERVER:
        catalog = ToolCatalog(live=_fw_mcp2.live_tools(server))
        lowlevel = _fw_mcp2.lowlevel_of_mcpserver(server)
    else:
        lowlevel = server

        async def load(ctx: Any) -> Mapping[str, Any]:
            entry = server.get_request_handler(semconv.METHOD_TOOLS_LIST)
            if entry is None:
                return {}
            result = await entry.handler(ctx, None)
            tools = getattr(result, "tools", None) or []
            return {t.name: t.input_schema for t in tools}

        catalog = ToolCatalog(loader=load)
    binding = Binding(framework, str(server.name), lowlevel, catalog, _v2_facts(), protocol_error_class(),
                      _v2_error, attach=_noop_attach)
    # MCPServer's call_tool override reports a failure's detail; a low-level Server has none
    binding.attach = _attach_v2(binding, _fw_mcp2.span_owner(), detail=False, reported=framework == MCPSERVER)
    if framework == MCPSERVER:
        binding.undo.append(_fw_mcp2.enrich_mcpserver_tools(server, catalog.__contains__))
    return binding


def _noop_attach(_recorder: Recorder, _tracing: TracingPolicy) -> list[ComplyMiddleware]:  # pragma: no cover
    return []


# -- mcp 1.x (SDK FastMCP, low-level Server, and fastmcp 2.x/3.x on it) ---------------------------

def _attach_v1(binding: Binding, *, classify_failure: bool, framework_spans: frozenset[str] = frozenset()) -> Attach:
    def attach(recorder: Recorder, tracing: TracingPolicy) -> list[ComplyMiddleware]:
        from mcp_comply.instrument import _fw_mcp1

        facts: Any = binding.facts
        # mcp 1.x has no span of its own: ours is the server span (fastmcp 3.x spans some
        # methods itself; those we enrich).
        ours = ComplyMiddleware(recorder, facts, own_span=tracing.enabled, tracing=tracing.enabled)
        quiet = ComplyMiddleware(recorder, facts, own_span=False, tracing=False)
        if tracing.enabled and not framework_spans:
            binding.spans = "created"

        def middleware_for(method: str) -> ComplyMiddleware:
            return quiet if method in framework_spans else ours

        hook = _fastmcp3_span_hook(recorder, tracing) if framework_spans and tracing.enabled else None
        lifecycle = _fw_mcp1.V1Lifecycle(binding.lowlevel, middleware_for, classify_failure=classify_failure,
                                         catalog_contains=binding.catalog.__contains__, span_hook=hook)
        lifecycle.install()
        binding.undo.append(lifecycle.uninstall)
        return [ours, quiet]

    return attach


def _bind_v1(server: Any, framework: str) -> Binding:
    from mcp_comply.instrument import _fw_mcp1

    try:
        from mcp.server.auth.middleware.auth_context import get_access_token
    except ImportError:  # pragma: no cover - auth is in every supported 1.x
        get_access_token = None  # type: ignore[assignment]
    if framework == SDK_FASTMCP:
        lowlevel = _fw_mcp1.lowlevel_of_fastmcp(server)
        catalog = ToolCatalog(live=_fw_mcp1.live_tools(server))
    else:
        lowlevel = server
        catalog = ToolCatalog(loader=_fw_mcp1.lowlevel_tool_loader(server))
    binding = Binding(framework, str(server.name), lowlevel, catalog, _fw_mcp1.V1Facts(get_access_token),
                      protocol_error_class(), _fw_mcp1.protocol_error, attach=_noop_attach, generation=1,
                      span_has_ids=False, spans="created")
    binding.attach = _attach_v1(binding, classify_failure=True)
    return binding


# -- fastmcp ------------------------------------------------------------------------------------

def _bind_fastmcp(server: Any) -> Binding:
    from mcp_comply.instrument import _fw_fastmcp

    major = int(_fw_fastmcp.version_string().split(".")[0])
    catalog = ToolCatalog(loader=_fw_fastmcp.tool_loader(server, major), probe=_fw_fastmcp.tool_probe(server, major))
    lowlevel = _fw_fastmcp.lowlevel_of(server)
    if major >= 4:
        binding = Binding(FASTMCP, str(server.name), lowlevel, catalog, _v2_facts(), protocol_error_class(),
                          _v2_error, attach=_noop_attach, span_has_ids=False)
        binding.attach = _attach_v2(binding, _fw_fastmcp.span_owner_v4(), detail=True)
    else:
        from mcp_comply.instrument import _fw_mcp1

        binding = Binding(FASTMCP, str(server.name), lowlevel, catalog,
                          _fw_mcp1.V1Facts(_fw_fastmcp.access_token_reader()), protocol_error_class(),
                          _fw_mcp1.protocol_error, attach=_noop_attach, generation=1, span_has_ids=False)
        spanned = _fw_fastmcp.SPANNED_V3 if major == 3 else frozenset()
        binding.attach = _attach_v1(binding, classify_failure=False, framework_spans=spanned)
        if major == 3:
            binding.undo.append(_fw_fastmcp.patch_server_span())
    binding.undo.append(_fw_fastmcp.add_enricher(server, apply_detail))
    return binding


def _fastmcp3_span_hook(recorder: Recorder, tracing: TracingPolicy) -> Any:
    """fastmcp 3.x opens its server span inside ``FastMCP.call_tool`` and friends, after our
    recorder started: hand that span to the request, put our attributes on it while it is open,
    and leave its status to fastmcp."""
    from mcp_comply.instrument import _fw_fastmcp
    from mcp_comply.instrument._spans import framework_span_attributes, suppress_error_status

    def hook(ctx: Any, middleware: ComplyMiddleware) -> Callable[[], None]:
        def start(span: Any, method: object) -> Callable[[BaseException | None], None] | None:
            if method != ctx.method:
                return None
            req = current_request.get()
            if req is not None and req.span is None:
                req.span = span
            if not span.is_recording():
                return _ignore
            try:
                facts = middleware.facts.read(ctx)
                span.set_attributes(framework_span_attributes(ctx.method, ctx.request_id, facts))
            except Exception as exc:  # noqa: BLE001 - tracing trouble must not fail the request
                recorder.internal_error("spans", exc)

            def finish(exc: BaseException | None) -> None:
                try:
                    outcome, code = _fastmcp_outcome(exc, recorder)
                    attrs: dict[str, Any] = {semconv.ATTR_COMPLY_OUTCOME: outcome}
                    if code is not None:
                        attrs[semconv.ATTR_RPC_RESPONSE_STATUS_CODE] = str(code)
                        if code in semconv.CLIENT_CAUSED_CODES and not tracing.client_errors_as_span_errors:
                            suppress_error_status(span)
                    span.set_attributes(attrs)
                except Exception as err:  # noqa: BLE001
                    recorder.internal_error("spans", err)

            return finish

        return _fw_fastmcp.expect_span(start)

    return hook


def _ignore(_exc: BaseException | None) -> None:
    return None


def _fastmcp_outcome(exc: BaseException | None, recorder: Recorder) -> tuple[str, int | None]:
    from mcp_comply.instrument import _fw_fastmcp

    if exc is None:
        return semconv.OUTCOME_OK, None
    found = _fw_fastmcp.classify(exc)
    if found is not None:
        return found[0], None
    code = getattr(getattr(exc, "error", None), "code", None)
    return semconv.ERROR_PROTOCOL, code if isinstance(code, int) else None
