"""The shipped policies load, say what they promise, and drive instrument()."""

from __future__ import annotations

from pathlib import Path

import anyio
import yaml
from mcp import Client
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

import servers
from mcp_comply import instrument
from mcp_comply.config import CONTROLS, Policy, load_policy

POLICIES = Path(__file__).resolve().parents[1] / "policies"


def test_default_policy_is_the_built_in_default() -> None:
    assert load_policy(POLICIES / "default.yaml") == Policy()


def test_default_policy_spells_out_every_setting() -> None:
    """Its header promises every setting with its default: each field of each section is there."""
    text = yaml.safe_load((POLICIES / "default.yaml").read_text())
    for section, info in Policy.model_fields.items():
        model = info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            assert sorted(text[section]) == sorted(model.model_fields), section
        else:
            assert section in text, section


def test_strict_policy() -> None:
    strict = load_policy(POLICIES / "strict.yaml")
    assert strict.name == "strict"
    assert strict.audit.on_failure == "fail-closed"
    assert strict.audit.fsync == "always"
    assert strict.audit.pii is True
    assert strict.audit.retention_days >= 184
    assert set(strict.check.required) == set(CONTROLS)
    assert strict.check.max_unfilled_markers == 0
    assert strict.check.min_retention_days <= strict.audit.retention_days


def test_strict_policy_through_instrument(tmp_path: Path) -> None:
    server = servers.build_mcpserver()
    handle = instrument(server, registry=CollectorRegistry(), audit_dir=tmp_path / "audit",
                        policy=POLICIES / "strict.yaml")

    async def go() -> None:
        async with Client(server) as client:
            await client.call_tool("add", {"a": 1, "b": 2, "ssn": "123-45-6789", "mail": "a.b@example.org"})

    anyio.run(go)
    handle.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "audit").rglob("*.jsonl"))
    assert b'"kind":"intent"' in raw  # fail-closed: the intent was durable before the tool ran
    assert b"123-45-6789" not in raw
    assert b"a.b@example.org" not in raw
