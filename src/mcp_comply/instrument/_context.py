"""Who, how and over what: the request facts read from the MCP SDK 2.x ServerRequestContext.

Several facts live only on private SDK attributes, read through ``_fw_mcp2`` (pinned by the
contract tests); each read is guarded so a future SDK that moves them degrades to "unknown",
never to a failed request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mcp_comply import semconv
from mcp_comply.instrument._core import RequestFacts, derived_correlation
from mcp_comply.instrument._fw_mcp2 import connection_correlation, connection_session_id

_CLIENT_INFO_META_KEY = "io.modelcontextprotocol/clientInfo"
_FIRST_SESSIONLESS = "2026-07-28"  # protocol versions are dates; this one dropped sessions
_SSE_SESSION_PARAM = "session_id"  # the SSE transport routes each POST to its stream by this


class SdkFacts:
    """Reads :class:`RequestFacts` from a ServerRequestContext; set up once per server."""

    def __init__(self, stdio_claims: Mapping[int, Any] | None,
                 get_access_token: Callable[[], Any] | None) -> None:
        # mcp.server.stdio._claims: fd 0 is claimed while this process serves MCP over stdio,
        # which is how stdio is told apart from in-memory streams (both are "jsonrpc" streams).
        self._stdio_claims = stdio_claims
        self._get_access_token = get_access_token

    @property
    def stdio_claims(self) -> Mapping[int, Any] | None:
        """What :meth:`transport` reads besides the request: the SDK's claimed file descriptors."""
        return self._stdio_claims

    @property
    def access_token_reader(self) -> Callable[[], Any] | None:
        """What :meth:`peer` asks for the request's access token (the principal's source)."""
        return self._get_access_token

    def transport(self, ctx: Any) -> str | None:
        """``tcp`` (HTTP), ``pipe`` (stdio) or None (in process): all the metrics need."""
        if ctx.request is not None:
            return semconv.TRANSPORT_TCP
        claims = self._stdio_claims
        return semconv.TRANSPORT_PIPE if claims is not None and 0 in claims else None

    def peer(self, ctx: Any) -> RequestFacts:
        """The fields of :meth:`read` a span needs, read the same way; the rest None."""
        request = ctx.request
        address = port = session_id = None
        if request is not None:
            client = getattr(request, "client", None)
            if client is not None:
                address, port = client[0], client[1]
            # the server's own id, not the request's header: stateless mode does not check it
            session_id = connection_session_id(ctx.session)
        return RequestFacts(session_id, None, self.transport(ctx), ctx.protocol_version, None, None,
                            self._principal(), address, port)

    def _principal(self) -> str | None:
        if self._get_access_token is not None:
            token = self._get_access_token()
            if token is not None:
                return principal_of(token)
        return None

    def read(self, ctx: Any) -> RequestFacts:
        session = ctx.session
        client_name = client_version = None
        params = session.client_params
        info: Any = params.client_info if params is not None else None
        if info is None and ctx.method == semconv.METHOD_INITIALIZE and ctx.params:
            info = ctx.params.get("clientInfo")  # not committed to the session until after the chain
        if info is None and ctx.meta:
            info = ctx.meta.get(_CLIENT_INFO_META_KEY)
        if isinstance(info, dict):
            client_name, client_version = _str(info.get("name")), _str(info.get("version"))
        elif info is not None:
            client_name, client_version = _str(info.name), _str(info.version)

        session_id, _, transport, protocol, _, _, principal, address, port = self.peer(ctx)
        if session_id is not None:
            correlation: str | None = session_id
        elif ctx.request is not None and _SSE_SESSION_PARAM not in _query(ctx.request):
            # Stateless and 2026-07-28 HTTP have no session and no lasting connection: correlate by
            # who is calling. (An SSE stream is a lasting connection, correlated as one below; a
            # stateless request that names the parameter only splits its own correlation.)
            correlation = derived_correlation(principal, address, client_name, client_version)
        elif isinstance(protocol, str) and protocol >= _FIRST_SESSIONLESS:
            # Sessionless era over a pipe or in process: one peer per process (None = process id).
            correlation = None
        else:
            correlation = connection_correlation(session)
        return RequestFacts(session_id, correlation, transport, protocol, client_name,
                            client_version, principal, address, port)


def principal_of(token: Any) -> str | None:
    """Who an access token authenticates: its subject (``sub``), else the OAuth client id."""
    claims = getattr(token, "claims", None)
    value = getattr(token, "subject", None) or (claims.get("sub") if isinstance(claims, dict) else None) \
        or getattr(token, "client_id", None)
    return str(value)[:256] if value else None


def _query(request: Any) -> Mapping[str, str]:
    query = getattr(request, "query_params", None)
    return query if isinstance(query, Mapping) else {}


def _str(value: object) -> str | None:
    return value[:256] if isinstance(value, str) else None
