"""`mcp-comply check`: passes on a complete project, and fails with the right row for each missing
or broken control; configuration errors exit 2 with their location."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mcp_comply.check import schema_issues
from mcp_comply.cli import main


def check(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["check", "--config", str(folder / "mcp-comply.yaml"), "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    return code, report


def rows(report: dict[str, Any]) -> dict[str, tuple[str, bool, str]]:
    return {c["control"]: (c["status"], c["required"], c["detail"]) for c in report["controls"]}


def test_complete_project_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = check(project, capsys)
    assert code == 0, report
    got = rows(report)
    assert {k: v[0] for k, v in got.items() if k != "ai-act-data"} == {  # ai-act-data: its own test, dated
        "instrumentation": "pass", "audit-signing": "pass", "audit-chain": "pass", "retention": "pass",
        "sbom": "pass", "provenance": "pass", "monitoring": "pass", "ai-act-docs": "pass",
        "strict-schemas": "pass", "http-auth": "fail"}
    assert got["http-auth"][1] is False  # advisory in this policy
    assert got["audit-chain"][2] == "9 records in 1 chain(s), 2 signed checkpoint(s) verified"
    assert got["provenance"][2] == "signature verifies; 1 artefact(s) match its subjects"
    assert report["failed_required"] == []
    # The table form says the same.
    main(["check", "--config", str(project / "mcp-comply.yaml")])
    table = capsys.readouterr().out
    assert "PASS: every required control passes" in table
    assert "http-auth        no        FAIL" in table


def _fails(project: Path, capsys: pytest.CaptureFixture[str], control: str, *extra: str) -> str:
    code, report = check(project, capsys, *extra)
    got = rows(report)
    failing = sorted(k for k, v in got.items() if v[0] != "pass" and v[1])
    assert (code, failing) == (1, [control]), report
    return got[control][2]


def test_uninstrumented_server_fails_instrumentation(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = (project / "weather_server.py").read_text()
    one_line = "    instrument(server, metrics_port=metrics_port)\n"
    assert one_line in source
    (project / "weather_server.py").write_text(source.replace(one_line, ""))
    (project / "mcp-comply.yaml").write_text((project / "mcp-comply.yaml").read_text().replace(
        "server: weather_server:build_server", "server: plain_weather:build_server"))
    (project / "plain_weather.py").write_text((project / "weather_server.py").read_text())
    detail = _fails(project, capsys, "instrumentation")
    assert "is not instrumented" in detail


def test_unsigned_audit_fails_audit_signing(project: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCP_COMPLY_AUDIT_SIGNING_KEY", raising=False)
    (project / "policy.yaml").write_text((project / "policy.yaml").read_text().replace(
        ", signing_key: keys/audit-signing.key", ""))
    assert "checkpoints are unsigned" in _fails(project, capsys, "audit-signing")


def test_tampered_audit_log_fails_audit_chain(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    segment = sorted((project / "audit").glob("chain-*/segment-*.jsonl"))[0]
    segment.write_text(segment.read_text().replace('"oslo"', '"OSLO"', 1))
    assert "finding(s), first:" in _fails(project, capsys, "audit-chain")


def test_audit_chain_needs_records_and_a_signed_checkpoint(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty folder passes nothing; a whole log rewritten with its notes deleted is not
    authenticated, even though every record chains."""
    empty = project / "empty-audit"
    empty.mkdir()
    assert _fails(project, capsys, "audit-chain", "--audit-dir", str(empty)) == \
        f"no audit records in {empty}: nothing to verify"
    shutil.rmtree(project / "audit" / "checkpoints")
    detail = _fails(project, capsys, "audit-chain")
    assert detail.startswith("1 finding(s), first: not_authenticated: ")
    assert "nothing authenticated: 9 records and no checkpoint signed by the given key" in detail


def test_a_named_audit_dir_gates_whatever_the_policy_requires(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text().replace("audit-signing, audit-chain,", "audit-signing,"))
    segment = sorted((project / "audit").glob("chain-*/segment-*.jsonl"))[0]
    segment.write_text(segment.read_text().replace('"oslo"', '"OSLO"', 1))
    code, report = check(project, capsys)
    assert (code, rows(report)["audit-chain"][:2]) == (0, ("fail", False))  # advisory under this policy
    assert "finding(s), first:" in _fails(project, capsys, "audit-chain", "--audit-dir", str(project / "audit"))


def test_short_retention_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "policy.yaml").write_text((project / "policy.yaml").read_text().replace(
        "audit: {", "audit: {retention_days: 30, "))
    assert _fails(project, capsys, "retention") == \
        "audit.retention_days is 30; needs at least 184 (policy 184, EU AI Act 184)"


def test_missing_or_stale_sbom_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sbom = project / "release" / "sbom.cdx.json"
    data = json.loads(sbom.read_text())
    data["components"] = data["components"][1:]
    removed = json.loads(sbom.read_text())["components"][0]["purl"]
    sbom.write_text(json.dumps(data))
    detail = _fails(project, capsys, "sbom")
    assert f"+{removed}" in detail
    assert "is stale: 1 component(s) missing" in detail
    sbom.unlink()
    assert "no SBOM in" in _fails(project, capsys, "sbom")


def test_rebuilt_artifact_fails_provenance(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "dist" / "weather_server-1.0.0.tar.gz").write_bytes(b"a different build")
    assert "is not a subject of the provenance" in _fails(project, capsys, "provenance")


def test_edited_rules_fail_monitoring(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "alerts" / "mcp-comply-alerts.rules.yaml").write_text("groups: []\n")
    detail = _fails(project, capsys, "monitoring")
    assert detail == "1 of 10 files missing or out of date: alerts/mcp-comply-alerts.rules.yaml (differs)"


def test_unfilled_markers_fail_when_the_policy_sets_a_limit(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "policy.yaml").write_text((project / "policy.yaml").read_text() + "  max_unfilled_markers: 0\n")
    detail = _fails(project, capsys, "ai-act-docs")
    assert detail == ("32 unfilled markers (policy allows 0): annex-iv-technical-documentation.md 21, "
                      "art-13-instructions-for-use.md 7, art-12-record-keeping.md 2")
    shutil.rmtree(project / "ai-act")
    assert "missing in" in _fails(project, capsys, "ai-act-docs")


def test_schema_issues_name_untyped_properties() -> None:
    assert schema_issues({"type": "object", "properties": {"a": {"type": "string"}, "b": {}}}) == \
        ["property b has no type"]
    assert schema_issues({"type": "object", "$defs": {"Leg": {"type": "object", "properties": {"n": {"title": "N"}}}},
                          "properties": {"leg": {"$ref": "#/$defs/Leg"}}}) == ["property $defs.Leg.n has no type"]
    assert schema_issues({"type": "array"}) == ["the input schema is not of type object"]


@pytest.mark.parametrize(("policy_text", "path", "reason"), [
    ("check: {required: [instrumentation, telepathy]}\n", "check.required", "unknown control(s) telepathy"),
    ("check: {max_unfilled_markers: -1}\n", "check.max_unfilled_markers", "greater than or equal to 0"),
])
def test_invalid_policy_exits_2_with_the_location(project: Path, capsys: pytest.CaptureFixture[str],
                                                  policy_text: str, path: str, reason: str) -> None:
    (project / "policy.yaml").write_text(policy_text)
    assert main(["check", "--config", str(project / "mcp-comply.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mcp-comply check: error: {project / 'policy.yaml'}: {path}: ")
    assert reason in err


def test_unknown_annex_iii_area_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "mcp-comply.yaml").write_text((project / "mcp-comply.yaml").read_text().replace(
        "annex_iii_areas: []", "annex_iii_areas: [astrology]"))
    assert main(["generate", "--config", str(project / "mcp-comply.yaml"), "--only", "ai-act"]) == 2
    err = capsys.readouterr().err
    assert f"error: {project / 'mcp-comply.yaml'}: ai_act.risk.annex_iii_areas: " in err
    assert "unknown Annex III area(s) astrology" in err


def test_http_auth_sees_each_frameworks_auth_settings() -> None:
    import fastmcp
    from fastmcp.server.auth.providers.jwt import StaticTokenVerifier
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    from mcp_comply.check import _http_auth

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            return None

    secured = MCPServer("secured", token_verifier=Verifier(),
                        auth=AuthSettings(issuer_url="http://127.0.0.1:9/",  # type: ignore[arg-type]
                                          resource_server_url="http://127.0.0.1:9/mcp",  # type: ignore[arg-type]
                                          validate_token_resource=False))
    assert _http_auth(secured) == ("pass", "a token verifier / auth settings are configured")
    assert _http_auth(MCPServer("open")) == (
        "fail", "no auth configured: pass auth=AuthSettings(...) and token_verifier=... to MCPServer")
    from mcp.server import Server

    assert _http_auth(Server("low")) == (
        "fail", "cannot tell from a low-level Server: authentication lives in the ASGI app that serves it")
    assert _http_auth(object())[1].startswith("cannot instrument an object of type builtins.object")
    verifier = StaticTokenVerifier(tokens={"t": {"client_id": "agent", "scopes": []}})
    assert _http_auth(fastmcp.FastMCP("secured", auth=verifier)) == ("pass", "fastmcp auth provider configured")
    assert _http_auth(fastmcp.FastMCP("open")) == ("fail", "no auth provider: FastMCP(auth=...)")


@pytest.mark.parametrize(("release", "setting", "reason"), [
    pytest.param({"audit_key": "pipe"}, "audit_key", "pipe: not a regular file (a FIFO)", id="audit-key-fifo"),
    pytest.param({"provenance_key": "/dev/zero"}, "provenance_key",
                 "/dev/zero: not a regular file (a device)", id="provenance-key-device"),
    pytest.param({"artifacts": ["dist/*"]}, "artifacts", "dist/pipe: not a regular file (a FIFO)",
                 id="artifact-glob-matches-fifo"),
    pytest.param({"audit_key": "prov.pub"}, "audit_key",
                 "this is a PEM public key (mcp-comply provenance-keygen: provenance-signing.pub); the audit-chain "
                 "control needs an audit checkpoint public key", id="audit-key-of-the-other-family"),
    pytest.param({"audit_dir": "prov.pub"}, "audit_dir", "prov.pub: is a file, not a folder", id="audit-dir-a-file"),
])
def test_files_the_config_names_are_checked_like_the_options(tmp_path: Path, release: dict[str, Any],
                                                             setting: str, reason: str) -> None:
    """`release:` paths stand in for --audit-key, --provenance-key, --artifacts and --audit-dir and
    get the same checks, as a ConfigError naming config file and setting: a FIFO there hung
    `check`, a device was read until memory ran out."""
    import os

    from mcp_comply.check import inputs_from
    from mcp_comply.config import Policy, ProjectConfig
    from mcp_comply.exceptions import ConfigError
    from mcp_comply.generate import Project

    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dist").mkdir()
    os.mkfifo(tmp_path / "dist" / "pipe")
    (tmp_path / "prov.pub").write_text("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n")
    config = ProjectConfig(server="m:s", release=release)  # type: ignore[arg-type]
    project = Project(tmp_path, config, str(tmp_path / "mcp-comply.yaml"), Policy(), "(built-in defaults)")
    with pytest.raises(ConfigError) as info:
        inputs_from(project)
    assert (info.value.source, info.value.path) == (str(tmp_path / "mcp-comply.yaml"), f"release.{setting}")
    assert reason in info.value.reason


def test_a_damaged_output_file_fails_its_control(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An SBOM or AI Act document that is not UTF-8 (damaged, or replaced by something else) is
    the control's finding, not a UnicodeDecodeError traceback."""
    sbom = project / "release" / "sbom.cdx.json"
    good = sbom.read_bytes()
    sbom.write_bytes(good[:10] + b"\xff" + good[10:])
    assert _fails(project, capsys, "sbom") == ("sbom.cdx.json is not UTF-8 text (byte 0xff at offset 10): damaged "
                                               "or not what generate wrote")
    sbom.write_bytes(good)
    doc = next((project / "ai-act").glob("*/art-50-transparency-notice.md"))
    doc.write_bytes(b"\xe9" + doc.read_bytes())
    assert _fails(project, capsys, "ai-act-docs") == (
        "art-50-transparency-notice.md is not UTF-8 text (byte 0xe9 at offset 0): damaged or not what generate "
        "wrote (mcp-comply generate --only ai-act)")
