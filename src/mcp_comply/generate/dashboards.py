"""Grafana dashboards, built with grafanalib and written as current Grafana JSON.

grafanalib 0.7.1 (the last release) still emits a schemaVersion-12 shell with legacy fields
(``rows``, ``style``, threshold steps with ``op``/``yaxis``, ``maxDataPoints: 100`` that caps the
resolution). The panels are rewritten to the schemaVersion 39 form (Grafana 10.4 / 11.0), which
newer Grafana migrates on load like any classic dashboard (not tried here: no Grafana server).

Queries read the raw metrics, so traffic, error and latency panels work on any Prometheus that
scrapes an instrumented server; the service-level panels (the SLO period's figures and the burn
rates) read the generated recording rules, which must be loaded for them to show data.
Where zero is the truth (calls but no errors) a query says 0, not "No data". Series per tool on the
overview link to the drill-down for that tool.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grafanalib.core as g
from grafanalib._gen import DashboardEncoder

from mcp_comply import semconv
from mcp_comply.config import Policy
from mcp_comply.generate import rules as rules_mod
from mcp_comply.generate._promql import number, percent, selector, window

SCHEMA_VERSION = 39
OVERVIEW_UID = "mcp-comply-overview"
TOOL_UID = "mcp-comply-tool"
OVERVIEW_FILE = "mcp-overview.json"
TOOL_FILE = "mcp-tool.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
GRID_WIDTH = 24

# Threshold colours (Grafana's named palette).
GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    format: str = "time_series"


@dataclass(frozen=True)
class PanelSpec:
    """A panel before layout: the facts a reader needs (what, unit, thresholds, why)."""

    kind: str  # timeseries | stat | bargauge | heatmap | row
    title: str
    description: str
    queries: tuple[Query, ...] = ()
    unit: str = "short"
    thresholds: tuple[tuple[str, float | None], ...] = ((GREEN, None),)
    width: int = 12
    height: int = 8
    min: float | None = None
    max: float | None = None
    drill_down: bool = False
    """Each series is one tool: clicking it opens the drill-down for that tool."""


def _steps(steps: tuple[tuple[str, float | None], ...]) -> list[g.Threshold]:
    return [g.Threshold(color, index, 0.0 if value is None else value) for index, (color, value) in enumerate(steps)]


def _targets(spec: PanelSpec) -> list[g.Target]:
    return [g.Target(expr=q.expr, legendFormat=q.legend, refId=chr(ord("A") + i), instant=q.instant,
                     format=q.format, datasource=DATASOURCE) for i, q in enumerate(spec.queries)]


def _grafanalib_panel(spec: PanelSpec, pos: g.GridPos) -> g.Panel:
    common: dict[str, Any] = {"title": spec.title, "description": spec.description, "dataSource": DATASOURCE,
                              "targets": _targets(spec), "gridPos": pos}
    if spec.kind == "row":
        return g.RowPanel(title=spec.title, gridPos=pos)
    if spec.kind == "stat":
        return g.Stat(**common, format=spec.unit, thresholds=_steps(spec.thresholds), reduceCalc="lastNotNull",
                      graphMode="area", colorMode="background")
    if spec.kind == "bargauge":
        return g.BarGauge(**common, format=spec.unit, thresholds=_steps(spec.thresholds), calc="lastNotNull")
    if spec.kind == "heatmap":
        return g.Heatmap(**common)
    return g.TimeSeries(**common, unit=spec.unit, thresholds=_steps(spec.thresholds), legendDisplayMode="table",
                        legendPlacement="right" if spec.width >= 16 else "bottom",
                        legendCalcs=["mean", "max", "lastNotNull"], tooltipMode="multi", fillOpacity=10,
                        thresholdsStyleMode="line" if len(spec.thresholds) > 1 else "off")


def _layout(specs: list[PanelSpec]) -> Iterator[tuple[PanelSpec, g.GridPos]]:
    x = y = row_height = 0
    for spec in specs:
        width = GRID_WIDTH if spec.kind == "row" else spec.width
        height = 1 if spec.kind == "row" else spec.height
        if x + width > GRID_WIDTH or spec.kind == "row":
            x, y, row_height = 0, y + row_height, 0
        yield spec, g.GridPos(h=height, w=width, x=x, y=y)
        x += width
        row_height = max(row_height, height)
        if spec.kind == "row":
            x, y, row_height = 0, y + height, 0


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


_LEGACY_PANEL_KEYS = ("cacheTimeout", "editable", "error", "height", "hideTimeOverride", "interval", "links",
                      "maxDataPoints", "minSpan", "repeat", "repeatDirection", "maxPerRow", "span", "timeFrom",
                      "timeShift", "transparent", "transformations")


_LEGACY_HEATMAP_KEYS = ("cards", "color", "dataFormat", "heatmap", "hideZeroBuckets", "highlightCards", "legend",
                       "reverseYBuckets", "tooltip", "xAxis", "yAxis", "yBucketBound", "yBucketNumber",
                       "yBucketSize", "tooltipDecimals", "xBucketNumber", "xBucketSize")


def _drill_down_link() -> dict[str, Any]:
    """A data link from one tool's series to the drill-down, keeping the time range and variables."""
    return {"title": "Open ${__field.labels.tool} in the drill-down", "targetBlank": False,
            "url": f"/d/{TOOL_UID}?${{__url_time_range}}&${{datasource:queryparam}}&${{job:queryparam}}"
                   "&${instance:queryparam}&var-tool=${__field.labels.tool}"}


def _modern_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"color": s["color"], "value": None if i == 0 else s["value"]} for i, s in enumerate(steps)]


def _modernise_panel(panel: dict[str, Any], spec: PanelSpec) -> dict[str, Any]:
    for key in _LEGACY_PANEL_KEYS:
        panel.pop(key, None)
    if spec.kind == "row":
        return {"type": "row", "title": spec.title, "id": panel["id"], "gridPos": panel["gridPos"],
                "collapsed": False, "panels": []}
    panel["targets"] = [
        {"datasource": DATASOURCE, "refId": t["refId"], "expr": t["expr"], "legendFormat": t["legendFormat"] or "__auto",
         "instant": t["instant"], "range": not t["instant"], "format": t["format"], "editorMode": "code"}
        for t in panel["targets"]
    ]
    defaults: dict[str, Any] = {"unit": spec.unit, "thresholds": {"mode": "absolute",
                                                                    "steps": _modern_steps(
                                                                        [{"color": c, "value": v} for c, v in spec.thresholds])}}
    if spec.drill_down:
        defaults["links"] = [_drill_down_link()]
    if spec.min is not None:
        defaults["min"] = spec.min
    if spec.max is not None:
        defaults["max"] = spec.max
    if spec.kind == "timeseries":
        old = panel["fieldConfig"]["defaults"]
        defaults["color"] = {"mode": "palette-classic"}
        custom = old["custom"]
        custom.pop("axisSoftMin", None)
        custom.pop("axisSoftMax", None)
        custom["stacking"] = {"mode": "none", "group": "A"}
        custom["scaleDistribution"] = {"type": "linear"}
        defaults["custom"] = custom
        panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
    elif spec.kind == "stat":
        defaults["color"] = {"mode": "thresholds"}
        panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
        panel["options"]["reduceOptions"] = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    elif spec.kind == "bargauge":
        defaults["color"] = {"mode": "thresholds"}
        panel["fieldConfig"] = {"defaults": defaults, "overrides": []}
        panel["options"] = {"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True,
                            "valueMode": "color", "namePlacement": "auto", "sizing": "auto", "minVizWidth": 8,
                            "minVizHeight": 16, "maxVizHeight": 300,
                            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    elif spec.kind == "heatmap":
        for key in _LEGACY_HEATMAP_KEYS:  # the pre-8 heatmap's options; the new heatmap reads `options`
            panel.pop(key, None)
        panel["fieldConfig"] = {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}, "hideFrom":
                                                        {"legend": False, "tooltip": False, "viz": False}}},
                                "overrides": []}
        panel["options"] = {"calculate": False, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges",
                                                                          "exponent": 0.5, "steps": 64, "fill": "dark-orange",
                                                                          "reverse": False},
                            "yAxis": {"axisPlacement": "left", "unit": spec.unit}, "rowsFrame": {"layout": "auto"},
                            "legend": {"show": True}, "tooltip": {"mode": "single", "yHistogram": True},
                            "filterValues": {"le": 1e-9}, "showValue": "never", "exemplars": {"color": "rgba(255,0,255,0.7)"}}
        for target in panel["targets"]:
            target["format"] = "heatmap"
    return panel


def _datasource_variable() -> dict[str, Any]:
    return {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False, "options": []}


def _query_variable(name: str, label: str, query: str, *, multi: bool) -> g.Template:
    return g.Template(name=name, label=label, query=query, dataSource=DATASOURCE, includeAll=multi, multi=multi,
                      refresh=2, sort=1, allValue=".*" if multi else None, default="All" if multi else None)


def _variables(*, tool_multi: bool) -> list[Any]:
    info, calls = semconv.COMPLY_INFO, semconv.TOOL_CALLS_TOTAL
    templates = [
        _query_variable("job", "Job", f"label_values({info}, job)", multi=True),
        _query_variable("instance", "Instance", f'label_values({info}{{job=~"$job"}}, instance)', multi=True),
        _query_variable("tool", "Tool", f'label_values({calls}{{job=~"$job", instance=~"$instance"}}, tool)',
                        multi=tool_multi),
    ]
    out: list[Any] = [_datasource_variable()]
    for t in templates:
        data = _drop_nulls(t.to_json_data())
        data.pop("useTags", None)
        for key in ("auto", "auto_min", "auto_count", "tagsQuery", "tagValuesQuery"):
            data.pop(key, None)
        data["query"] = {"query": data["query"], "refId": f"PrometheusVariableQueryEditor-{t.name}",
                         "qryType": 1}
        data["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]} if t.multi else {}
        data["regex"] = ""
        out.append(data)
    return out


def _render(title: str, uid: str, description: str, specs: list[PanelSpec], *, tool_multi: bool,
            links: list[dict[str, Any]]) -> dict[str, Any]:
    placed = list(_layout(specs))
    dash = g.Dashboard(title=title, uid=uid, description=description, tags=["mcp", "mcp-comply"],
                       timezone="browser", refresh="30s", graphTooltip=1, schemaVersion=SCHEMA_VERSION,
                       time=g.Time("now-6h", "now"),
                       panels=[_grafanalib_panel(spec, pos) for spec, pos in placed])
    model: dict[str, Any] = json_roundtrip(dash.auto_panel_ids().to_json_data())
    for key in ("rows", "style", "sharedCrosshair", "hideControls", "gnetId", "id", "__inputs", "version"):
        model.pop(key, None)
    model["panels"] = [_modernise_panel(_drop_nulls(panel), spec)
                       for panel, (spec, _) in zip(model["panels"], placed, strict=True)]
    model["templating"] = {"list": _variables(tool_multi=tool_multi)}
    model["annotations"] = {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                      "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                      "name": "Annotations & Alerts", "type": "dashboard"}]}
    model["links"] = links
    model["fiscalYearStartMonth"] = 0
    model["liveNow"] = False
    model["weekStart"] = ""
    model["timepicker"] = {}
    model.pop("timePicker", None)
    return dict(sorted(model.items()))


def json_roundtrip(data: Any) -> Any:
    import json

    return json.loads(json.dumps(data, cls=DashboardEncoder))


# --- the dashboards -------------------------------------------------------------------------------


class _Q:
    """Query builders with the dashboard's variable selectors."""

    def __init__(self, policy: Policy, *, tool: bool) -> None:
        self.policy = policy
        self.base = 'job=~"$job", instance=~"$instance"'
        self.tool = self.base + (', tool=~"$tool"' if tool else "")

    def calls(self, *matchers: str, tool: bool = True) -> str:
        return selector(semconv.TOOL_CALLS_TOTAL, *matchers, base=self.tool if tool else self.base)

    def metric(self, name: str, *matchers: str, tool: bool = False) -> str:
        return selector(name, *matchers, base=self.tool if tool else self.base)

    @property
    def bad(self) -> str:
        return f'error_type=~"{"|".join(sorted(self.policy.slo.availability_error_types))}"'

    @property
    def le(self) -> str:
        return f'le="{semconv.bucket_label(self.policy.slo.latency_threshold_s)}"'


_ERR = f'{semconv.LABEL_STATUS}="{semconv.STATUS_ERROR}"'


def _zero_if_none(errors: str, calls: str) -> str:
    """``errors``, or 0 for every series of ``calls`` that has none: no errors among calls is 0, not
    "No data" (and no calls at all stays no data)."""
    return f"({errors} or {calls} * 0)"


def _quantiles(q: _Q, by: str) -> tuple[Query, ...]:
    bucket = q.metric(semconv.TOOL_DURATION_SECONDS + "_bucket", tool=True)
    legend_prefix = "{{tool}} " if by else ""
    group = f"{by}, le" if by else "le"
    return tuple(Query(f"histogram_quantile({qq}, sum by ({group}) (rate({bucket}[{RATE}])))",
                       f"{legend_prefix}p{round(qq * 100)}") for qq in rules_mod.LATENCY_QUANTILES)


def _slo_specs(policy: Policy, q: _Q) -> list[PanelSpec]:
    slo = policy.slo
    budget, latency_budget = 1 - slo.availability, 1 - slo.latency_target
    job = 'job=~"$job"'
    # The period's figures come from recording rules (summed 5-minute rates), not increase(...[30d]).
    bad_ratio = selector(rules_mod.period_availability_record(policy), job)
    slow_ratio = selector(rules_mod.period_latency_record(policy), job)
    burn_windows = (3600, 6 * 3600, 86400, 3 * 86400)

    def burn(kind: str) -> tuple[Query, ...]:
        record = rules_mod.availability_record if kind == "availability" else rules_mod.latency_slo_record
        per = budget if kind == "availability" else latency_budget
        return tuple(Query(f"{selector(record(w), job)} / {number(per)}", f"{{{{job}}}} burn rate {window(w)}")
                     for w in burn_windows)

    burn_steps = ((GREEN, None), (YELLOW, 1.0), (ORANGE, 6.0), (RED, 14.4))
    return [
        PanelSpec("row", f"Service-level objectives ({slo.period_days} days)", ""),
        PanelSpec("stat", "Availability", (
            f"Share of tool calls over the last {slo.period_days} days that did not fail for a server-side reason "
            f"(error types {', '.join(sorted(slo.availability_error_types))}), per job. Objective: "
            f"{percent(slo.availability)}. From the recording rule {rules_mod.period_availability_record(policy)}."),
            (Query(f"1 - {bad_ratio}", "{{job}}", instant=True),), unit="percentunit",
            thresholds=((RED, None), (GREEN, slo.availability)), width=6, height=5),
        PanelSpec("stat", "Availability error budget left", (
            f"Share of the {slo.period_days}-day availability error budget ({percent(budget)} of calls) still "
            "unspent. Below zero the objective is missed."),
            (Query(f"1 - {bad_ratio} / {number(budget)}", "{{job}}", instant=True),), unit="percentunit",
            thresholds=((RED, None), (ORANGE, 0.0), (YELLOW, 0.25), (GREEN, 0.5)), width=6, height=5),
        PanelSpec("stat", "Latency objective", (
            f"Share of tool calls over the last {slo.period_days} days faster than {slo.latency_threshold_s:g} s, "
            f"per job. Objective: {percent(slo.latency_target)}. From the recording rule "
            f"{rules_mod.period_latency_record(policy)}."),
            (Query(f"1 - {slow_ratio}", "{{job}}", instant=True),), unit="percentunit",
            thresholds=((RED, None), (GREEN, slo.latency_target)), width=6, height=5),
        PanelSpec("stat", "Latency error budget left", (
            f"Share of the {slo.period_days}-day latency error budget ({percent(latency_budget)} of calls slower "
            f"than {slo.latency_threshold_s:g} s) still unspent."),
            (Query(f"1 - {slow_ratio} / {number(latency_budget)}", "{{job}}", instant=True),), unit="percentunit",
            thresholds=((RED, None), (ORANGE, 0.0), (YELLOW, 0.25), (GREEN, 0.5)), width=6, height=5),
        PanelSpec("timeseries", "Availability budget burn rate", (
            "How fast the availability error budget is spent (1 = exactly on budget over the period), from the "
            "recorded error ratios. The generated alerts page above 14.4 (1h) or 6 (6h) and open a ticket above 3 "
            "(1d) or 1 (3d)."),
            burn("availability"), unit="none", thresholds=burn_steps),
        PanelSpec("timeseries", "Latency budget burn rate", (
            f"How fast the latency error budget (calls slower than {slo.latency_threshold_s:g} s) is spent; "
            "same thresholds as the availability burn rate."),
            burn("latency"), unit="none", thresholds=burn_steps),
    ]


def _audit_specs(policy: Policy, q: _Q) -> list[PanelSpec]:
    stale = rules_mod.checkpoint_stale_after(policy)
    return [
        PanelSpec("row", "Audit log", ""),
        PanelSpec("timeseries", "Audit records written", (
            "Audit records made durable per second, per instance (one record per request, plus checkpoints)."),
            (Query(f"sum by (instance) (rate({q.metric(semconv.AUDIT_RECORDS_TOTAL)}[{RATE}]))", "{{instance}}"),),
            unit="ops", width=6),
        PanelSpec("timeseries", "Audit write errors", (
            "Audit records that could not be written. Any value above zero means gaps in the record-keeping "
            "(EU AI Act Art. 12); alert MCPAuditWriteErrors."),
            (Query(f"sum by (instance) (increase({q.metric(semconv.AUDIT_WRITE_ERRORS_TOTAL)}[{RATE}]))",
                   "{{instance}}"),), unit="short", thresholds=((GREEN, None), (RED, 1.0)), width=6),
        PanelSpec("timeseries", "Audit queue depth", (
            f"Records waiting for the writer thread. The alert threshold is {rules_mod.queue_threshold(policy):g} "
            f"({percent(policy.alerts.queue_saturation)} of audit.queue_max = {policy.audit.queue_max})."),
            (Query(f"max by (instance) ({q.metric(semconv.AUDIT_QUEUE_DEPTH)})", "{{instance}}"),), unit="short",
            thresholds=((GREEN, None), (RED, rules_mod.queue_threshold(policy))), width=6),
        PanelSpec("timeseries", "Audit checkpoint age", (
            f"Seconds since the last signed checkpoint. Checkpoints are due every "
            f"{policy.audit.checkpoint_interval_s:g} s while records arrive; alert MCPAuditCheckpointStale "
            f"after {stale:g} s."),
            (Query(f"time() - (max by (instance) ({q.metric(semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS)}) > 0)",
                   "{{instance}}"),), unit="s", thresholds=((GREEN, None), (RED, stale)), width=6),
    ]


def overview(policy: Policy) -> dict[str, Any]:
    q = _Q(policy, tool=True)
    a = policy.alerts
    calls_rate = f"sum(rate({q.calls()}[{RATE}]))"
    errors_rate = _zero_if_none(f"sum(rate({q.calls(_ERR)}[{RATE}]))", calls_rate)
    bucket = q.metric(semconv.TOOL_DURATION_SECONDS + "_bucket", tool=True)
    op = q.metric(semconv.SERVER_OPERATION_DURATION_SECONDS + "_count")
    specs = [
        PanelSpec("row", "Traffic and errors", ""),
        PanelSpec("stat", "Tool calls", "Tool calls per second (tools/call requests), all selected tools.",
                  (Query(calls_rate),), unit="reqps", width=6, height=5, thresholds=((BLUE, None),)),
        PanelSpec("stat", "Error ratio", (
            f"Share of tool calls that failed, any error type. MCPToolHighErrorRate fires above "
            f"{percent(a.error_ratio)} per tool (server-side errors). 0 while there are calls and no errors."),
                  (Query(f"{errors_rate} / {calls_rate}"),), unit="percentunit",
                  thresholds=((GREEN, None), (ORANGE, a.error_ratio / 2), (RED, a.error_ratio)), width=6, height=5),
        PanelSpec("stat", "p95 latency", (
            f"95th percentile tool-call duration across the selected tools. MCPToolHighLatency fires above "
            f"{a.p95_latency_s:g} s per tool."),
                  (Query(f"histogram_quantile(0.95, sum by (le) (rate({bucket}[{RATE}])))"),), unit="s",
                  thresholds=((GREEN, None), (ORANGE, a.p95_latency_s / 2), (RED, a.p95_latency_s)), width=6, height=5),
        PanelSpec("stat", "In flight", "Tool calls running right now.",
                  (Query(f"sum({q.metric(semconv.TOOL_CALLS_IN_FLIGHT, tool=True)})"),), unit="short",
                  thresholds=((BLUE, None),), width=6, height=5),
        PanelSpec("timeseries", "Requests by MCP method", (
            "All MCP requests per second by method (initialize, tools/list, tools/call, ...), from the semantic-"
            "convention histogram mcp.server.operation.duration."),
                  (Query(f"sum by ({semconv.LABEL_MCP_METHOD_NAME}) (rate({op}[{RATE}]))",
                         f"{{{{{semconv.LABEL_MCP_METHOD_NAME}}}}}"),), unit="reqps"),
        PanelSpec("timeseries", "Tool calls by tool", "Tool calls per second, per tool. Click a series to open "
                  "that tool in the drill-down.",
                  (Query(f"sum by (tool) (rate({q.calls()}[{RATE}]))", "{{tool}}"),), unit="reqps", drill_down=True),
        PanelSpec("timeseries", "Error ratio by error type", (
            "Share of all selected tool calls that failed, split by error type: tool_error (the tool reported a "
            "failure), validation_error (bad arguments), unknown_tool, exception (the tool crashed), cancelled, "
            "protocol_error (a JSON-RPC error). 'all errors' is 0 while there are calls and no errors."),
                  (Query(f"sum by (error_type) (rate({q.calls(_ERR)}[{RATE}])) / on () group_left () {calls_rate}",
                         "{{error_type}}"),
                   Query(f"{errors_rate} / {calls_rate}", "all errors")), unit="percentunit",
                  thresholds=((GREEN, None), (RED, a.error_ratio)), min=0),
        PanelSpec("timeseries", "Latency per tool (p50, p95, p99)", (
            "Tool-call duration quantiles per tool, from mcp_tool_duration_seconds (linear interpolation "
            f"inside buckets). Red line: the p95 alert threshold ({a.p95_latency_s:g} s). Click a series to open "
            "that tool in the drill-down."),
                  _quantiles(q, "tool"), unit="s", thresholds=((GREEN, None), (RED, a.p95_latency_s)), drill_down=True),
        PanelSpec("timeseries", "In-flight calls by tool", "Tool calls running at each moment, per tool. Click a "
                  "series to open that tool in the drill-down.",
                  (Query(f"sum by (tool) ({q.metric(semconv.TOOL_CALLS_IN_FLIGHT, tool=True)})", "{{tool}}"),),
                  unit="short", drill_down=True),
        PanelSpec("bargauge", "Top failing tools", (
            "The five tools with the most failed calls in the selected time range (0 for tools called without "
            "failures). Click a bar to open that tool in the drill-down."),
                  (Query(f"topk(5, {_zero_if_none(f'sum by (tool) (increase({q.calls(_ERR)}[$__range]))', f'sum by (tool) (increase({q.calls()}[$__range]))')})",
                         "{{tool}}", instant=True),),
                  unit="short", thresholds=((GREEN, None), (ORANGE, 1.0), (RED, 10.0)), drill_down=True),
        *_slo_specs(policy, q),
        *_audit_specs(policy, q),
        PanelSpec("timeseries", "mcp-comply internal errors", (
            "Failures inside mcp-comply itself, by component; the requests were served anyway."),
                  (Query(f"sum by (component) (increase({q.metric(semconv.COMPLY_INTERNAL_ERRORS_TOTAL)}[{RATE}]))",
                         "{{component}}"),), unit="short", thresholds=((GREEN, None), (RED, 1.0)), width=24, height=6),
    ]
    return _render("MCP server overview", OVERVIEW_UID,
                   "Health, traffic, errors, latency, SLOs and audit-log health of MCP servers instrumented with "
                   "mcp-comply.", specs, tool_multi=True,
                   links=[_link("Per-tool drill-down", TOOL_UID), _runbook_link(policy)])


def tool(policy: Policy) -> dict[str, Any]:
    q = _Q(policy, tool=True)
    a = policy.alerts
    calls_rate = f"sum(rate({q.calls()}[{RATE}]))"
    bucket = q.metric(semconv.TOOL_DURATION_SECONDS + "_bucket", tool=True)
    # The semconv histogram has a per-tool label only when the policy opts in; otherwise the panel
    # shows tools/call of all tools (this tool's own latency is in the panels above).
    per_tool = policy.metrics.semconv_tool_label
    op_bucket = selector(semconv.SERVER_OPERATION_DURATION_SECONDS + "_bucket",
                         f'{semconv.LABEL_MCP_METHOD_NAME}="{semconv.METHOD_TOOLS_CALL}"',
                         *((f'{semconv.LABEL_GEN_AI_TOOL_NAME}=~"$tool"',) if per_tool else ()), base=q.base)
    specs = [
        PanelSpec("row", "Tool $tool", ""),
        PanelSpec("stat", "Calls", "Calls per second of this tool.", (Query(calls_rate),), unit="reqps",
                  thresholds=((BLUE, None),), width=6, height=5),
        PanelSpec("stat", "Error ratio", f"Share of this tool's calls that failed, any error type (the server-side "
                  f"alert fires above {percent(a.error_ratio)}). 0 while there are calls and no errors.",
                  (Query(f"{_zero_if_none(f'sum(rate({q.calls(_ERR)}[{RATE}]))', calls_rate)} / {calls_rate}"),),
                  unit="percentunit",
                  thresholds=((GREEN, None), (ORANGE, a.error_ratio / 2), (RED, a.error_ratio)), width=6, height=5),
        PanelSpec("stat", "p95 latency", f"95th percentile duration of this tool's calls (alert above {a.p95_latency_s:g} s).",
                  (Query(f"histogram_quantile(0.95, sum by (le) (rate({bucket}[{RATE}])))"),), unit="s",
                  thresholds=((GREEN, None), (ORANGE, a.p95_latency_s / 2), (RED, a.p95_latency_s)), width=6, height=5),
        PanelSpec("stat", "In flight", "Calls of this tool running right now.",
                  (Query(f"sum({q.metric(semconv.TOOL_CALLS_IN_FLIGHT, tool=True)})"),), unit="short",
                  thresholds=((BLUE, None),), width=6, height=5),
        PanelSpec("timeseries", "Calls by outcome", "Calls per second by status (ok or error).",
                  (Query(f"sum by (status) (rate({q.calls()}[{RATE}]))", "{{status}}"),), unit="reqps"),
        PanelSpec("timeseries", "Errors by type", (
            "Failed calls per second by error type (tool_error, validation_error, unknown_tool, exception, "
            "cancelled, protocol_error). 'all errors' is 0 while there are calls and no errors."),
                  (Query(f"sum by (error_type) (rate({q.calls(_ERR)}[{RATE}]))", "{{error_type}}"),
                   Query(_zero_if_none(f"sum(rate({q.calls(_ERR)}[{RATE}]))", calls_rate), "all errors")),
                  unit="reqps",
                  thresholds=((GREEN, None),)),
        PanelSpec("timeseries", "Latency (p50, p95, p99)", (
            f"Duration quantiles of this tool's calls. Red line: the p95 alert threshold ({a.p95_latency_s:g} s)."),
                  _quantiles(q, ""), unit="s", thresholds=((GREEN, None), (RED, a.p95_latency_s))),
        PanelSpec("heatmap", "Latency distribution", (
            "How many calls fell into each duration bucket over time (mcp_tool_duration_seconds)."),
                  (Query(f"sum by (le) (increase({bucket}[{RATE}]))", "{{le}}", format="heatmap"),), unit="s"),
        PanelSpec("timeseries", "Latency by transport (semantic conventions)" + ("" if per_tool else ", all tools"), (
            f"p95 of mcp.server.operation.duration for tools/call of {'this tool' if per_tool else 'all tools'}, "
            "by network transport (pipe for stdio, tcp for HTTP)."
            + ("" if per_tool else " Per tool only with the policy's metrics.semconv_tool_label.")),
                  (Query(f"histogram_quantile(0.95, sum by ({semconv.LABEL_NETWORK_TRANSPORT}, le) "
                         f"(rate({op_bucket}[{RATE}])))", f"{{{{{semconv.LABEL_NETWORK_TRANSPORT}}}}} p95"),),
                  unit="s", thresholds=((GREEN, None),)),
        PanelSpec("timeseries", "In-flight calls", "Calls of this tool running at each moment, per instance.",
                  (Query(f"sum by (instance) ({q.metric(semconv.TOOL_CALLS_IN_FLIGHT, tool=True)})",
                         "{{instance}}"),), unit="short"),
    ]
    return _render("MCP tool drill-down", TOOL_UID, "One MCP tool in detail: traffic, errors by type, latency.",
                   specs, tool_multi=False, links=[_link("MCP server overview", OVERVIEW_UID), _runbook_link(policy)])


def _link(title: str, uid: str) -> dict[str, Any]:
    return {"title": title, "type": "link", "url": f"/d/{uid}", "includeVars": True, "keepTime": True,
            "icon": "dashboard", "targetBlank": False, "asDropdown": False, "tags": [], "tooltip": ""}


def _runbook_link(policy: Policy) -> dict[str, Any]:
    return {"title": "Alert runbook", "type": "link", "url": policy.alerts.runbook_url, "icon": "doc",
            "includeVars": False, "keepTime": False, "targetBlank": True, "asDropdown": False, "tags": [],
            "tooltip": "What each mcp-comply alert means and what to do"}


def build_dashboards(policy: Policy) -> dict[str, dict[str, Any]]:
    return {OVERVIEW_FILE: overview(policy), TOOL_FILE: tool(policy)}


def provisioning() -> dict[str, dict[str, Any]]:
    """Grafana provisioning files: a dashboard provider reading the JSON folder, and a Prometheus
    data source (edit its URL)."""
    return {
        "dashboards.yaml": {"apiVersion": 1, "providers": [{
            "name": "mcp-comply", "orgId": 1, "folder": "MCP", "type": "file", "disableDeletion": False,
            "updateIntervalSeconds": 60, "allowUiUpdates": False,
            "options": {"path": "/var/lib/grafana/dashboards/mcp-comply", "foldersFromFilesStructure": False}}]},
        "datasource.yaml": {"apiVersion": 1, "datasources": [{
            "name": "Prometheus", "type": "prometheus", "access": "proxy", "url": "http://prometheus:9090",
            "isDefault": True, "jsonData": {"timeInterval": "15s"}}]},
    }


# --- a picture of the layout -----------------------------------------------------------------------

_CELL_W, _CELL_H, _PAD = 40, 28, 3
_KIND_COLOURS = {"stat": "#e8f1fb", "timeseries": "#eef7ee", "bargauge": "#fdf3e6", "heatmap": "#fbeaea"}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def preview_svg(model: dict[str, Any]) -> str:
    """An SVG of the dashboard's grid: every panel at its position with title, type and unit.

    Not a Grafana screenshot (no data is drawn): a picture of what the JSON lays out, so a reader
    can see the dashboard before importing it."""
    panels = model["panels"]
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width, height = GRID_WIDTH * _CELL_W, (bottom + 2) * _CELL_H
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{_PAD * 2}" y="{_CELL_H - 8}" font-size="16" font-weight="bold">{_escape(model["title"])}</text>',
           f'<text x="{width - _PAD * 2}" y="{_CELL_H - 8}" font-size="11" text-anchor="end" fill="#555">'
           f'variables: {_escape(", ".join(v["name"] for v in model["templating"]["list"]))}</text>']
    for panel in panels:
        pos = panel["gridPos"]
        x, y = pos["x"] * _CELL_W + _PAD, (pos["y"] + 1) * _CELL_H + _PAD
        w, h = pos["w"] * _CELL_W - 2 * _PAD, pos["h"] * _CELL_H - 2 * _PAD
        title = _escape(panel["title"])
        if panel["type"] == "row":
            out.append(f'<text x="{x + 2}" y="{y + h - 4}" font-size="13" font-weight="bold" fill="#333">{title}</text>')
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        fill = _KIND_COLOURS.get(panel["type"], "#f4f4f4")
        out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{fill}" stroke="#9aa5b1"/>')
        out.append(f'<text x="{x + 6}" y="{y + 16}" font-size="12" font-weight="bold">{title}</text>')
        detail = f"{panel['type']}{', ' + unit if unit else ''}; {len(panel.get('targets', []))} quer" \
                 f"{'y' if len(panel.get('targets', [])) == 1 else 'ies'}"
        out.append(f'<text x="{x + 6}" y="{y + 31}" font-size="10" fill="#555">{_escape(detail)}</text>')
        room = max(0, (h - 40) // 13)
        for i, line in enumerate(textwrap.wrap(panel.get("description", ""), width=max(10, w // 6))[:room]):
            out.append(f'<text x="{x + 6}" y="{y + 48 + 13 * i}" font-size="10" fill="#333">{_escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
