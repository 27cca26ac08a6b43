"""EU AI Act documents: every Annex IV section, every capability of the server with its schema,
answers from the config, markers counted exactly, law as data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcp_comply.cli import main
from mcp_comply.exceptions import ConfigError
from mcp_comply.generate import ai_act, build, resolve_project


def docs(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((folder / "ai-act" / "1.0.0").glob("*.md"))}


def test_one_folder_per_release_with_every_document(complete_project: Path) -> None:
    assert sorted(docs(complete_project)) == sorted(ai_act.FILES)


def test_annex_iv_has_all_nine_sections_and_every_capability_with_its_schema(complete_project: Path) -> None:
    text = docs(complete_project)["annex-iv-technical-documentation.md"]
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == list(ai_act.ANNEX_IV_SECTIONS)
    import sys

    sys.path.insert(0, str(complete_project))
    try:
        from weather_server import build_server
    finally:
        sys.path.remove(str(complete_project))

    async def listed() -> tuple[list[object], list[object], list[object]]:
        async with Client(build_server()) as client:
            return ((await client.list_tools()).tools, (await client.list_resources()).resources,
                    (await client.list_prompts()).prompts)

    tools, resources, prompts = anyio.run(listed)
    assert len(tools) == 4
    for tool in tools:
        block = text.split(f"- **`{tool.name}`**: {tool.description}", 1)[1]  # type: ignore[attr-defined]
        schema_json = block.split("```json\n", 1)[1].split("\n  ```", 1)[0]
        assert json.loads(schema_json) == tool.input_schema  # type: ignore[attr-defined]
    assert "- **`cities`** (`weather://cities`): The cities the forecast tools know." in text
    assert "- **`plan_weekend`**: Ask the assistant to plan a weekend around the weather." in text
    assert (len(resources), len(prompts)) == (1, 1)


def test_prefilled_from_config_pyproject_audit_policy_sbom_and_provenance(complete_project: Path) -> None:
    d = docs(complete_project)
    annex = d["annex-iv-technical-documentation.md"]
    assert "**weather-server 1.0.0**" in annex
    assert "**(a) Intended purpose**: Weather tools for a travel assistant." in annex
    assert "**Provider**: Example Travel Ltd.." in annex
    assert "annex-iv.1a.provider" not in annex
    sbom = json.loads((complete_project / "release" / "sbom.cdx.json").read_text())
    assert f"CycloneDX 1.6, {len(sbom['components'])} third-party components" in annex
    assert "builder `urn:mcp-comply:builder:local`, subjects `weather_server-1.0.0.tar.gz`" in annex
    assert "`MCPAuditWriteErrors` (critical): Audit records could not be written." in annex
    art12 = d["art-12-record-keeping.md"]
    assert "logs are kept for 183 days" in art12
    assert "signed with an Ed25519 key (C2SP signed-note checkpoints)" in art12
    assert "`fsync: batch` (group commit within 10 ms); on failure: `fail-open`" in art12
    assert "**Location**: audit;" in art12


def test_markers_are_counted_exactly(complete_project: Path) -> None:
    assert ai_act.count_markers("x [FILL a.b: one] y [FILL c-d.e: two, three] [FILL ...] [FILL Bad: x]") == 2
    d = docs(complete_project)
    counts = {name: ai_act.count_markers(text) for name, text in d.items() if name != "README.md"}
    readme = d["README.md"]
    for name, count in counts.items():
        assert f"| [{name}]({name}) | {count} |" in readme
    assert f"| **total** | **{sum(counts.values())}** |" in readme
    assert ai_act.count_markers(readme) == 0
    assert counts["risk-classification.md"] == 0  # every question answered in the config


def test_unanswered_questions_become_markers_and_answers_classify(project: Path) -> None:
    config = project / "mcp-comply.yaml"
    text = config.read_text()
    config.write_text(text.replace("annex_iii_areas: [], annex_i_safety_component: false,", ""))
    folder = resolve_project(project)
    risk = next(a for a in build(folder, ["ai-act"]) if a.path.endswith("risk-classification.md")).content.decode()
    assert "[FILL risk.annex-iii: list the areas, or [] for none]" in risk
    assert "**Indicative result**: not determined: answer annex_iii_areas, annex_i_safety_component." in risk
    config.write_text(text.replace("annex_iii_areas: []", "annex_iii_areas: [employment]"))
    risk = next(a for a in build(resolve_project(project), ["ai-act"])
                if a.path.endswith("risk-classification.md")).content.decode()
    assert "**Indicative result**: high-risk (indicative; Art. 6(3) exceptions may apply)." in risk
    assert "- used in Annex III area(s): Employment, workers management, access to self-employment" in risk
    config.write_text(text.replace("prohibited_practice: false", "prohibited_practice: true"))
    risk = next(a for a in build(resolve_project(project), ["ai-act"])
                if a.path.endswith("risk-classification.md")).content.decode()
    assert "prohibited: an Art. 5 practice must not be placed on the market or used" in risk


def test_dates_come_from_the_data_file_and_amendments_apply_by_policy(project: Path) -> None:
    readme = docs(project)["README.md"]
    assert "| 2026-08-02 | General application, including transparency obligations (Art. 50) and high-risk " \
           "systems under Annex III | enacted |" in readme
    assert "- 2027-12-02: High-risk systems under Annex III (instead of 2026-08-02) (Digital Omnibus on AI" in readme
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text() + "ai_act: {apply_amendments: [digital-omnibus-ai]}\n")
    readme = next(a for a in build(resolve_project(project), ["ai-act"]) if a.path.endswith("README.md")).content
    assert b"| 2027-12-02 | High-risk systems under Annex III (instead of 2026-08-02) [Digital Omnibus on AI] " \
           b"| applied by policy |" in readme
    # A newer data file replaces the shipped one.
    shipped = (Path(ai_act.__file__).parent / "data" / "eu-ai-act.yaml").read_text()
    (project / "law.yaml").write_text(shipped.replace('version: "2026-11-24"', 'version: "2027-01-15"'))
    policy.write_text(policy.read_text().replace("ai_act: {apply_amendments: [digital-omnibus-ai]}",
                                                 "ai_act: {regulatory_data: law.yaml}"))
    readme = next(a for a in build(resolve_project(project), ["ai-act"]) if a.path.endswith("README.md")).content
    assert f"Regulatory data: `{project / 'law.yaml'}` version 2027-01-15".encode() in readme


def test_unknown_amendment_is_a_configuration_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text() + "ai_act: {apply_amendments: [omnibus-2030]}\n")
    with pytest.raises(ConfigError) as info:
        build(resolve_project(project), ["ai-act"])
    assert info.value.path == "ai_act.apply_amendments"
    assert "unknown amendment(s) omnibus-2030" in info.value.reason
    assert main(["generate", "--config", str(project / "mcp-comply.yaml"), "--only", "ai-act"]) == 2


def test_documents_are_deterministic(project: Path) -> None:
    first = [a.content for a in build(resolve_project(project), ["ai-act"])]
    second = [a.content for a in build(resolve_project(project), ["ai-act"])]
    assert first == second
