"""The official mcp SDK 1.x (1.20 to 1.30): the low-level ``Server``, the SDK's ``FastMCP``, and
the low-level server inside fastmcp 2.x/3.x. The only module that touches mcp 1.x private
attributes; each is listed in :data:`PRIVATE` and pinned by ``tests/instrument/test_contracts.py``.

mcp 1.x has no middleware. A request is recorded by wrapping, on the server *instance* only:

- ``Server._handle_request``: every routed request passes here once. It tags the request for the
  handler wrapper, wraps the handler registered for the request type (also handlers registered
  after ``instrument()``), and records requests that have no handler (``-32601``).
- each value of ``Server.request_handlers`` (public): runs the shared
  :class:`~mcp_comply.instrument._sdk.ComplyMiddleware` around the handler, so outcome, metrics,
  span and audit record are built exactly as on SDK 2.x. The handler's return value goes back
  to the SDK unchanged.
- ``Server._make_error_result``: the SDK calls it inside ``except`` when a tool fails, so the
  exception in flight tells *why* the ``isError`` result was made (crash, bad arguments,
  deliberate ``ToolError``, unknown tool).
- ``Server.run``: notes that the connection is stdio (a pipe), which memory streams are not, and
  watches the connection's two streams (public anyio memory streams of ``SessionMessage``): a
  request the session answers itself, without routing it to the server, is recorded when its
  answer goes out. That is ``initialize`` and requests whose params fail the SDK's own model
  (``-32602``, also what 1.x answers to a request before initialization).
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import uuid
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

from mcp_comply import semconv
from mcp_comply.instrument._context import principal_of
from mcp_comply.instrument._core import RequestFacts, current_request, derived_correlation, exception_name
from mcp_comply.instrument._sdk import ComplyMiddleware, apply_detail

PRIVATE = (
    "Server._handle_request(message, req, session, lifespan_context, raise_exceptions)",
    "Server._make_error_result(error_message), called inside `except`",
    "FastMCP._mcp_server",
    "FastMCP._tool_manager._tools",
    "FastMCP._token_verifier",
    "mcp.server.stdio.stdio_server: its stdin_reader task (anyio names tasks after their function)",
)
"""Private names this adapter relies on (see the contract tests)."""

_OURS = "__mcp_comply__"
_STDIO_TASK = "stdio_server.<locals>.stdin_reader"

# Set by the wrapped _handle_request for the handler wrapper of the same request (same task).
_pending: ContextVar[V1Context | None] = ContextVar("mcp_comply_v1_pending", default=None)
# True while the wrapped Server.run serves a stdio connection.
_stdio: ContextVar[bool] = ContextVar("mcp_comply_v1_stdio", default=False)
# The connection the wrapped Server.run serves (one ServerSession), seen by its handler tasks.
_watch: ContextVar[_Watch | None] = ContextVar("mcp_comply_v1_watch", default=None)
# Requests read but not yet routed or answered, per connection: beyond this many, new ones are
# not watched (a flood of unanswered requests must not grow memory).
_MAX_UNROUTED = 1024


def _v1(module: str) -> Any:
    """A module of mcp 1.x (typed Any: the type checker sees the mcp 2.x this project develops on)."""
    return importlib.import_module(module)


class V1Context:
    """What :class:`ComplyMiddleware` reads from a request, taken from mcp 1.x objects."""

    __slots__ = ("client", "meta", "method", "params", "protocol_version", "request", "request_id", "session")

    def __init__(self, method: str, request_id: object, params: Mapping[str, Any] | None,
                 meta: Mapping[str, Any] | None, request: Any, session: Any, protocol_version: str | None,
                 client: tuple[str | None, str | None] | None = None) -> None:
        self.method = method
        self.request_id = request_id
        self.params = params
        self.meta = meta
        self.request = request
        self.session = session
        self.protocol_version = protocol_version
        # (name, version) the client claimed, where no session tells it (a request the session
        # answered itself, recorded by the connection's watch)
        self.client = client


def _params_view(method: str, params: Any) -> Mapping[str, Any] | None:
    """The few params the recorder reads, as the wire names them (no full model dump)."""
    if params is None:
        return None
    if method in (semconv.METHOD_TOOLS_CALL, semconv.METHOD_PROMPTS_GET):
        return {"name": params.name, "arguments": params.arguments}
    uri = getattr(params, "uri", None)
    if uri is not None:
        return {"uri": str(uri)}
    return {}


class _Versions:
    """Protocol version negotiation as the 1.x session does it (requested if supported)."""

    def __init__(self) -> None:
        self.supported = frozenset(_v1("mcp.shared.version").SUPPORTED_PROTOCOL_VERSIONS)
        self.latest: str = _v1("mcp.types").LATEST_PROTOCOL_VERSION

    def negotiated(self, session: Any, request: Any) -> str | None:
        params = getattr(session, "client_params", None)
        if params is not None:
            requested = params.protocolVersion
            return requested if requested in self.supported else self.latest
        if request is not None:  # stateless HTTP: no initialize on this session
            header = request.headers.get("mcp-protocol-version")
            return str(header) if header else None
        return None


def build_context(message: Any, req: Any, session: Any, versions: _Versions) -> V1Context:
    from mcp.shared.message import ServerMessageMetadata

    metadata = message.message_metadata
    request = metadata.request_context if isinstance(metadata, ServerMessageMetadata) else None
    raw_meta = message.request_meta
    meta = raw_meta.model_dump(by_alias=True, exclude_none=True) if raw_meta is not None else None
    method = req.method
    return V1Context(method, message.request_id, _params_view(method, getattr(req, "params", None)), meta,
                     request, session, versions.negotiated(session, request))


class V1Facts:
    """Reads :class:`RequestFacts` from a :class:`V1Context`."""

    def __init__(self, get_access_token: Callable[[], Any] | None = None) -> None:
        self._get_access_token = get_access_token
        self._connections: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    def transport(self, ctx: Any) -> str | None:
        if ctx.request is not None:
            return semconv.TRANSPORT_TCP
        return semconv.TRANSPORT_PIPE if _stdio.get() else None

    def principal(self, request: Any) -> str | None:
        token = None
        if request is not None:
            # The bearer middleware puts the verified token on the ASGI scope of the very request
            # (the SDK's auth context variable does not reach the handler's task on every transport).
            user = request.scope.get("user")
            token = getattr(user, "access_token", None)
        if token is None and self._get_access_token is not None:
            token = self._get_access_token()
        if token is None:
            return None
        return principal_of(token)

    def peer(self, ctx: Any) -> RequestFacts:
        """The fields of :meth:`read` a span needs, read the same way; the rest None."""
        request = ctx.request
        address = port = session_id = None
        if request is not None:
            client = getattr(request, "client", None)
            if client is not None:
                address, port = client[0], client[1]
            if ctx.method != semconv.METHOD_INITIALIZE and getattr(ctx.session, "client_params", None) is not None:
                # Only a session that went through initialize: stateful streamable HTTP (whose
                # transport refuses a header that is not its own) and SSE (whose transport refuses
                # an unknown session_id). Stateless HTTP makes a session per request and checks
                # neither; an initialize is taken before any check, so neither is its own yet.
                session_id = _checked_session_id(request.headers.get("mcp-session-id"),
                                                 request.query_params.get("session_id"))
        return RequestFacts(session_id, None, self.transport(ctx), ctx.protocol_version, None, None,
                            self.principal(request), address, port)

    def read(self, ctx: Any) -> RequestFacts:
        session = ctx.session
        client_name = client_version = None
        params = getattr(session, "client_params", None)
        info = getattr(params, "clientInfo", None) if params is not None else None
        if info is not None:
            client_name, client_version = _str(info.name), _str(info.version)
        elif ctx.client is not None:
            client_name, client_version = ctx.client
        session_id, _, transport, protocol, _, _, principal, address, port = self.peer(ctx)
        if session_id is not None:
            correlation: str | None = session_id
        elif ctx.request is not None:  # stateless HTTP: correlate by who is calling
            correlation = derived_correlation(principal, address, client_name, client_version)
        else:
            # one wrapped Server.run serves one session: its watch is the connection
            correlation = self._connection(_watch.get() or session)
        return RequestFacts(session_id, correlation, transport, protocol, client_name,
                            client_version, principal, address, port)

    def _connection(self, session: Any) -> str | None:
        try:
            value = self._connections.get(session)
            if value is None:
                value = self._connections[session] = "conn:" + uuid.uuid4().hex
        except TypeError:
            return None
        return value


def _checked_session_id(header: object, parameter: object) -> str | None:
    """The session id a 1.x transport checked: stateful streamable HTTP the ``mcp-session-id`` header
    (and never the query), SSE the ``session_id`` parameter (and never the header, parsed as a UUID:
    recorded as the stream's own hex, however the client spelt it). A request with both names one
    nothing checked, and which one is not known here: it gets none (a client sending both costs only
    itself its session id); without the other, the one present is what its transport matched."""
    if isinstance(header, str) and parameter is None:
        return _str(header)
    if isinstance(parameter, str) and header is None:
        try:
            return uuid.UUID(hex=parameter).hex
        except ValueError:  # (the SSE transport refuses it: not an SSE request)
            return None
    return None


def _str(value: object) -> str | None:
    return value[:256] if isinstance(value, str) else None


def _serving_stdio() -> bool:
    """Whether the running event loop serves the SDK's stdio transport (its reader task runs)."""
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # not asyncio (trio): transport stays unknown
        return False
    # anyio names a task after the function it runs: mcp.server.stdio.stdio_server.<locals>.stdin_reader
    return any(task.get_name().endswith(_STDIO_TASK) for task in tasks)


HandlerCall = Callable[[Any, Any], Awaitable[Any]]


def _caller_in(sdk_function: Any) -> HandlerCall:
    """``await handler(req)`` from a frame whose module is the one that calls handlers bare (the
    SDK's ``mcp.server.lowlevel.server``): a handler's ``warnings.warn(..., stacklevel=2)`` is then
    attributed to the same module as without mcp-comply, so warning filters by module (the SDK
    suite's own, a user's ``-W``) keep matching. The code and file name stay ours."""
    sdk_globals = sys.modules[sdk_function.__module__].__dict__
    namespace: dict[str, Any] = {}
    code = compile("async def call(handler, req):\n    return await handler(req)\n", __file__, "exec")
    exec(code, sdk_globals, namespace)  # noqa: S102 - a constant two-line function, defined off the SDK's module dict
    caller: HandlerCall = namespace["call"]
    return caller


MiddlewareFor = Callable[[str], ComplyMiddleware]
SpanHook = Callable[[V1Context, ComplyMiddleware], Callable[[], None] | None]


class V1Lifecycle:
    """Records every request of one mcp 1.x low-level ``Server`` (see the module docstring)."""

    def __init__(self, lowlevel: Any, middleware_for: MiddlewareFor, *, classify_failure: bool,
                 catalog_contains: Callable[[str], bool], span_hook: SpanHook | None = None) -> None:
        self.lowlevel = lowlevel
        self.middleware_for = middleware_for
        self.classify_failure = classify_failure
        self._contains = catalog_contains
        self._span_hook = span_hook
        self._call = _caller_in(type(lowlevel)._handle_request)
        self._versions = _Versions()
        self._wrapped: dict[Any, tuple[Any, Any]] = {}
        self._overrides: list[str] = []

    # -- install / uninstall -------------------------------------------------------------------
    def install(self) -> None:
        server = self.lowlevel
        for key, handler in list(server.request_handlers.items()):
            self._wrap(key, handler)
        self._override("_handle_request", self._handle_request_wrapper(server._handle_request))
        self._override("run", self._run_wrapper(server.run))
        if self.classify_failure:
            self._override("_make_error_result", self._error_result_wrapper(server._make_error_result))

    def uninstall(self) -> None:
        server = self.lowlevel
        for key, (original, wrapper) in self._wrapped.items():
            if server.request_handlers.get(key) is wrapper:
                server.request_handlers[key] = original
        self._wrapped.clear()
        for name in self._overrides:
            vars(server).pop(name, None)
        self._overrides.clear()

    def _override(self, name: str, value: Any) -> None:
        setattr(self.lowlevel, name, value)
        self._overrides.append(name)

    # -- wrappers ---------------------------------------------------------------------------
    def _wrap(self, key: Any, handler: Any) -> Any:
        if getattr(handler, _OURS, False):
            return handler
        middleware_for = self.middleware_for
        span_hook = self._span_hook
        call = self._call

        async def wrapped(req: Any) -> Any:
            ctx = _pending.get()
            # req None: the SDK's own tools/list refill of its tool cache, not a client request.
            if req is None or ctx is None or req.method != ctx.method:
                return await call(handler, req)
            _pending.set(None)
            middleware = middleware_for(ctx.method)
            if not middleware.recorder.enabled:
                return await call(handler, req)
            box: list[Any] = []

            async def call_next(_ctx: Any) -> Any:
                result = await call(handler, req)
                box.append(result)
                return _view(ctx.method, result, bool(middleware.recorder.sinks))

            reset = span_hook(ctx, middleware) if span_hook is not None else None
            try:
                await middleware(ctx, call_next)
            finally:
                if reset is not None:
                    reset()
            return box[0]

        setattr(wrapped, _OURS, True)
        self.lowlevel.request_handlers[key] = wrapped
        self._wrapped[key] = (handler, wrapped)
        return wrapped

    def _handle_request_wrapper(self, original: Any) -> Any:
        handlers = self.lowlevel.request_handlers
        versions = self._versions

        async def _handle_request(message: Any, req: Any, session: Any, lifespan_context: Any,
                                  raise_exceptions: bool) -> Any:
            try:
                ctx = build_context(message, req, session, versions)
            except Exception as exc:  # noqa: BLE001 - never break the host server
                self.middleware_for("").recorder.internal_error("context", exc)
                return await original(message, req, session, lifespan_context, raise_exceptions)
            watch = _watch.get()
            if watch is not None:
                watch.unrouted.pop(ctx.request_id, None)
            handler = handlers.get(type(req))
            if handler is None:
                await self._record_missing(ctx)
            elif not getattr(handler, _OURS, False):
                self._wrap(type(req), handler)
            token = _pending.set(ctx)
            try:
                return await original(message, req, session, lifespan_context, raise_exceptions)
            finally:
                _pending.reset(token)

        return _handle_request

    async def _record_missing(self, ctx: V1Context) -> None:
        """The SDK answers -32601 for a request type without a handler: record it the same way."""
        error = protocol_error(-32601, "Method not found")

        async def call_next(_ctx: Any) -> Any:
            raise error

        try:
            await self.middleware_for(ctx.method)(ctx, call_next)
        except type(error):
            return

    def _run_wrapper(self, original: Any) -> Any:
        async def run(*args: Any, **kwargs: Any) -> Any:
            token = _stdio.set(True) if _serving_stdio() else None
            watch_token = None
            try:
                watch = _Watch(self)
                args, kwargs = watch.streams(args, kwargs)
                watch_token = _watch.set(watch)
            except Exception as exc:  # noqa: BLE001 - never break the host server
                self.middleware_for("").recorder.internal_error("context", exc)
            try:
                return await original(*args, **kwargs)
            finally:
                if watch_token is not None:
                    _watch.reset(watch_token)
                if token is not None:
                    _stdio.reset(token)

        return run

    async def record_answered(self, entry: _Unrouted, answer: Any, watch: _Watch) -> None:
        """Record a request the session answered itself (``answer``: the JSON-RPC response or error)."""
        method, request_id, params, request = entry
        client = watch.client
        version = watch.version
        if method == semconv.METHOD_INITIALIZE and isinstance(params, Mapping):
            info = params.get("clientInfo")
            if isinstance(info, Mapping):
                client = watch.client = (_str(info.get("name")), _str(info.get("version")))
            requested = params.get("protocolVersion")
            if isinstance(requested, str):
                version = watch.version = requested if requested in self._versions.supported \
                    else self._versions.latest
        if request is not None and version is None:
            version = self._versions.negotiated(None, request)
        ctx = V1Context(method, request_id, _raw_params_view(method, params), _raw_meta(params), request, None,
                        version, client)
        error = getattr(answer, "error", None)
        raised = protocol_error(int(error.code), str(error.message)[:500]) if error is not None else None

        async def call_next(_ctx: Any) -> Any:
            if raised is not None:
                raise raised
            return getattr(answer, "result", None)

        middleware = self.middleware_for(method)
        try:
            await middleware(ctx, call_next)
        except Exception as exc:  # noqa: BLE001 - the answer's error raised above, or ours
            if exc is not raised:
                middleware.recorder.internal_error("context", exc)

    def _error_result_wrapper(self, original: Callable[[str], Any]) -> Callable[[str], Any]:
        contains = self._contains

        def _make_error_result(error_message: str) -> Any:
            req = current_request.get()
            if req is not None and req.detail_outcome is None:
                exc = sys.exc_info()[1]
                # an unseen name is judged after the call (ComplyMiddleware._resolve_label)
                outcome, exc_type = classify_sdk_failure(exc, error_message, req.tool,
                                                         _any_name if req.unseen else contains)
                apply_detail(req, outcome, exc_type)
            return original(error_message)

        return _make_error_result


_Unrouted = tuple[str, object, Any, Any]
"""A watched request: method, id, raw params, the HTTP request it came with (or None)."""


def _raw_params_view(method: str, params: Any) -> Mapping[str, Any] | None:
    """:func:`_params_view` from wire params (a request the SDK's model may have refused)."""
    if not isinstance(params, Mapping):
        return None
    if method in (semconv.METHOD_TOOLS_CALL, semconv.METHOD_PROMPTS_GET):
        return {"name": params.get("name"), "arguments": params.get("arguments")}
    uri = params.get("uri")
    return {"uri": uri} if isinstance(uri, str) else {}


def _raw_meta(params: Any) -> Mapping[str, Any] | None:
    meta = params.get("_meta") if isinstance(params, Mapping) else None
    return meta if isinstance(meta, Mapping) else None


class _Watch:
    """One connection of a wrapped ``Server.run``: the requests read from its read stream that the
    server has not routed yet, so that an answer the session sends itself can be recorded."""

    __slots__ = ("__weakref__", "client", "lifecycle", "unrouted", "version")

    def __init__(self, lifecycle: V1Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.unrouted: dict[object, _Unrouted] = {}
        self.client: tuple[str | None, str | None] | None = None
        self.version: str | None = None

    def streams(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """``Server.run``'s arguments with its two streams watched."""
        if len(args) >= 2:
            return (_ReadWatch(args[0], self), _WriteWatch(args[1], self), *args[2:]), kwargs
        if "read_stream" in kwargs and "write_stream" in kwargs:
            kwargs = {**kwargs, "read_stream": _ReadWatch(kwargs["read_stream"], self),
                      "write_stream": _WriteWatch(kwargs["write_stream"], self)}
        return args, kwargs

    def read(self, message: Any) -> None:
        root: Any = getattr(getattr(message, "message", None), "root", None)
        method = getattr(root, "method", None)
        request_id = getattr(root, "id", None)
        if method is None or request_id is None or len(self.unrouted) >= _MAX_UNROUTED:
            return  # not a request (a response, a notification, a transport exception), or a flood
        metadata = getattr(message, "metadata", None)
        self.unrouted[request_id] = (str(method)[:256], request_id, getattr(root, "params", None),
                                     getattr(metadata, "request_context", None))

    async def written(self, message: Any) -> None:
        if not self.unrouted:
            return
        root = getattr(getattr(message, "message", None), "root", None)
        if root is None or getattr(root, "method", None) is not None:
            return  # a request or notification of the server's own
        entry = self.unrouted.pop(getattr(root, "id", None), None)
        if entry is not None:
            await self.lifecycle.record_answered(entry, root, self)


class _StreamWatch:
    """One of the two streams ``Server.run`` was given, passed through (an anyio memory stream:
    everything not overridden is the stream's own)."""

    def __init__(self, stream: Any, watch: _Watch) -> None:
        self._stream = stream
        self._watch = watch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    async def __aenter__(self) -> _StreamWatch:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._stream.__aexit__(*exc)

    def _trouble(self, exc: Exception) -> None:
        self._watch.lifecycle.middleware_for("").recorder.internal_error("context", exc)


class _ReadWatch(_StreamWatch):
    """The read stream, noting each request the session reads."""

    def __aiter__(self) -> _ReadWatch:
        return self

    async def __anext__(self) -> Any:
        message = await self._stream.__anext__()
        self._note(message)
        return message

    async def receive(self) -> Any:
        message = await self._stream.receive()
        self._note(message)
        return message

    def _note(self, message: Any) -> None:
        try:
            self._watch.read(message)
        except Exception as exc:  # noqa: BLE001 - never break the host server
            self._trouble(exc)


class _WriteWatch(_StreamWatch):
    """The write stream: an answer to a request nobody routed is recorded before it goes out (as
    every other record, with ``fsync: always`` it is durable first)."""

    async def send(self, message: Any) -> None:
        try:
            await self._watch.written(message)
        except Exception as exc:  # noqa: BLE001 - never break the host server
            self._trouble(exc)
        await self._stream.send(message)


def _any_name(_name: str) -> bool:
    return True


def _view(method: str, result: Any, full: bool) -> Any:
    """What the recorder inspects of a handler's ``ServerResult``: the wire form of a tool result
    (all of it when an audit sink digests it), the names and schemas of a tool list."""
    root = getattr(result, "root", result)
    if method == semconv.METHOD_TOOLS_CALL:
        if full and hasattr(root, "model_dump"):
            return root.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {"isError": getattr(root, "isError", False), "content": getattr(root, "content", None)}
    if method == semconv.METHOD_TOOLS_LIST:
        tools = getattr(root, "tools", None) or []
        return {"tools": [{"name": t.name, "inputSchema": t.inputSchema} for t in tools]}
    return root


def classify_sdk_failure(exc: BaseException | None, message: str, tool: str | None,  # noqa: PLR0911 - a table
                         contains: Callable[[str], bool]) -> tuple[str, str | None]:
    """Why the mcp 1.x SDK made an ``isError`` tool result (low-level ``Server`` and ``FastMCP``)."""
    import jsonschema
    from pydantic import ValidationError

    tool_error = _v1("mcp.server.fastmcp.exceptions").ToolError

    if exc is None:
        return semconv.ERROR_TOOL, None
    if tool is not None and not contains(tool):
        return semconv.ERROR_UNKNOWN_TOOL, None
    if isinstance(exc, jsonschema.ValidationError):
        # the low-level server validates input (and output) against the tool's schemas
        return (semconv.ERROR_VALIDATION, None) if message.startswith("Input validation") \
            else (semconv.ERROR_TOOL, None)
    if isinstance(exc, tool_error):  # FastMCP: Tool.run wraps every failure, keeping the cause
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            return semconv.ERROR_VALIDATION, None
        if cause is None or isinstance(cause, tool_error):
            return semconv.ERROR_TOOL, None
        return semconv.ERROR_EXCEPTION, exception_name(cause)
    return semconv.ERROR_EXCEPTION, exception_name(exc)


# -- SDK 1.x FastMCP ------------------------------------------------------------------------------

def lowlevel_of_fastmcp(server: Any) -> Any:
    return server._mcp_server


def auth_configured(server: Any) -> bool:
    """Whether the SDK's 1.x FastMCP verifies bearer tokens: a token verifier, or auth settings."""
    return getattr(server, "_token_verifier", None) is not None or \
        getattr(getattr(server, "settings", None), "auth", None) is not None


def live_tools(server: Any) -> Mapping[str, Any] | None:
    tools = getattr(getattr(server, "_tool_manager", None), "_tools", None)
    return tools if isinstance(tools, dict) else None


def lowlevel_tool_loader(lowlevel: Any) -> Callable[[Any], Awaitable[Mapping[str, Any]]]:
    """Asks a 1.x low-level server for its tools the way the SDK refills its own cache."""
    from mcp import types

    async def load(_ctx: Any) -> Mapping[str, Any]:
        handler = lowlevel.request_handlers.get(types.ListToolsRequest)
        if handler is None:
            return {}
        result = await handler(None)
        tools = getattr(getattr(result, "root", result), "tools", None) or []
        return {t.name: t.inputSchema for t in tools}

    return load


def protocol_error(code: int, message: str) -> Exception:
    error: Exception = _v1("mcp.shared.exceptions").McpError(_v1("mcp.types").ErrorData(code=code, message=message))
    return error
