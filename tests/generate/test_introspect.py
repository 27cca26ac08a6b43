"""Introspection asks the server through the SDK's client, for every supported framework."""

from __future__ import annotations

from pathlib import Path

import pytest

import servers
from mcp_comply.exceptions import ConfigError
from mcp_comply.generate.introspect import introspect, resolve_server, schema_digest


@pytest.mark.parametrize("framework", servers.FRAMEWORKS)
def test_every_framework_lists_its_tools_with_schemas(framework: str) -> None:
    surface = introspect(servers.BUILDERS[framework]())
    tools = surface.of("tool")
    assert [t.name for t in tools] == sorted(servers.TOOLS)
    add = next(t for t in tools if t.name == "add")
    assert add.schema is not None
    assert add.schema["type"] == "object"
    assert set(add.schema["properties"]) == {"a", "b"}
    assert add.schema_digest == schema_digest(add.schema)


def test_schema_digest_ignores_key_order() -> None:
    assert schema_digest({"type": "object", "properties": {"a": {"type": "string"}}}) == \
        schema_digest({"properties": {"a": {"type": "string"}}, "type": "object"})


def test_a_failing_factory_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "broken_factory.py").write_text("def build():\n    raise RuntimeError('no database')\n")
    with pytest.raises(ConfigError) as info:
        resolve_server("broken_factory:build", tmp_path)
    assert info.value.reason == "calling the server factory failed: RuntimeError: no database"
    assert (info.value.source, info.value.path) == ("broken_factory:build", "server")


def test_only_supported_servers_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "not_a_server.py").write_text("URL = 'http://example.org/mcp'\n\ndef build():\n    return 42\n")
    with pytest.raises(ConfigError, match="is a str, not an MCP server or a function that builds one"):
        resolve_server("not_a_server:URL", tmp_path)
    with pytest.raises(ConfigError) as info:
        resolve_server("not_a_server:build", tmp_path)
    assert info.value.reason.startswith("the factory returned an unsupported object: cannot instrument an object "
                                        "of type builtins.int")
