"""The README's lists and counts that the code defines: finding kinds, record kinds, alerts and
recording rules, release-gate controls. Each has drifted before (the README said 12 alerts when
the rules had 13); these fail the day the code and the README disagree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify
from mcp_comply.config import CONTROLS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _between(start: str, end: str) -> str:
    """The README text from ``start`` up to ``end`` (each must occur once)."""
    assert README.count(start) == 1, start
    head = README.split(start, 1)[1]
    assert end in head, end
    return head.split(end, 1)[0]


def _finding_kinds() -> set[str]:
    """The values of verify.py's constants in its "# Finding kinds" block, read from the source so
    that a kind added there counts even if no list names it."""
    source = Path(verify.__file__).read_text(encoding="utf-8")
    block = source.split("# Finding kinds\n", 1)[1].split("\nNOTICES = ", 1)[0]
    kinds = {node.value.value for node in ast.parse(block).body
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
             and isinstance(node.value.value, str)}
    assert {verify.MODIFIED, verify.STALE_LATEST, verify.SIGNED_AT_RECOVERY} <= kinds  # the block was found
    return kinds


def test_the_verification_paragraph_names_every_finding_kind_and_no_other() -> None:
    paragraph = _between("- **Verification** (`mcp-comply audit verify`)", "- **What is authenticated**")
    named = set(re.findall(r"`([a-z0-9_]+)`", paragraph))
    kinds = _finding_kinds()
    assert kinds - named == set(), "finding kinds the README does not name"
    snake_case = {name for name in named if "_" in name}  # a renamed kind shows up here
    assert snake_case - kinds - set(fmt.KINDS) == set(), "names in the README that are neither findings nor records"


def test_the_special_records_are_the_writer_s_record_kinds() -> None:
    sentence = _between("  Special records: ", ".\n")
    named = set(re.findall(r"`([a-z_]+)`", sentence))
    assert named | {fmt.KIND_CALL} == set(fmt.KINDS)


def test_alert_and_recording_rule_counts_and_names_are_the_committed_rules() -> None:
    alerts = [rule["alert"] for group in yaml.safe_load((ROOT / "alerts/mcp-comply-alerts.rules.yaml").read_text())
              ["groups"] for rule in group["rules"]]
    records = [rule["record"] for group in
               yaml.safe_load((ROOT / "alerts/mcp-comply-recording.rules.yaml").read_text())["groups"]
               for rule in group["rules"]]
    assert set(re.findall(r"\b(\d+) alerts\b", README)) == {str(len(alerts))}
    assert set(re.findall(r"\b(\d+) recording rules\b", README)) == {str(len(records))}
    paragraph = _between("\nAlerts: ", "\n\n")
    named = set(re.findall(r"`(MCP\w+)`", paragraph))
    for stem, first, second in re.findall(r"`(MCP\w+?)(Fast)\|(Slow)`", paragraph):  # `...BurnFast|Slow`
        named |= {stem + first, stem + second}
    assert named == set(alerts)


def test_the_release_gate_table_lists_every_control() -> None:
    table = _between("| control | passes when |", "\n\n")
    assert re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE) == list(CONTROLS)
