"""EU AI Act documents: every Annex IV section, every capability of the server with its schema,
answers from the config, markers counted exactly, law as data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import anyio
import pytest
import yaml
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
    assert "logs are kept for 184 days" in art12
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


def _doc(project: Path, name: str) -> str:
    return next(a for a in build(resolve_project(project), ["ai-act"]) if a.path.endswith(name)).content.decode()


def _set_config(project: Path, old: str, new: str) -> None:
    config = project / "mcp-comply.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new))


SHIPPED = Path(ai_act.__file__).parent / "data" / "eu-ai-act.yaml"


def test_law_is_dated_data_with_status_legal_source_and_checked_sources(project: Path) -> None:
    """The Digital Omnibus on AI is in force: the new dates replace the 2024 ones, which stay as superseded."""
    readme = docs(project)["README.md"]
    for row in (
        "| 2027-12-02 | High-risk systems under Annex III (Art. 6(2)): Chapter III Sections 1 to 3 | in force "
        "(secondary sources) | Art. 113, third paragraph, point (c) as amended by Regulation (EU) 2026/1744 | "
        "council-0629, tma-timeline, asc-1341 |",
        "| 2028-08-02 | High-risk systems under Annex I (Art. 6(1)), embedded in products | in force (secondary "
        "sources) |",
        "| 2026-12-02 | New Art. 5 prohibitions (Art. 5(1)(ba) and (bb)): AI systems generating non-consensual sexual "
        "or intimate content or child sexual abuse material | in force (secondary sources) |",
        "| 2026-12-02 | Art. 50(2) machine-readable marking for generative systems placed on the market before "
        "2026-08-02 | in force (secondary sources) | Art. 111(4) as inserted by Regulation (EU) 2026/1744 |",
        "| 2026-08-02 | High-risk systems under Annex III (Art. 6(2)), as enacted in 2024 | superseded by the Digital "
        "Omnibus on AI |",
        "| 2026-08-02 | General application, including the transparency obligations (Art. 50) | in force | "
        "Art. 113, second paragraph |",
    ):
        assert row in readme, row
    assert "- 2026-06-16: European Parliament adoption (423 for, 57 against, 174 abstentions)" in readme
    assert "- 2026-06-29: Council final approval (council-0629)" in readme
    assert "Regulation (EU) 2026/1744 of 8 July 2026, OJ L, 2026/1744, 24.7.2026" in readme
    assert "- 2026-07-27: entry into force (tma-timeline, aigw-reference, asc-1341)" in readme
    assert "- Art. 4 (in force, Art. 4 as amended by Regulation (EU) 2026/1744): Providers and deployers take " \
           "measures to support the development of AI literacy" in readme
    assert "- `council-0629` (retrieved 2026-11-29): Council of the EU press release 2026-06-29" in readme
    data = yaml.safe_load(SHIPPED.read_text())
    known = {s["id"] for s in data["sources"]}
    assert all(s["retrieved"] and s["url"].startswith("https://") for s in data["sources"])
    for entry in data["dates"] + data["obligations"]:
        assert entry["status"] in ai_act.STATUSES
        assert entry["confirmed"] in ai_act.CONFIRMATIONS
        assert entry["legal_source"]
        assert set(entry["sources"]) <= known
        assert entry["sources"] == [s for s in entry["sources"] if f"`{s}`" in readme]


def test_a_dated_fact_without_status_or_sources_is_a_configuration_error(project: Path) -> None:
    shipped = SHIPPED.read_text()
    broken = shipped.replace("status: superseded, superseded_by: digital-omnibus-ai, confirmed: official, "
                             "legal_source: \"Art. 113, second paragraph (original text)\"",
                             "status: enacted, confirmed: official, legal_source: x", 1)
    assert broken != shipped
    (project / "law.yaml").write_text(broken)
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text() + "ai_act: {regulatory_data: law.yaml}\n")
    with pytest.raises(ConfigError) as info:
        build(resolve_project(project), ["ai-act"])
    assert (info.value.path, info.value.source) == ("dates.high-risk-annex-iii-original", str(project / "law.yaml"))
    assert info.value.reason.startswith("status must be one of in force, adopted, awaiting publication, proposed")
    (project / "law.yaml").write_text(shipped.replace("sources: [gfmd-art113]}", "sources: [nowhere]}", 1))
    with pytest.raises(ConfigError) as info:
        build(resolve_project(project), ["ai-act"])
    assert (info.value.path, info.value.reason) == ("dates.entry-into-force",
                                                    "needs sources from the sources list; unknown: nowhere")


def test_every_document_states_the_data_version(project: Path) -> None:
    for name, text in docs(project).items():
        assert "> Law as of the regulatory data version 2026-11-29 (`mcp_comply/generate/data/eu-ai-act.yaml`)" \
            in text, name


def test_proposed_amendments_are_listed_and_apply_only_by_policy(project: Path) -> None:
    shipped = SHIPPED.read_text()
    proposed = shipped.replace("sources:                           # what was read", """\
  - id: omnibus-2
    title: Second AI omnibus
    status: proposed
    changes:
      - {date: 2029-01-01, applies: High-risk systems under Annex III}
sources:                           # what was read""")
    (project / "law.yaml").write_text(proposed.replace('version: "2026-11-29"', 'version: "2027-01-15"'))
    policy = project / "policy.yaml"
    base = policy.read_text()
    policy.write_text(base + "ai_act: {regulatory_data: law.yaml}\n")
    readme = _doc(project, "README.md")
    assert f"Regulatory data: `{project / 'law.yaml'}` version 2027-01-15" in readme
    assert "- 2029-01-01: High-risk systems under Annex III (Second AI omnibus: proposed)" in readme
    policy.write_text(base + "ai_act: {regulatory_data: law.yaml, apply_amendments: [omnibus-2]}\n")
    readme = _doc(project, "README.md")
    assert "| 2029-01-01 | High-risk systems under Annex III [Second AI omnibus] | applied by policy |" in readme


def test_art_50_5_is_about_how_information_is_given_and_50_3_is_labelled_a_deployer_duty(project: Path) -> None:
    text = _doc(project, "art-50-transparency-notice.md")
    assert "apply to deployers" not in text
    assert "Art. 50(5) governs how the information of paragraphs 1 to 4 is given: clearly and distinguishably, at " \
           "the latest at the time of the first interaction or exposure" in text
    assert "| 50(3) | deployer | People exposed to an emotion recognition or biometric categorisation system are " \
           "informed of its operation | not a duty of the provider |" in text
    assert "| 50(1) | provider |" in text
    assert "| 50(2) | provider |" in text
    assert "| 50(4) | deployer |" in text
    _set_config(project, "role: provider", "role: provider-and-deployer")
    text = _doc(project, "art-50-transparency-notice.md")
    assert "| 50(3) | deployer | People exposed to an emotion recognition or biometric categorisation system are " \
           "informed of its operation | no | not applicable |" in text
    assert "[FILL art50.4.applies: does the deployer publish deep fakes or such text?" in text


def test_retention_is_counted_in_calendar_months_not_183_days(project: Path) -> None:
    from datetime import date

    assert ai_act.months_in_days(6) == (181, 184)
    assert ai_act.add_months(date(2026, 7, 1), 6) == date(2027, 1, 1)
    assert ai_act.add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert ai_act.add_months(date(2027, 8, 31), 6) == date(2028, 2, 29)
    text = _doc(project, "art-12-record-keeping.md")
    assert "taken as 183 days" not in text
    assert "- **Retention**: 184 days (policy `audit.retention_days`)" in text  # the default
    assert "184 days cover them whatever that day." in text
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text().replace("audit: {directory: audit,",
                                                 "audit: {retention_days: 183, directory: audit,"))
    text = _doc(project, "art-12-record-keeping.md")
    assert "counted in calendar months, which last 181 to 184 days depending on the day a record is written: 183 " \
           "days can end before 6 calendar months have passed (a record of 1 July is deleted before 1 January); " \
           "keep at least 184 days to meet the minimum for every record." in text


def test_annex_iv_2a_does_not_claim_the_tools_are_deterministic(project: Path) -> None:
    text = _doc(project, "annex-iv-technical-documentation.md")
    assert "deterministic" not in text
    assert "whether a tool calls a model or an external AI service is not visible to mcp-comply. [FILL " \
           "annex-iv.2a.models: for each tool, the models, pre-trained systems or external AI services it calls, " \
           "or none]" in text


def test_art_13_3_a_names_the_authorised_representative_and_b_has_every_point(project: Path) -> None:
    text = _doc(project, "art-13-instructions-for-use.md")
    assert "Authorised representative (Art. 22): [FILL art13.a.representative:" in text
    points = re.findall(r"^- \((i|ii|iii|iv|v|vi|vii)\) ", text, flags=re.MULTILINE)
    assert points == ["i", "ii", "iii", "iv", "v", "vi", "vii"]
    assert "- (iv) Technical capabilities to provide information that explains the output: [FILL " \
           "art13.b.explain:" in text
    assert "- (v) Performance for the specific persons or groups it is intended for: [FILL art13.b.groups:" in text
    assert "- (vii) Information that lets deployers interpret the output and use it appropriately: [FILL " \
           "art13.b.interpret:" in text


def test_annex_iv_point_3_covers_unintended_outcomes_and_oversight_for_interpreting_outputs(project: Path) -> None:
    text = _doc(project, "annex-iv-technical-documentation.md")
    section = text.split("## 3. Monitoring, functioning and control", 1)[1].split("## 4.", 1)[0]
    assert "**Foreseeable unintended outcomes and sources of risk** (to health, safety, fundamental rights, " \
           "discrimination): [FILL annex-iv.3.risks:" in section
    assert "**Human oversight measures (Art. 14)**, including the technical measures that help deployers interpret " \
           "the outputs: Travellers confirm every plan. [FILL annex-iv.3.interpretation:" in section
    assert "[FILL annex-iv.3.accuracy: degrees of accuracy for the persons or groups" in section


def test_art_12_3_is_stated_not_applicable_unless_biometrics(project: Path) -> None:
    text = _doc(project, "art-12-record-keeping.md")
    assert "**Art. 12(3)** (a minimum list of logged data for remote biometric identification systems, Annex III " \
           "point 1(a)): not applicable: the risk answers list no biometrics area." in text
    _set_config(project, "annex_iii_areas: []", "annex_iii_areas: [biometrics]")
    assert "point 1(a)): [FILL art12.3: if the system does remote biometric identification:" in \
        _doc(project, "art-12-record-keeping.md")


def test_risk_questionnaire_starts_with_art_3_1_and_the_role(project: Path) -> None:
    text = _doc(project, "risk-classification.md")
    questions = re.findall(r"^\| (.+?) \| `([a-z_.]+)` \|", text, flags=re.MULTILINE)
    assert [key for _, key in questions][:3] == ["ai_system", "ai_act.role", "prohibited_practice"]
    assert "| Is the MCP server an AI system (Art. 3(1)), a component of one, or neither? | `ai_system` | a " \
           "component of an AI system |" in text
    assert "| Are you the provider, the deployer, or both (Art. 25)? | `ai_act.role` | provider |" in text
    _set_config(project, "ai_system: component, ", "")
    _set_config(project, "  role: provider\n", "")
    text = _doc(project, "risk-classification.md")
    assert "[FILL risk.ai-system: answer ai_act.risk.ai_system: ai-system, component or neither]" in text
    assert "[FILL risk.role: answer ai_act.role: provider, deployer or provider-and-deployer]" in text
    assert "**Indicative result**: not determined: answer ai_system." in text
    _set_config(project, "risk: {", "risk: {ai_system: neither, ")
    assert "**Indicative result**: outside the Act's duties for AI systems on this answer: the server is neither an " \
           "AI system nor a component of one (Art. 3(1)); confirm it." in _doc(project, "risk-classification.md")


def test_high_risk_result_names_the_date_from_the_data(project: Path) -> None:
    _set_config(project, "annex_iii_areas: []", "annex_iii_areas: [employment]")
    assert "- used in Annex III area(s): Employment, workers management, access to self-employment (high-risk " \
           "obligations apply from 2027-12-02)" in _doc(project, "risk-classification.md")


def test_nothing_is_asserted_that_the_evidence_does_not_back(project: Path) -> None:
    """Every statement about the server comes from the config, the server, the policy or the artefacts:
    with an empty AI Act config every such statement is a marker."""
    _set_config(project, "intended_purpose: Weather tools for a travel assistant.\n", "")
    text = "".join(docs_after := [_doc(project, n) for n in ai_act.FILES[1:]])
    assert "Weather tools for a travel assistant" not in text
    assert "[FILL annex-iv.1a.purpose:" in docs_after[0]
    assert "[FILL art13.b.purpose:" in docs_after[2]


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
