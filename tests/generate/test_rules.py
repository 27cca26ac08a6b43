"""Generated recording and alert rules: promtool accepts them, and their generated unit tests pass
(and fail when an expectation is wrong) for the shipped policies and for arbitrary valid ones."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import prometheus_tools
from mcp_comply import semconv
from mcp_comply.config import Policy, load_policy, parse_policy
from mcp_comply.generate import rules
from mcp_comply.generate._output import to_yaml

POLICIES = Path(__file__).resolve().parents[2] / "policies"
ALERT_NAMES = [
    "MCPToolHighErrorRate", "MCPToolClientErrors", "MCPToolHighLatency", "MCPServerCrashLooping", "MCPTargetDown",
    "MCPAvailabilityBudgetBurnFast", "MCPAvailabilityBudgetBurnSlow",
    "MCPLatencyBudgetBurnFast", "MCPLatencyBudgetBurnSlow",
    "MCPAuditWriteErrors", "MCPAuditCheckpointStale", "MCPAuditQueueSaturated", "MCPComplyInternalErrors",
]


def write_rules(policy: Policy, folder: Path) -> rules.RuleSet:
    ruleset = rules.build_rules(policy)
    recording, alerting = rules.rule_groups(ruleset)
    (folder / rules.RECORDING_FILE).write_bytes(to_yaml(recording))
    (folder / rules.ALERTS_FILE).write_bytes(to_yaml(alerting))
    (folder / rules.TESTS_FILE).write_bytes(to_yaml(rules.test_file(ruleset)))
    return ruleset


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = prometheus_tools.binary("promtool")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("policy_file", ["default.yaml", "strict.yaml"])
def test_shipped_policies_pass_promtool_check_and_unit_tests(policy_file: str, tmp_path: Path) -> None:
    ruleset = write_rules(load_policy(POLICIES / policy_file), tmp_path)
    check = promtool("check", "rules", rules.RECORDING_FILE, rules.ALERTS_FILE, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"SUCCESS: {len(ruleset.recording)} rules found" in check.stdout
    assert f"SUCCESS: {len(ruleset.alerts)} rules found" in check.stdout
    result = promtool("test", "rules", rules.TESTS_FILE, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_unit_test_with_exact_annotations() -> None:
    ruleset = rules.build_rules(Policy())
    assert [a.name for a in ruleset.alerts] == ALERT_NAMES
    firing: dict[str, list[dict[str, Any]]] = {}
    silent: set[str] = set()
    for test in ruleset.tests:
        for case in test["alert_rule_test"]:
            if case["exp_alerts"]:
                firing.setdefault(case["alertname"], []).extend(case["exp_alerts"])
            else:
                silent.add(case["alertname"])
    assert sorted(firing) == sorted(ALERT_NAMES)
    # Every alert is also shown not firing: pending, healthy, or another series in the same test
    # that must not alert (the expected list is exact, so an extra alert fails the test).
    assert {"MCPToolHighErrorRate", "MCPTargetDown", "MCPAuditWriteErrors", "MCPAvailabilityBudgetBurnFast",
            "MCPAvailabilityBudgetBurnSlow", "MCPLatencyBudgetBurnFast", "MCPLatencyBudgetBurnSlow"} <= silent
    first = firing["MCPToolHighErrorRate"][0]
    assert first["exp_labels"] == {"job": "mcp-demo", "tool": "get_forecast", "severity": "warning"}
    assert first["exp_annotations"] == {
        "summary": "An MCP tool fails often.",
        "description": "Tool get_forecast on job mcp-demo: 6.667% of calls failed on the server's side over the "
                       "last 5 minutes (threshold 5%).",
        "runbook_url": "https://github.com/mcp-comply/mcp-comply/blob/main/alerts/runbook.md#mcptoolhigherrorrate",
    }
    assert firing["MCPToolHighLatency"][0]["exp_annotations"]["description"] == (
        "Tool get_forecast on job mcp-demo: p95 latency is 4.875s over the last 5 minutes (threshold 2.5s).")
    assert firing["MCPAuditCheckpointStale"][0]["exp_annotations"]["description"] == (
        "The last audit checkpoint on 10.0.0.1:9464 of job mcp-demo is 15m 0s old while records keep arriving.")
    assert firing["MCPAuditQueueSaturated"][0]["exp_annotations"]["description"] == (
        "58.98k audit records are waiting on 10.0.0.1:9464 of job mcp-demo (limit 65536).")


def test_a_wrong_expectation_makes_promtool_fail(tmp_path: Path) -> None:
    """The generated tests are live: promtool compares the exact text and labels."""
    write_rules(Policy(), tmp_path)
    path = tmp_path / rules.TESTS_FILE
    text = path.read_text()
    assert "6.667% of calls failed" in text
    path.write_text(text.replace("6.667% of calls failed", "6.67% of calls failed"))
    result = promtool("test", "rules", rules.TESTS_FILE, cwd=tmp_path)
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "6.67% of calls failed" in output
    assert "6.667% of calls failed" in output


def test_a_client_calling_a_nonexistent_tool_once_a_minute_does_not_page(tmp_path: Path) -> None:
    """The generated test asserts that no warning or critical alert fires and that the info-level
    MCPToolClientErrors does; counting every error type in MCPToolHighErrorRate would fail it."""
    ruleset = write_rules(Policy(), tmp_path)
    name = "a client calling a nonexistent tool once a minute does not page"
    test = next(t for t in ruleset.tests if t["name"] == name)
    checked = {case["alertname"]: case["exp_alerts"] for case in test["alert_rule_test"]}
    paging = {a.name for a in ruleset.alerts if a.severity != "info"}
    assert paging == set(checked) - {"MCPToolClientErrors"}
    assert all(checked[name] == [] for name in paging)
    (client,) = checked["MCPToolClientErrors"]
    assert client["exp_labels"] == {"job": "mcp-demo", "tool": "_unknown_", "severity": "info"}
    assert promtool("test", "rules", rules.TESTS_FILE, cwd=tmp_path).returncode == 0
    # The old rule (every error type) pages on the pseudo-tool `_unknown_`: promtool says so.
    alerts = tmp_path / rules.ALERTS_FILE
    alerts.write_text(alerts.read_text().replace(rules.SERVER_ERROR_RATIO, rules.ERROR_RATIO, 1))
    result = promtool("test", "rules", rules.TESTS_FILE, cwd=tmp_path)
    assert result.returncode == 1
    assert "a client calling a nonexistent tool once a minute does not page" in result.stdout + result.stderr


def test_burn_rate_thresholds_follow_the_sre_workbook() -> None:
    alerts = {a.name: a for a in rules.build_rules(Policy()).alerts}
    fast = alerts["MCPAvailabilityBudgetBurnFast"]
    assert fast.expr == (
        "(job:mcp_slo_availability_errors:ratio_rate1h > 0.0144 and job:mcp_slo_availability_errors:ratio_rate5m "
        "> 0.0144) or (job:mcp_slo_availability_errors:ratio_rate6h > 0.006 and "
        "job:mcp_slo_availability_errors:ratio_rate30m > 0.006)")
    assert (fast.severity, fast.for_) == ("critical", "2m")
    slow = alerts["MCPLatencyBudgetBurnSlow"]
    assert slow.expr == (
        "(job:mcp_slo_latency_errors:ratio_rate1d > 0.03 and job:mcp_slo_latency_errors:ratio_rate2h > 0.03) or "
        "(job:mcp_slo_latency_errors:ratio_rate3d > 0.01 and job:mcp_slo_latency_errors:ratio_rate6h > 0.01)")
    assert (slow.severity, slow.for_) == ("warning", "15m")


def test_recording_rules_use_the_policy() -> None:
    policy = parse_policy({"slo": {"latency_threshold_s": 0.25, "availability_error_types": ["exception"]},
                           "alerts": {"selector": 'job="weather"'}}, "test")
    recs = {r.record: r.expr for r in rules.recording_rules(policy)}
    assert recs["job:mcp_slo_latency_errors:ratio_rate5m"] == (
        '1 - sum by (job) (rate(mcp_tool_duration_seconds_bucket{job="weather", le="0.25"}[5m])) '
        '/ sum by (job) (rate(mcp_tool_duration_seconds_count{job="weather"}[5m]))')
    assert 'error_type=~"exception"' in recs["job:mcp_slo_availability_errors:ratio_rate3d"]
    # Every raw metric carries the selector; rules built from other recording rules need none.
    raw = [(m.group(1), m.group(2) or "") for expr in recs.values()
           for m in re.finditer(r"(?<![:\w])(mcp_[a-z_]+)(\{[^}]*\})?", expr)]
    assert raw
    assert all('job="weather"' in matchers for _, matchers in raw), raw


def test_runbook_has_one_section_per_alert_and_every_link_resolves() -> None:
    ruleset = rules.build_rules(Policy())
    book = rules.runbook(ruleset, Policy())
    headings = re.findall(r"^## (\w+)$", book, flags=re.MULTILINE)
    assert headings == ALERT_NAMES
    for alert in ruleset.alerts:
        anchor = alert.runbook_url.split("#", 1)[1]
        assert anchor == alert.name.lower()
        section = book.split(f"## {alert.name}\n", 1)[1].split("\n## ", 1)[0]
        for part in ("**Meaning.**", "**Impact.**", "**Diagnosis.**", "**Mitigation.**", alert.expr):
            assert part in section, (alert.name, part)
    for alert in ruleset.alerts:
        rule = alert.rule()
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert alert.summary.endswith(".")


def test_rules_reference_only_metric_names_the_runtime_defines() -> None:
    import promql_parser

    ruleset = rules.build_rules(Policy())
    defined = {r.record for r in ruleset.recording}
    names: set[str] = set()
    for expr in [r.expr for r in ruleset.recording] + [a.expr for a in ruleset.alerts]:
        promql_parser.walk(promql_parser.parse(expr), lambda node: names.add(node.name)
                           if isinstance(node, promql_parser.VectorSelector) else None)
    emitted = set(semconv.METRIC_NAMES) | set(semconv.EXTERNAL_METRIC_NAMES)
    suffixed = {f"{n}_{s}" for n in (semconv.TOOL_DURATION_SECONDS, semconv.SERVER_OPERATION_DURATION_SECONDS)
                for s in ("bucket", "count", "sum")}
    assert names - defined <= emitted | suffixed, names - defined - emitted - suffixed
    assert {semconv.TOOL_CALLS_TOTAL, semconv.UP, semconv.AUDIT_QUEUE_DEPTH} <= names


_policies = st.fixed_dictionaries({
    "slo": st.fixed_dictionaries({
        "availability": st.sampled_from([0.9, 0.95, 0.99, 0.995, 0.999, 0.9999]),
        "latency_target": st.sampled_from([0.9, 0.95, 0.99, 0.999]),
        "latency_threshold_s": st.sampled_from(list(semconv.TOOL_DURATION_BUCKETS)),
        "period_days": st.sampled_from([7, 28, 30]),
        "availability_error_types": st.lists(st.sampled_from(semconv.ERROR_TYPES[:3] + semconv.ERROR_TYPES[3:5]),
                                             min_size=1, max_size=3, unique=True),
    }),
    "alerts": st.fixed_dictionaries({
        "selector": st.sampled_from(["", 'job="weather"', 'job="a", env="prod"']),
        "error_ratio": st.sampled_from([0.01, 0.05, 0.2, 0.5]),
        "min_call_rate": st.sampled_from([0, 0.01, 1.0, 5.0]),
        "p95_latency_s": st.sampled_from([0.05, 0.4, 2.5, 30.0]),
        "crash_restarts": st.integers(min_value=1, max_value=10),
        "target_down_for": st.sampled_from(["1m", "5m", "15m"]),
        "queue_saturation": st.sampled_from([0.5, 0.8, 0.95]),
    }),
    "audit": st.fixed_dictionaries({"queue_max": st.sampled_from([64, 1000, 65536]),
                                    "checkpoint_interval_s": st.sampled_from([5, 60, 300])}),
})


# Each example runs promtool (~0.2 s); shrinking is off so a failure reports at once.
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_policies)
def test_generated_unit_tests_pass_for_any_valid_policy(data: dict[str, Any],
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    policy = parse_policy(data, "hypothesis")
    folder = tmp_path_factory.mktemp("rules")
    ruleset = write_rules(policy, folder)
    assert len(ruleset.tests) >= 8
    result = promtool("test", "rules", rules.TESTS_FILE, cwd=folder)
    assert result.returncode == 0, yaml.safe_dump(data) + result.stdout[-3000:]
