"""The check controls for the release artefacts: the age of the EU AI Act data (ai-act-data) and
the SBOM's hash coverage (sbom), against the complete project."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path

from mcp_comply.check import inputs_from, run_check
from mcp_comply.config import load_policy
from mcp_comply.generate import resolve_project

POLICIES = Path(__file__).resolve().parents[2] / "policies"


def _result(project: Path, control: str, today: date | None = None) -> tuple[str, bool, str]:
    resolved = resolve_project(project)
    inputs = dataclasses.replace(inputs_from(resolved), today=today)
    found = next(r for r in run_check(resolved, inputs).results if r.control == control)
    return found.status, found.required, found.detail


def test_ai_act_data_passes_for_six_calendar_months_then_fails(project: Path) -> None:
    shipped = "mcp_comply/generate/data/eu-ai-act.yaml version 2026-11-29"
    assert _result(project, "ai-act-data", date(2026, 11, 30)) == (
        "pass", False, f"{shipped}, 1 days old (stale from 2027-05-29)")
    assert _result(project, "ai-act-data", date(2027, 5, 28))[0] == "pass"
    status, required, detail = _result(project, "ai-act-data", date(2027, 5, 29))
    assert (status, required) == ("fail", False)  # not required by this policy: reported, the gate still passes
    assert detail == (f"{shipped} is older than 6 months (stale since 2027-05-29): check the law and update it, "
                      "or point ai_act.regulatory_data at a newer copy")
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text().replace(
        "  required: [", "  max_regulatory_data_age_months: 12\n  required: [ai-act-data, "))
    assert _result(project, "ai-act-data", date(2027, 5, 29))[:2] == ("pass", True)


def test_strict_policy_requires_current_data_and_hashes_for_every_component() -> None:
    strict = load_policy(POLICIES / "strict.yaml")
    assert "ai-act-data" in strict.check.required
    assert strict.check.max_regulatory_data_age_months == 6
    assert strict.check.min_sbom_hash_coverage == 1.0


def test_ai_act_docs_control_states_the_data_version(project: Path) -> None:
    status, _, detail = _result(project, "ai-act-docs")
    assert status == "pass"
    assert detail.endswith("; law as of data version 2026-11-29")


def test_sbom_control_reports_hash_coverage_and_a_policy_can_require_it(project: Path) -> None:
    sbom = json.loads((project / "release" / "sbom.cdx.json").read_text())
    comps = sbom["components"]
    hashed = sum(1 for c in comps if c.get("hashes"))
    status, _, detail = _result(project, "sbom")
    share = f"{hashed / len(comps) * 100:.0f} %"
    assert (status, detail) == ("pass", f"sbom.cdx.json: {len(comps)} components, valid CycloneDX 1.6, current; "
                                        f"{hashed} of {len(comps)} components with artefact hashes ({share})")
    assert hashed < len(comps)  # an installed environment records (almost) no artefact hashes
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text().replace("check:\n", "check:\n  min_sbom_hash_coverage: 1.0\n"))
    status, required, detail = _result(project, "sbom")
    assert (status, required) == ("fail", True)
    assert detail.startswith(f"sbom.cdx.json: {hashed} of {len(comps)} components with artefact hashes ({share}); "
                             "the policy requires at least 100 % (no hash: ")
