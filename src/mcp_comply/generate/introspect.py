"""What an MCP server exposes, asked the way a client would: the installed SDK's own client over
the in-memory transport lists its tools, resources and prompts (any framework ``instrument()``
supports, through the adapters' ``open_session``). Used by the SBOM's services and the AI Act documentation."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from mcp_comply.config import load_server
from mcp_comply.exceptions import ConfigError


@dataclass(frozen=True)
class Capability:
    kind: str  # tool | resource | resource-template | prompt
    name: str
    description: str
    schema: dict[str, Any] | None = None
    """Tools: the input schema; prompts: the argument list as a schema-like mapping."""
    uri: str | None = None

    @property
    def schema_digest(self) -> str | None:
        return None if self.schema is None else schema_digest(self.schema)


@dataclass(frozen=True)
class ServerSurface:
    name: str
    version: str | None
    instructions: str | None
    capabilities: tuple[Capability, ...]

    def of(self, kind: str) -> list[Capability]:
        return [c for c in self.capabilities if c.kind == kind]


def schema_digest(schema: dict[str, Any]) -> str:
    """SHA-256 of the schema's canonical JSON (sorted keys, no spaces): stable across runs."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def resolve_server(spec: str, root: Any) -> Any:
    """Import ``module:attr``; a zero-argument factory (like ``build_server``) is called. The result
    must be a server ``instrument()`` supports."""
    from mcp_comply import _log

    # Importing the project's module (or calling its factory) usually instruments the server;
    # its start-up log line is noise here.
    with _log.quiet():
        return _resolve(spec, root)


def _resolve(spec: str, root: Any) -> Any:
    from mcp_comply.exceptions import InstrumentationError
    from mcp_comply.instrument._frameworks import detect

    value = load_server(spec, root)
    try:
        detect(value)
    except InstrumentationError:
        if not callable(value):
            raise ConfigError(f"{spec} is a {type(value).__name__}, not an MCP server or a function that builds "
                              "one", source=spec, path="server") from None
        try:
            value = value()
        except Exception as exc:  # noqa: BLE001 - any failure of user code becomes a configuration error
            raise ConfigError(f"calling the server factory failed: {type(exc).__name__}: {exc}", source=spec,
                              path="server") from None
        try:
            detect(value)
        except InstrumentationError as exc:
            raise ConfigError(f"the factory returned an unsupported object: {exc}", source=spec,
                              path="server") from None
    return value


async def _ask(server: Any) -> ServerSurface:
    from mcp_comply.instrument._frameworks import open_session, protocol_error_class

    protocol_error = protocol_error_class()
    async with open_session(server) as (client, info):
        caps: list[Capability] = []
        tools = await client.list_tools()
        caps += [Capability("tool", t.name, t.description or "", dict(_schema(t))) for t in tools.tools]
        for lister, kind in (("list_resources", "resource"), ("list_resource_templates", "resource-template"),
                             ("list_prompts", "prompt")):
            try:
                listed = await getattr(client, lister)()
            except protocol_error:
                continue  # the server does not offer this capability
            for item in _items(listed, kind):
                if kind == "prompt":
                    args = {a.name: {"description": a.description or "", "required": bool(a.required)}
                            for a in (item.arguments or [])}
                    caps.append(Capability(kind, item.name, item.description or "", {"arguments": args}))
                else:
                    uri = str(getattr(item, "uri", None) or getattr(item, "uri_template", None)
                              or getattr(item, "uriTemplate", ""))
                    caps.append(Capability(kind, item.name, item.description or "", None, uri))
    name = getattr(info, "name", None) or getattr(server, "name", "mcp-server")
    version = getattr(info, "version", None)
    instructions = getattr(server, "instructions", None)
    order = {"tool": 0, "resource": 1, "resource-template": 2, "prompt": 3}
    return ServerSurface(str(name), version, instructions if isinstance(instructions, str) else None,
                         tuple(sorted(caps, key=lambda c: (order[c.kind], c.name))))


def _items(listed: Any, kind: str) -> list[Any]:
    if kind == "resource-template":
        # mcp 2.x names the field resource_templates, 1.x resourceTemplates
        found = listed.resource_templates if "resource_templates" in type(listed).model_fields \
            else listed.resourceTemplates
    else:
        found = getattr(listed, {"resource": "resources", "prompt": "prompts"}[kind])
    return list(found or [])


def _schema(tool: Any) -> Any:
    """A tool's input schema: ``input_schema`` on mcp 2.x, ``inputSchema`` on 1.x."""
    schema = getattr(tool, "input_schema", None)
    return schema if schema is not None else tool.inputSchema


def introspect(server: Any) -> ServerSurface:
    import anyio

    return anyio.run(_ask, server)
