"""Generated Grafana dashboards: structure Grafana needs, valid PromQL, only runtime metric names."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import promql_parser
import pytest
from mcp import Client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import servers
from mcp_comply import instrument, semconv
from mcp_comply.config import Policy, parse_policy
from mcp_comply.generate import dashboards, rules
from mcp_comply.generate._output import to_json

BOARDS = dashboards.build_dashboards(Policy())
# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return list(board["panels"])


def exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p.get("targets", [])]


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    for name, value in (values or {"job": ".*", "instance": ".*", "tool": ".*"}).items():
        expr = expr.replace(f"${name}", value)
    return expr


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_structure_imports_into_current_grafana(name: str) -> None:
    board = BOARDS[name]
    assert board["schemaVersion"] == dashboards.SCHEMA_VERSION >= 36
    assert board["uid"] in {dashboards.OVERVIEW_UID, dashboards.TOOL_UID}
    assert len(board["uid"]) <= 40
    for legacy in ("rows", "style", "sharedCrosshair", "hideControls", "__inputs", "id"):
        assert legacy not in board
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) for i in ids)
    occupied: set[tuple[int, int]] = set()
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert 1 <= pos["w"] <= 24 - pos["x"], panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["datasource", "job", "instance", "tool"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    text = json.dumps(board)
    used = set(re.findall(r"\$(\w+)", text)) - {"__rate_interval", "__range", "__all", "__interval"}
    assert used <= set(variables), used - set(variables)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_panel_has_a_description_unit_and_thresholds(name: str) -> None:
    for panel in panels(BOARDS[name]):
        if panel["type"] == "row":
            continue
        assert panel["description"].strip(), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert all(t["datasource"] == panel["datasource"] for t in panel["targets"])
        assert panel["targets"], panel["title"]
        if panel["type"] == "heatmap":
            assert panel["options"]["yAxis"]["unit"] == "s"
            continue
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults["unit"] in {"reqps", "percentunit", "s", "short", "none", "ops"}, panel["title"]
        steps = defaults["thresholds"]["steps"]
        assert steps[0]["value"] is None
        assert all(isinstance(s["value"], float | int) for s in steps[1:])
        assert "maxDataPoints" not in panel


def test_overview_has_the_panels_an_operator_expects() -> None:
    titles = [p["title"] for p in panels(BOARDS[dashboards.OVERVIEW_FILE])]
    for wanted in ("Tool calls", "Error ratio", "p95 latency", "In flight", "Requests by MCP method",
                   "Error ratio by error type", "Latency per tool (p50, p95, p99)", "In-flight calls by tool",
                   "Top failing tools", "Availability", "Availability error budget left",
                   "Availability budget burn rate", "Audit records written", "Audit write errors",
                   "Audit queue depth", "Audit checkpoint age"):
        assert wanted in titles, wanted
    tool_titles = [p["title"] for p in panels(BOARDS[dashboards.TOOL_FILE])]
    assert "Latency distribution" in tool_titles
    assert "Errors by type" in tool_titles


def test_thresholds_follow_the_policy() -> None:
    policy = parse_policy({"alerts": {"p95_latency_s": 0.5, "error_ratio": 0.2}}, "test")
    board = dashboards.overview(policy)
    by_title = {p["title"]: p for p in panels(board)}
    steps = by_title["p95 latency"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [{"color": "green", "value": None}, {"color": "orange", "value": 0.25},
                     {"color": "red", "value": 0.5}]
    assert "20%" in by_title["Error ratio"]["description"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_query_parses_as_promql(name: str) -> None:
    board = BOARDS[name]
    # Panel targets, and the series selector inside each variable's label_values(...).
    queries = exprs(board) + [re.sub(r"^label_values\((.*), \w+\)$", r"\1", v["query"]["query"])
                              for v in board["templating"]["list"][1:]]
    assert len(queries) >= 12
    for expr in queries:
        promql_parser.parse(substitute(expr))


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()
    promql_parser.walk(promql_parser.parse(substitute(expr)),
                       lambda node: names.add(node.name) if isinstance(node, promql_parser.VectorSelector) else None)
    return names


def test_dashboards_and_rules_use_only_metrics_an_instrumented_server_exports() -> None:
    """Scrape a real instrumented server (default registry, as instrument() uses) after real calls."""
    registry = CollectorRegistry(auto_describe=True)
    from prometheus_client import PROCESS_COLLECTOR

    registry.register(PROCESS_COLLECTOR)
    server = servers.build_mcpserver()
    instrument(server, registry=registry)

    async def drive() -> None:
        async with Client(server) as client:
            await client.call_tool("add", {"a": 1, "b": 2})
            await client.call_tool("fail", {"reason": "no"})

    anyio.run(drive)
    exported: set[str] = set()
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        exported |= {s.name for s in family.samples}
    ruleset = rules.build_rules(Policy())
    recorded = {r.record for r in ruleset.recording}
    used: set[str] = set()
    for board in BOARDS.values():
        for expr in exprs(board):
            used |= metric_names(expr)
        for variable in board["templating"]["list"][1:]:
            used |= metric_names(re.sub(r"label_values\((.*), \w+\)", r"\1", variable["query"]["query"]))
    for expr in [r.expr for r in ruleset.recording] + [a.expr for a in ruleset.alerts]:
        used |= metric_names(expr)
    missing = used - exported - recorded - {semconv.UP}
    assert not missing, missing
    assert {semconv.TOOL_CALLS_TOTAL, semconv.TOOL_DURATION_SECONDS + "_bucket", semconv.AUDIT_QUEUE_DEPTH,
            semconv.SERVER_OPERATION_DURATION_SECONDS + "_count", semconv.PROCESS_START_TIME_SECONDS} <= used


def test_output_is_deterministic() -> None:
    again = dashboards.build_dashboards(Policy())
    assert {k: to_json(v) for k, v in again.items()} == {k: to_json(v) for k, v in BOARDS.items()}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_layout_preview_draws_every_panel(name: str) -> None:
    import xml.etree.ElementTree as ET

    board = BOARDS[name]
    svg = ET.fromstring(dashboards.preview_svg(board))  # noqa: S314 - our own generated text
    ns = "{http://www.w3.org/2000/svg}"
    rects = svg.findall(f"{ns}rect")
    texts = [t.text for t in svg.findall(f"{ns}text")]
    panels_only = [p for p in panels(board) if p["type"] != "row"]
    assert len(rects) == 1 + len(panels_only)  # the background, then one box per panel
    for panel in panels(board):
        assert panel["title"] in texts
    first = panels_only[0]["gridPos"]
    assert (int(rects[1].get("x") or 0), int(rects[1].get("width") or 0)) == (
        first["x"] * 40 + 3, first["w"] * 40 - 6)


def _round_trip_losses(original: Any, back: Any, path: str = "") -> list[str]:
    """Keys or values of ``original`` that are not in ``back`` (added defaults are fine)."""
    if isinstance(original, dict):
        if not isinstance(back, dict):
            return [f"{path}: became {type(back).__name__}"]
        losses = []
        for key, value in original.items():
            losses += [f"{path}.{key} dropped"] if key not in back else \
                _round_trip_losses(value, back[key], f"{path}.{key}")
        return losses
    if isinstance(original, list):
        if not isinstance(back, list) or len(back) != len(original):
            return [f"{path}: list changed"]
        return [loss for i, (a, b) in enumerate(zip(original, back, strict=True))
                for loss in _round_trip_losses(a, b, f"{path}[{i}]")]
    return [] if original == back else [f"{path}: {original!r} became {back!r}"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_grafanas_own_schema_types_keep_every_key(name: str) -> None:
    """grafana-foundation-sdk (Grafana's generated types) parses the JSON and writes it back: nothing
    is dropped, so no key is one Grafana's schema does not know (such as the old heatmap's)."""
    from grafana_foundation_sdk.cog import plugins
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    plugins.register_default_plugins()
    board = json.loads(to_json(BOARDS[name]))
    back = json.loads(json.dumps(Dashboard.from_json(board), cls=JSONEncoder))
    assert _round_trip_losses(board, back) == []
    # The check can fail: a legacy heatmap key is dropped by the round trip.
    legacy = json.loads(to_json(BOARDS[name]))
    legacy["panels"][1]["cards"] = {"cardPadding": None}
    back = json.loads(json.dumps(Dashboard.from_json(legacy), cls=JSONEncoder))
    assert _round_trip_losses(legacy, back) == [".panels[1].cards dropped"]


def test_heatmap_has_no_legacy_keys() -> None:
    heatmap = next(p for p in panels(BOARDS[dashboards.TOOL_FILE]) if p["type"] == "heatmap")
    assert sorted(heatmap) == ["datasource", "description", "fieldConfig", "gridPos", "id", "options", "targets",
                               "title", "type"]


def test_error_ratios_say_zero_when_there_are_calls_and_no_errors() -> None:
    """Each error query falls back to the calls query times zero: 0 for a healthy tool, no data only
    when there are no calls at all."""
    calls = 'sum(rate(mcp_tool_calls_total{job=~"$job", instance=~"$instance", tool=~"$tool"}[$__rate_interval]))'
    errors = ('sum(rate(mcp_tool_calls_total{job=~"$job", instance=~"$instance", tool=~"$tool", status="error"}'
              '[$__rate_interval]))')
    for board in (dashboards.OVERVIEW_FILE, dashboards.TOOL_FILE):
        ratio = next(p for p in panels(BOARDS[board]) if p["title"] == "Error ratio")
        assert ratio["targets"][0]["expr"] == f"({errors} or {calls} * 0) / {calls}"
    by_title = {p["title"]: p for p in panels(BOARDS[dashboards.OVERVIEW_FILE])}
    assert by_title["Error ratio by error type"]["targets"][1]["expr"] == f"({errors} or {calls} * 0) / {calls}"
    assert " or sum by (tool) (increase(" in by_title["Top failing tools"]["targets"][0]["expr"]


def test_overview_series_per_tool_link_to_the_drill_down() -> None:
    linked = {p["title"]: p["fieldConfig"]["defaults"].get("links") for p in panels(BOARDS[dashboards.OVERVIEW_FILE])
              if p["type"] != "row"}
    with_links = sorted(t for t, links in linked.items() if links)
    assert with_links == ["In-flight calls by tool", "Latency per tool (p50, p95, p99)", "Tool calls by tool",
                          "Top failing tools"]
    for title in with_links:
        panel = next(p for p in panels(BOARDS[dashboards.OVERVIEW_FILE]) if p["title"] == title)
        assert all("by (tool" in t["expr"] for t in panel["targets"]), title  # one series per tool
        (link,) = linked[title] or []
        assert link["url"] == ("/d/mcp-comply-tool?${__url_time_range}&${datasource:queryparam}&${job:queryparam}"
                               "&${instance:queryparam}&var-tool=${__field.labels.tool}")
    assert BOARDS[dashboards.TOOL_FILE]["uid"] == dashboards.TOOL_UID


def test_slo_figures_come_from_recording_rules_not_raw_30_day_increases() -> None:
    recorded = {r.record: r.expr for r in rules.recording_rules(Policy())}
    board = BOARDS[dashboards.OVERVIEW_FILE]
    slo_row = [p for p in panels(board) if p["type"] != "row"
               and ("budget" in p["title"].lower() or p["title"] in {"Availability", "Latency objective"})]
    assert len(slo_row) == 6
    for panel in slo_row:
        for target in panel["targets"]:
            assert "increase(" not in target["expr"], panel["title"]
            assert "[30d]" not in target["expr"], panel["title"]
            assert metric_names(target["expr"]) <= set(recorded), panel["title"]
    availability = next(p for p in slo_row if p["title"] == "Availability")["targets"][0]["expr"]
    assert availability == '1 - job:mcp_slo_availability_errors:ratio_rate30d{job=~"$job"}'
    assert recorded["job:mcp_slo_availability_errors:ratio_rate30d"] == (
        "sum_over_time(job:mcp_slo_availability_bad_calls:rate5m[30d]) / sum_over_time(job:mcp_tool_calls:rate5m[30d])")
