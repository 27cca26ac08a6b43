"""A complete release project around the example server, built with the real commands: a sealed,
signed audit chain from real calls, a built archive, and every artefact `generate` writes."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import anyio
from mcp import Client
from prometheus_client import CollectorRegistry

from mcp_comply import instrument
from mcp_comply.audit.keys import keygen as audit_keygen
from mcp_comply.cli import main
from mcp_comply.config import AuditPolicy, Policy

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """\
server: weather_server:build_server
service_name: weather
policy: policy.yaml
owners: [weather-team@example.org]
intended_purpose: Weather tools for a travel assistant.
ai_act:
  role: provider
  provider: Example Travel Ltd.
  contact: weather-team@example.org
  human_oversight: Travellers confirm every plan.
  limitations: Forecasts are synthetic.
  risk: {ai_system: component, prohibited_practice: false, annex_iii_areas: [], annex_i_safety_component: false,
         gpai_model_provided: false, interacts_with_people: true, generates_synthetic_content: false,
         emotion_or_biometric_categorisation: false}
release:
  artifacts: [dist/*]
  provenance_key: keys/provenance-signing.pub
  audit_dir: audit
  audit_key: keys/audit-signing.pub
"""
POLICY = """\
version: 1
name: complete
audit: {directory: audit, signing_key: keys/audit-signing.key}
check:
  required: [instrumentation, audit-signing, audit-chain, retention, sbom, provenance, monitoring, ai-act-docs,
             strict-schemas]
"""
PYPROJECT = """\
[project]
name = "weather-server"
version = "1.0.0"
description = "Weather tools for AI agents."
license = "Apache-2.0"
dependencies = ["mcp-comply"]
"""


def make_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "pyproject.toml").write_text(PYPROJECT)
    (folder / "mcp-comply.yaml").write_text(CONFIG)
    (folder / "policy.yaml").write_text(POLICY)
    shutil.copyfile(ROOT / "examples" / "weather_server.py", folder / "weather_server.py")
    (folder / "dist").mkdir()
    with tarfile.open(folder / "dist" / "weather_server-1.0.0.tar.gz", "w:gz") as tar:
        tar.add(folder / "weather_server.py", arcname="weather_server-1.0.0/weather_server.py")
    audit_keygen(folder / "keys", "weather-audit")
    assert main(["provenance-keygen", "--out", str(folder / "keys")]) == 0
    _audit_some_calls(folder)
    assert main(["generate", "--config", str(folder / "mcp-comply.yaml"), "--artifacts",
                 str(folder / "dist" / "weather_server-1.0.0.tar.gz"),
                 "--signing-key", str(folder / "keys" / "provenance-signing.key")]) == 0
    return folder


def _audit_some_calls(folder: Path) -> None:
    """A real, sealed audit chain: the example server instrumented with the audit log on."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("weather")

    @server.tool()
    def get_forecast(city: str) -> str:
        """Forecast."""
        return json.dumps({"city": city})

    # no time-based checkpoint: the record count stays the same on a slow machine
    policy = Policy(audit=AuditPolicy(signing_key=str(folder / "keys" / "audit-signing.key"),
                                      checkpoint_interval_s=3600))
    handle = instrument(server, registry=CollectorRegistry(), audit_dir=folder / "audit", policy=policy)

    async def calls() -> None:
        async with Client(server) as client:
            for city in ("paris", "oslo", "rome"):
                await client.call_tool("get_forecast", {"city": city})

    anyio.run(calls)
    handle.close()
