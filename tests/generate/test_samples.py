"""The committed samples (examples/sample-output, made by make_sample.py) show what a release gives:
every SBOM component with an artefact hash, provenance in its full form, AI Act documents that
state the law's data version."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from mcp_comply.generate import ai_act

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample-output"


def test_every_sample_sbom_component_has_a_sha256() -> None:
    components = json.loads((SAMPLE / "release" / "sbom.cdx.json").read_text())["components"]
    assert len(components) >= 40  # the runtime install: mcp, OpenTelemetry, prometheus-client, ... and theirs
    unhashed = [c["name"] for c in components if not any(h["alg"] == "SHA-256" for h in c.get("hashes", []))]
    assert unhashed == []
    assert all(len(h["content"]) == 64 for c in components for h in c["hashes"])


def test_sample_provenance_has_the_full_form() -> None:
    envelope = json.loads((SAMPLE / "release" / "provenance.intoto.json").read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert json.loads((SAMPLE / "release" / "provenance.statement.json").read_text()) == statement
    build, run = statement["predicate"]["buildDefinition"], statement["predicate"]["runDetails"]
    source = build["resolvedDependencies"][0]
    assert source["uri"] == "git+https://github.com/example/weather-server@refs/tags/v1.0.0"
    assert len(source["digest"]["gitCommit"]) == 40
    assert build["resolvedDependencies"][1]["name"] == "sbom.cdx.json"
    assert build["externalParameters"]["workflow"] == \
        "example/weather-server/.github/workflows/release.yml@refs/tags/v1.0.0"
    assert build["internalParameters"]["platform"] == "github-actions"
    assert run["builder"]["id"] == "https://github.com/actions/runner/github-hosted"
    assert run["metadata"] == {"invocationId": "https://github.com/example/weather-server/actions/runs/1234567890/"
                                               "attempts/1", "startedOn": "2026-11-30T12:00:00Z"}
    assert len(run["byproducts"]) == 10


def test_sample_ai_act_documents_state_the_shipped_data_version() -> None:
    import yaml

    version = yaml.safe_load((Path(ai_act.__file__).parent / "data" / "eu-ai-act.yaml").read_text())["version"]
    for path in sorted((SAMPLE / "ai-act" / "1.0.0").glob("*.md")):
        assert f"> Law as of the regulatory data version {version}" in path.read_text(), path.name
    readme = (SAMPLE / "ai-act" / "1.0.0" / "README.md").read_text()
    assert "| 2027-12-02 | High-risk systems under Annex III (Art. 6(2)): Chapter III Sections 1 to 3 | in force" \
        in readme
