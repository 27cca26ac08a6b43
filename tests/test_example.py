"""The example server runs over stdio with the one line, and its tools behave as documented."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "weather_server.py"


@pytest.mark.e2e
def test_example_server_over_stdio() -> None:
    params = StdioServerParameters(command=sys.executable, args=[str(EXAMPLE)],
                                   env={**os.environ, "MCP_COMPLY_LOG_LEVEL": "warning"})

    async def go() -> None:
        async with Client(params) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert sorted(tools) == ["convert_temperature", "get_forecast", "plan_trip", "station_status"]
            assert tools["plan_trip"].input_schema["required"] == ["request"]
            converted = await client.call_tool("convert_temperature",
                                               {"value": 100, "from_unit": "C", "to_unit": "F"})
            assert converted.structured_content == {"result": 212.0}
            trip = await client.call_tool("plan_trip", {"request": {"traveller": "ada",
                                                                    "legs": [{"city": "Oslo", "nights": 2}]}})
            assert json.loads(trip.content[0].text)["legs"][0]["city"] == "oslo"  # type: ignore[union-attr]
            assert (await client.call_tool("get_forecast", {"city": "atlantis"})).is_error is True
            crashed = await client.call_tool("station_status", {"station_id": "ws-13"})
            assert crashed.is_error is True

    anyio.run(go)


def test_github_release_workflow_uses_only_real_cli_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mcp-comply command in examples/github/release.yml parses with the real CLI parser (in a
    folder holding the files the job would have made, since arguments are checked as they enter)."""
    import glob
    import re
    import shlex

    import yaml

    from mcp_comply.cli import _parser

    workflow = yaml.safe_load((EXAMPLE.parent / "github" / "release.yml").read_text())
    job = workflow["jobs"]["release"]
    assert workflow["permissions"] == {"contents": "write", "id-token": "write"}
    commands = []
    for step in job["steps"]:
        script = re.sub(r"\$\{\{[^}]*\}\}", "X", step.get("run", "")).replace("\\\n", " ")
        commands += [line.strip() for line in script.splitlines() if line.strip().startswith("mcp-comply ")]
    assert [c.split()[1] for c in commands] == ["generate", "verify-provenance", "check"]
    assert any('"mcp-comply[release,sigstore]"' in step.get("run", "") for step in job["steps"])
    monkeypatch.chdir(tmp_path)
    for made in ("dist/weather_server-1.0-py3-none-any.whl", "dist/weather_server-1.0.tar.gz",
                 "install-report.json", "build/release-artefacts/release/provenance.sigstore.json"):
        (tmp_path / made).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / made).write_text("{}")

    def argv(command: str) -> list[str]:  # what the shell hands over: globs expanded
        return [m for a in shlex.split(command)[1:] for m in (sorted(glob.glob(a)) if "*" in a else [a])]

    for command in commands:
        args = _parser().parse_args(argv(command))
        assert args.command in {"generate", "verify-provenance", "check"}
    generate = _parser().parse_args(argv(commands[0]))
    assert generate.keyless is True
    assert generate.only == ("dashboards", "alerts", "sbom", "provenance", "ai-act")
    assert len(generate.artifacts) == 2
    # The gate reads what generate wrote: the same folder (else sbom, monitoring and ai-act-docs fail).
    check = _parser().parse_args(argv(commands[2]))
    assert check.out == generate.out == Path("build/release-artefacts")


def test_committed_sample_provenance_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's sample: the signed provenance matches its artefact, and the SBOM is valid."""
    from cyclonedx.schema import OutputFormat, SchemaVersion
    from cyclonedx.validation import make_schemabased_validator

    from mcp_comply.cli import main

    sample = EXAMPLE.parent / "sample-output"
    code = main(["verify-provenance", str(sample / "release" / "provenance.intoto.json"), "--key",
                 str(sample / "keys" / "provenance-signing.pub"), "--artifacts",
                 str(sample / "dist" / "weather_server-1.0.0.tar.gz"), "--builder-id",
                 "https://github.com/actions/runner/github-hosted"])
    assert code == 0, capsys.readouterr().out
    text = (sample / "release" / "sbom.cdx.json").read_text()
    assert make_schemabased_validator(OutputFormat.JSON, SchemaVersion.V1_6).validate_str(text) is None
    assert not list(sample.rglob("*.key"))  # never a private key
