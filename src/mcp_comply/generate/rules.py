"""Prometheus recording rules, alert rules, their promtool unit tests and the runbook.

Everything is derived from the policy (``slo`` and ``alerts`` sections, ``audit.queue_max`` and
``audit.checkpoint_interval_s``) and from the metric names in :mod:`mcp_comply.semconv`, so the rules
always match what the runtime emits. Pure: policy in, file contents out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mcp_comply import semconv
from mcp_comply.config import Policy
from mcp_comply.generate._promql import (
    duration_seconds,
    humanize,
    humanize_duration,
    humanize_percentage,
    number,
    percent,
    seconds,
    selector,
    window,
)

RECORDING_FILE = "mcp-comply-recording.rules.yaml"
ALERTS_FILE = "mcp-comply-alerts.rules.yaml"
TESTS_FILE = "mcp-comply.rules.test.yaml"
RUNBOOK_FILE = "runbook.md"

# Multi-window, multi-burn-rate pairs (Google SRE Workbook, "Alerting on SLOs"): the share of the
# period's error budget spent within the long window, the long window and its short twin (1/12).
PAGE_WINDOWS: tuple[tuple[float, int, int], ...] = ((0.02, 3600, 300), (0.05, 6 * 3600, 1800))
TICKET_WINDOWS: tuple[tuple[float, int, int], ...] = ((0.10, 86400, 2 * 3600), (0.10, 3 * 86400, 6 * 3600))
SLO_WINDOWS: tuple[int, ...] = tuple(sorted({w for pairs in (PAGE_WINDOWS, TICKET_WINDOWS) for _, a, b in pairs
                                             for w in (a, b)}))
PAGE_FOR = "2m"
TICKET_FOR = "15m"

# Recording-rule names (level:metric:operations, as Prometheus's naming guide has it).
CALLS_RATE = "job_tool:mcp_tool_calls:rate5m"
ERRORS_RATE = "job_tool:mcp_tool_errors:rate5m"
ERROR_RATIO = "job_tool:mcp_tool_errors:ratio_rate5m"
SERVER_ERRORS_RATE = "job_tool:mcp_tool_server_errors:rate5m"
SERVER_ERROR_RATIO = "job_tool:mcp_tool_server_errors:ratio_rate5m"
CLIENT_ERRORS_RATE = "job_tool:mcp_tool_client_errors:rate5m"
CLIENT_ERROR_RATIO = "job_tool:mcp_tool_client_errors:ratio_rate5m"
# Errors a client causes (a tool that does not exist, arguments that fail the schema): they say
# nothing about the server's health, so they get their own alert that never pages.
CLIENT_ERROR_TYPES = (semconv.ERROR_UNKNOWN_TOOL, semconv.ERROR_VALIDATION)
# Per-job 5-minute rates the SLO period figures are summed from (cheap: one sample per evaluation).
JOB_CALLS_RATE = "job:mcp_tool_calls:rate5m"
JOB_BAD_CALLS_RATE = "job:mcp_slo_availability_bad_calls:rate5m"
JOB_FAST_CALLS_RATE = "job:mcp_slo_latency_good_calls:rate5m"
JOB_TIMED_CALLS_RATE = "job:mcp_tool_duration_seconds_count:rate5m"
LATENCY_QUANTILES = (0.5, 0.95, 0.99)


def latency_record(q: float) -> str:
    return f"job_tool:mcp_tool_duration_seconds:p{round(q * 100)}_rate5m"


def availability_record(seconds_: int) -> str:
    return f"job:mcp_slo_availability_errors:ratio_rate{window(seconds_)}"


def latency_slo_record(seconds_: int) -> str:
    return f"job:mcp_slo_latency_errors:ratio_rate{window(seconds_)}"


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str | None
    severity: str
    summary: str
    description: str
    runbook_url: str
    quantity: str
    """The expression the alert compares against its threshold; has data whenever the alert's
    metrics exist (the end-to-end test evaluates it)."""
    meaning: str
    impact: str
    diagnosis: tuple[tuple[str, str], ...]
    mitigation: tuple[str, ...]

    def rule(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_:
            rule["for"] = self.for_
        rule["labels"] = {"severity": self.severity}
        rule["annotations"] = {"summary": self.summary, "description": self.description,
                               "runbook_url": self.runbook_url}
        return rule


@dataclass(frozen=True)
class RuleSet:
    recording: tuple[Recording, ...]
    alerts: tuple[Alert, ...]
    tests: tuple[dict[str, Any], ...] = field(default=())


# --- building --------------------------------------------------------------------------------


def _error_types_regex(types: tuple[str, ...]) -> str:
    return "|".join(sorted(types))


def recording_rules(policy: Policy) -> tuple[Recording, ...]:
    m = partial(selector, base=policy.alerts.selector)
    calls = semconv.TOOL_CALLS_TOTAL
    status_error = f'{semconv.LABEL_STATUS}="{semconv.STATUS_ERROR}"'
    rules = [
        Recording(CALLS_RATE, f"sum by (job, tool) (rate({m(calls)}[5m]))"),
        # "or ... * 0" keeps a 0 for tools that have calls but no errors, so the ratio exists.
        Recording(ERRORS_RATE, f"sum by (job, tool) (rate({m(calls, status_error)}[5m])) "
                               f"or sum by (job, tool) (rate({m(calls)}[5m])) * 0"),
        Recording(ERROR_RATIO, f"{ERRORS_RATE} / {CALLS_RATE}"),
    ]
    client = f'{semconv.LABEL_ERROR_TYPE}=~"{_error_types_regex(CLIENT_ERROR_TYPES)}"'
    server = f'{semconv.LABEL_ERROR_TYPE}!~"{_error_types_regex(CLIENT_ERROR_TYPES)}"'
    for rate, ratio, matcher in ((SERVER_ERRORS_RATE, SERVER_ERROR_RATIO, server),
                                 (CLIENT_ERRORS_RATE, CLIENT_ERROR_RATIO, client)):
        rules += [
            Recording(rate, f"sum by (job, tool) (rate({m(calls, status_error, matcher)}[5m])) "
                            f"or sum by (job, tool) (rate({m(calls)}[5m])) * 0"),
            Recording(ratio, f"{rate} / {CALLS_RATE}"),
        ]
    bucket = semconv.TOOL_DURATION_SECONDS + "_bucket"
    for q in LATENCY_QUANTILES:
        rules.append(Recording(latency_record(q),
                               f"histogram_quantile({q}, sum by (job, tool, le) (rate({m(bucket)}[5m])))"))
    bad = f'{semconv.LABEL_ERROR_TYPE}=~"{_error_types_regex(policy.slo.availability_error_types)}"'
    le = f'le="{semconv.bucket_label(policy.slo.latency_threshold_s)}"'
    count = semconv.TOOL_DURATION_SECONDS + "_count"
    for w in SLO_WINDOWS:
        span = window(w)
        rules.append(Recording(
            availability_record(w),
            f"(sum by (job) (rate({m(calls, bad)}[{span}])) or sum by (job) (rate({m(calls)}[{span}])) * 0) "
            f"/ sum by (job) (rate({m(calls)}[{span}]))"))
    for w in SLO_WINDOWS:
        span = window(w)
        rules.append(Recording(
            latency_slo_record(w),
            f"1 - sum by (job) (rate({m(bucket, le)}[{span}])) / sum by (job) (rate({m(count)}[{span}]))"))
    # The SLO period's figures, summed from 5-minute rates recorded every evaluation instead of
    # `increase(...[30d])` over raw counters in every dashboard refresh.
    period = window(policy.slo.period_days * 86400)
    rules += [
        Recording(JOB_CALLS_RATE, f"sum by (job) (rate({m(calls)}[5m]))"),
        Recording(JOB_BAD_CALLS_RATE, f"sum by (job) (rate({m(calls, bad)}[5m])) or {JOB_CALLS_RATE} * 0"),
        Recording(JOB_TIMED_CALLS_RATE, f"sum by (job) (rate({m(count)}[5m]))"),
        Recording(JOB_FAST_CALLS_RATE, f"sum by (job) (rate({m(bucket, le)}[5m]))"),
    ]
    if policy.slo.period_days * 86400 not in SLO_WINDOWS:  # else the burn-rate window of that length serves
        rules += [
            Recording(period_availability_record(policy),
                      f"sum_over_time({JOB_BAD_CALLS_RATE}[{period}]) / sum_over_time({JOB_CALLS_RATE}[{period}])"),
            Recording(period_latency_record(policy),
                      f"1 - sum_over_time({JOB_FAST_CALLS_RATE}[{period}]) "
                      f"/ sum_over_time({JOB_TIMED_CALLS_RATE}[{period}])"),
        ]
    return tuple(rules)


def period_availability_record(policy: Policy) -> str:
    return availability_record(policy.slo.period_days * 86400)


def period_latency_record(policy: Policy) -> str:
    return latency_slo_record(policy.slo.period_days * 86400)


def checkpoint_stale_after(policy: Policy) -> float:
    if policy.alerts.checkpoint_stale_s is not None:
        return policy.alerts.checkpoint_stale_s
    return max(300.0, 3 * policy.audit.checkpoint_interval_s)


def queue_threshold(policy: Policy) -> float:
    return math.floor(policy.audit.queue_max * policy.alerts.queue_saturation * 10) / 10


def _burn_alerts(policy: Policy, kind: str, url: str) -> list[Alert]:
    slo = policy.slo
    objective = slo.availability if kind == "availability" else slo.latency_target
    budget = 1 - objective
    period_h = slo.period_days * 24
    record = availability_record if kind == "availability" else latency_slo_record
    what = ("tool calls failing for a server-side reason (error types "
            f"{', '.join(sorted(slo.availability_error_types))})" if kind == "availability"
            else f"tool calls slower than {seconds(slo.latency_threshold_s)}")
    short_what = "Server-side errors" if kind == "availability" else f"Calls slower than {seconds(slo.latency_threshold_s)}"
    title = "Availability" if kind == "availability" else "Latency"
    alerts = []
    for speed, pairs, severity, for_ in (("Fast", PAGE_WINDOWS, "critical", PAGE_FOR),
                                         ("Slow", TICKET_WINDOWS, "warning", TICKET_FOR)):
        clauses = []
        for spent, long_w, short_w in pairs:
            factor = spent * period_h / (long_w / 3600)
            threshold = number(factor * budget)
            clauses.append(f"({record(long_w)} > {threshold} and {record(short_w)} > {threshold})")
        name = f"MCP{title}BudgetBurn{speed}"
        windows = " or ".join(f"{window(a)}/{window(b)}" for _, a, b in pairs)
        spent_text = " or ".join(f"{percent(s)} in {window(a)}" for s, a, _ in pairs)
        alerts.append(Alert(
            name=name,
            expr=" or ".join(clauses),
            for_=for_,
            severity=severity,
            summary=f"An MCP server is burning its {title.lower()} error budget {'fast' if speed == 'Fast' else 'steadily'}.",
            description=(f"{short_what} are {{{{ $value | humanizePercentage }}}} of tool calls on job "
                         f"{{{{ $labels.job }}}} (objective: at most {percent(budget)} over {slo.period_days} days)."),
            runbook_url=f"{url}#{name.lower()}",
            quantity=record(pairs[0][1]),
            meaning=(f"The share of {what} is so high, in both a long and a short window ({windows}), that "
                     f"{spent_text} of the {slo.period_days}-day error budget would be spent. The objective is "
                     f"{percent(objective)} (policy `slo.{'availability' if kind == 'availability' else 'latency_target'}`)."),
            impact=("Users see failed or slow tool calls now; if it continues, the SLO is missed within "
                    + ("hours." if speed == "Fast" else "days.")),
            diagnosis=(
                ("Which tools fail or are slow", f"{ERROR_RATIO}{{job=\"$job\"}}" if kind == "availability"
                 else f"{latency_record(0.95)}{{job=\"$job\"}}"),
                ("Errors by type", f"sum by (tool, error_type) (rate({semconv.TOOL_CALLS_TOTAL}{{job=\"$job\", "
                                   f"status=\"error\"}}[5m]))"),
                ("Budget spent, long window", f"{record(pairs[0][1])}{{job=\"$job\"}}"),
            ),
            mitigation=(
                "Open the overview dashboard and the per-tool drill-down for the failing tools.",
                "Roll back a recent release, or disable the failing tool, if the errors started with a change.",
                "Check the tool's downstream dependencies (APIs, databases) for outages.",
                "Use the audit log to see the failing calls: `mcp-comply audit show AUDIT_DIR --tool TOOL`.",
            ),
        ))
    return alerts


def alert_rules(policy: Policy) -> tuple[Alert, ...]:
    a = policy.alerts
    m = partial(selector, base=a.selector)
    url = a.runbook_url
    info_1d = f"max_over_time({m(semconv.COMPLY_INFO)}[1d])"
    info_15m = f"max_over_time({m(semconv.COMPLY_INFO)}[15m])"
    p95 = latency_record(0.95)
    stale = checkpoint_stale_after(policy)
    queue = queue_threshold(policy)
    records_5m = f"increase({m(semconv.AUDIT_RECORDS_TOTAL)}[5m])"
    age = f"time() - {m(semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS)}"
    alerts = [
        Alert(
            name="MCPToolHighErrorRate",
            expr=f"{SERVER_ERROR_RATIO} > {number(a.error_ratio)} and {CALLS_RATE} > {number(a.min_call_rate)}",
            for_=a.error_ratio_for, severity="warning",
            summary="An MCP tool fails often.",
            description=(f"Tool {{{{ $labels.tool }}}} on job {{{{ $labels.job }}}}: {{{{ $value | humanizePercentage }}}} "
                         f"of calls failed on the server's side over the last 5 minutes (threshold "
                         f"{percent(a.error_ratio)})."),
            runbook_url=f"{url}#mcptoolhigherrorrate", quantity=SERVER_ERROR_RATIO,
            meaning=(f"More than {percent(a.error_ratio)} of one tool's calls ended in an error on the server's side "
                     f"(`{'`, `'.join(t for t in semconv.ERROR_TYPES if t not in CLIENT_ERROR_TYPES)}`) for "
                     f"{a.error_ratio_for}, with at least {number(a.min_call_rate)} calls/s. Client mistakes "
                     f"(`{'`, `'.join(CLIENT_ERROR_TYPES)}`) do not count: MCPToolClientErrors reports them."),
            impact="Agents using this tool get errors the client cannot fix by itself.",
            diagnosis=(
                ("Errors by type for the tool", f"sum by (error_type) (rate({semconv.TOOL_CALLS_TOTAL}"
                                                f"{{job=\"$job\", tool=\"$tool\", status=\"error\"}}[5m]))"),
                ("Server-side error ratio of every tool", f"{SERVER_ERROR_RATIO}{{job=\"$job\"}}"),
            ),
            mitigation=(
                "`exception`: the tool crashes; read the server's logs and the audit records of the failing calls "
                "(`mcp-comply audit show AUDIT_DIR --tool TOOL`).",
                "`tool_error`: the tool reports a failure deliberately (e.g. a downstream API says no); check that dependency.",
                "`cancelled` or `protocol_error`: calls time out or break at the protocol level; compare with latency.",
            ),
        ),
        Alert(
            name="MCPToolClientErrors",
            expr=(f"{CLIENT_ERROR_RATIO} > {number(a.client_error_ratio)} and {CALLS_RATE} > "
                  f"{number(a.min_call_rate)}"),
            for_=a.error_ratio_for, severity="info",
            summary="Clients call an MCP tool wrongly.",
            description=(f"Tool {{{{ $labels.tool }}}} on job {{{{ $labels.job }}}}: {{{{ $value | humanizePercentage }}}} "
                         f"of calls were rejected as client errors (unknown tool or invalid arguments) over the last "
                         f"5 minutes (threshold {percent(a.client_error_ratio)})."),
            runbook_url=f"{url}#mcptoolclienterrors", quantity=CLIENT_ERROR_RATIO,
            meaning=(f"More than {percent(a.client_error_ratio)} of the calls of one tool (`_unknown_` for names the "
                     f"server does not have) were the client's mistake: `{'`, `'.join(CLIENT_ERROR_TYPES)}`, for "
                     f"{a.error_ratio_for}. Severity info: one client's mistakes never page."),
            impact="The calling agents get errors; the server is healthy.",
            diagnosis=(
                ("Client errors by tool and type", f"sum by (tool, error_type) (rate({semconv.TOOL_CALLS_TOTAL}"
                                                   f"{{job=\"$job\", error_type=~\"{_error_types_regex(CLIENT_ERROR_TYPES)}\"}}[5m]))"),
                ("Which clients", "mcp-comply audit show AUDIT_DIR --tool TOOL (client name and version per call)"),
            ),
            mitigation=(
                "`unknown_tool`: a client uses an old or misspelt tool name; tell its owner, or keep an alias tool.",
                "`validation_error`: the client's arguments do not match the tool's input schema; compare the "
                "schema with the client's version.",
            ),
        ),
        Alert(
            name="MCPToolHighLatency",
            expr=f"{p95} > {number(a.p95_latency_s)}",
            for_=a.latency_for, severity="warning",
            summary="An MCP tool is slow.",
            description=(f"Tool {{{{ $labels.tool }}}} on job {{{{ $labels.job }}}}: p95 latency is "
                         f"{{{{ $value | humanizeDuration }}}} over the last 5 minutes (threshold {seconds(a.p95_latency_s)})."),
            runbook_url=f"{url}#mcptoolhighlatency", quantity=p95,
            meaning=f"The 95th percentile duration of one tool's calls stayed above {seconds(a.p95_latency_s)} for {a.latency_for}.",
            impact="Agents wait longer for this tool; clients may time out and retry, adding load.",
            diagnosis=(
                ("p50/p95/p99 of the tool", f"{latency_record(0.5)}{{job=\"$job\", tool=\"$tool\"}}"),
                ("Calls in flight", f"sum by (tool) ({semconv.TOOL_CALLS_IN_FLIGHT}{{job=\"$job\"}})"),
                ("Call rate", f"{CALLS_RATE}{{job=\"$job\", tool=\"$tool\"}}"),
            ),
            mitigation=(
                "Compare with the call rate: more traffic than usual points at capacity; add replicas.",
                "Steady traffic but slower calls points at a slow dependency of the tool.",
                "Traces of slow calls (span `tools/call <tool>`) show where the time goes.",
            ),
        ),
        Alert(
            name="MCPServerCrashLooping",
            expr=(f"changes({m(semconv.PROCESS_START_TIME_SECONDS)}[15m]) >= {a.crash_restarts} "
                  f"and on (job, instance) {info_15m}"),
            for_=None, severity="critical",
            summary="An MCP server keeps restarting.",
            description=("{{ $labels.instance }} of job {{ $labels.job }} restarted {{ $value | humanize }} times "
                         "in the last 15 minutes."),
            runbook_url=f"{url}#mcpservercrashlooping",
            quantity=f"changes({m(semconv.PROCESS_START_TIME_SECONDS)}[15m])",
            meaning=(f"The process start time of an instrumented server changed at least {a.crash_restarts} times "
                     "within 15 minutes: the process exits and is restarted by its supervisor."),
            impact="Calls in progress fail at every restart; sessions are lost; the server may be down between restarts.",
            diagnosis=(
                ("Restarts per instance", f"changes({semconv.PROCESS_START_TIME_SECONDS}{{job=\"$job\"}}[1h])"),
                ("Scrape success", "up{job=\"$job\"}"),
            ),
            mitigation=(
                "Read the exit reason in the supervisor's log (`kubectl describe pod`, `journalctl -u ...`).",
                "Out-of-memory kills: compare `process_resident_memory_bytes` with the limit.",
                "A crash at start-up often is a configuration error: `mcp-comply` exits 2 and names the file and path.",
            ),
        ),
        Alert(
            name="MCPTargetDown",
            expr=f"{m(semconv.UP)} == 0 and on (job, instance) {info_1d}",
            for_=a.target_down_for, severity="critical",
            summary="An MCP server cannot be scraped.",
            description=(f"{{{{ $labels.instance }}}} of job {{{{ $labels.job }}}} has not answered Prometheus "
                         f"for {a.target_down_for}."),
            runbook_url=f"{url}#mcptargetdown", quantity=m(semconv.UP),
            meaning=(f"Prometheus could not scrape a target that exported `{semconv.COMPLY_INFO}` within the last "
                     f"day, for {a.target_down_for}. Other targets are not considered."),
            impact="The server is down or unreachable, or only its metrics endpoint is; no metrics, no alerts for it.",
            diagnosis=(
                ("Scrape health", "up{job=\"$job\"}"),
                ("Last scrape error", "Prometheus UI, Status > Targets: the `lastError` of the target"),
            ),
            mitigation=(
                "Check that the process runs and listens: `curl http://HOST:PORT/healthz`.",
                "The metrics endpoint binds to 127.0.0.1 by default; set `metrics.host` (policy) or "
                "`MCP_COMPLY_METRICS_HOST` for remote scrapes.",
            ),
        ),
        *_burn_alerts(policy, "availability", url),
        *_burn_alerts(policy, "latency", url),
        Alert(
            name="MCPAuditWriteErrors",
            expr=f"increase({m(semconv.AUDIT_WRITE_ERRORS_TOTAL)}[5m]) > 0",
            for_=None, severity="critical",
            summary="Audit records could not be written.",
            description=("{{ $value | humanize }} audit records could not be written on {{ $labels.instance }} of job "
                         "{{ $labels.job }} in the last 5 minutes; the audit trail has gaps."),
            runbook_url=f"{url}#mcpauditwriteerrors",
            quantity=f"increase({m(semconv.AUDIT_WRITE_ERRORS_TOTAL)}[5m])",
            meaning=("The audit writer failed to write or fsync records (disk full, I/O error, permissions). "
                     "With `on_failure: fail-open` the calls were served and a `gap` record marks the loss; with "
                     "`fail-closed` the calls were refused."),
            impact=("The record-keeping duty (EU AI Act Art. 12) is not met for the affected calls; "
                    "with fail-closed, tool calls fail."),
            diagnosis=(
                ("Write errors", f"increase({semconv.AUDIT_WRITE_ERRORS_TOTAL}{{job=\"$job\"}}[1h])"),
                ("Readiness", "curl http://HOST:PORT/readyz (names the writer's state)"),
                ("Chain state", "mcp-comply audit verify AUDIT_DIR --key audit-signing.pub"),
            ),
            mitigation=(
                "Free or grow the audit volume; check its permissions and mount options.",
                "After the cause is fixed, verify the chain: the `gap` records show what was lost.",
            ),
        ),
        Alert(
            name="MCPAuditCheckpointStale",
            expr=f"{age} > {number(stale)} and on (job, instance) {records_5m} > 0",
            for_="5m", severity="warning",
            summary="Audit records are not covered by a recent checkpoint.",
            description=("The last audit checkpoint on {{ $labels.instance }} of job {{ $labels.job }} is "
                         "{{ $value | humanizeDuration }} old while records keep arriving."),
            runbook_url=f"{url}#mcpauditcheckpointstale", quantity=age,
            meaning=(f"Records were written in the last 5 minutes but the last signed checkpoint is older than "
                     f"{seconds(stale)} (checkpoints are due every {seconds(policy.audit.checkpoint_interval_s)} "
                     "or 1000 records)."),
            impact=("Records after the last checkpoint are protected by the hash chain only: a truncation of the "
                    "log's tail could not be detected."),
            diagnosis=(
                ("Checkpoint age", f"time() - {semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS}{{job=\"$job\"}}"),
                ("Write errors", f"increase({semconv.AUDIT_WRITE_ERRORS_TOTAL}{{job=\"$job\"}}[1h])"),
                ("Checkpoint files", "ls -lt CHECKPOINT_DIR | head"),
            ),
            mitigation=(
                "Check that the checkpoint directory is writable and not full (it may be a separate, shipped volume).",
                "Check that the signing key is readable by the server process.",
            ),
        ),
        Alert(
            name="MCPAuditQueueSaturated",
            expr=f"{m(semconv.AUDIT_QUEUE_DEPTH)} > {number(queue)}",
            for_="2m", severity="warning",
            summary="The audit queue is nearly full.",
            description=("{{ $value | humanize }} audit records are waiting on {{ $labels.instance }} of job "
                         f"{{{{ $labels.job }}}} (limit {policy.audit.queue_max})."),
            runbook_url=f"{url}#mcpauditqueuesaturated", quantity=m(semconv.AUDIT_QUEUE_DEPTH),
            meaning=(f"More than {percent(policy.alerts.queue_saturation)} of `audit.queue_max` "
                     f"({policy.audit.queue_max}) records wait for the writer thread: the disk cannot keep up."),
            impact=("`/readyz` reports not ready; when the queue is full, records are dropped (fail-open, with a "
                    "`gap` record) or calls are refused (fail-closed)."),
            diagnosis=(
                ("Queue depth", f"{semconv.AUDIT_QUEUE_DEPTH}{{job=\"$job\"}}"),
                ("Records written per second", f"rate({semconv.AUDIT_RECORDS_TOTAL}{{job=\"$job\"}}[5m])"),
            ),
            mitigation=(
                "Use faster storage for the audit directory, or `fsync: batch` instead of `always`.",
                "Spread the traffic over more replicas (each writes its own chain).",
            ),
        ),
        Alert(
            name="MCPComplyInternalErrors",
            expr=f"increase({m(semconv.COMPLY_INTERNAL_ERRORS_TOTAL)}[10m]) > 0",
            for_=None, severity="warning",
            summary="mcp-comply itself failed while serving requests.",
            description=("{{ $value | humanize }} internal errors in component {{ $labels.component }} on "
                         "{{ $labels.instance }} of job {{ $labels.job }} in the last 10 minutes."),
            runbook_url=f"{url}#mcpcomplyinternalerrors",
            quantity=f"increase({m(semconv.COMPLY_INTERNAL_ERRORS_TOTAL)}[10m])",
            meaning=("The instrumentation caught a failure of its own (metrics, spans, audit sink); the request "
                     "was served anyway, but its telemetry may be incomplete."),
            impact="Metrics, spans or audit records of some calls may be missing.",
            diagnosis=(
                ("Errors by component", f"increase({semconv.COMPLY_INTERNAL_ERRORS_TOTAL}{{job=\"$job\"}}[1h])"),
                ("Logs", "the server's stderr: JSON lines from logger `mcp_comply` with the traceback"),
            ),
            mitigation=("Report the traceback to the mcp-comply maintainers with the versions from `mcp_comply_info`.",),
        ),
    ]
    return tuple(alerts)


def build_rules(policy: Policy) -> RuleSet:
    rules = RuleSet(recording_rules(policy), alert_rules(policy))
    return RuleSet(rules.recording, rules.alerts, tuple(unit_tests(policy, rules)))


# --- promtool unit tests --------------------------------------------------------------------


def _selector_labels(policy: Policy) -> dict[str, str]:
    """Label values the test series need to match the policy's selector (equality matchers)."""
    labels = {"job": "mcp-demo"}
    for name, value in re.findall(r'([A-Za-z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"', policy.alerts.selector):
        labels[name] = value
    return labels


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{metric}{{{body}}}", "values": values}


def _annotations(alert: Alert, description: str) -> dict[str, str]:
    return {"summary": alert.summary, "description": description, "runbook_url": alert.runbook_url}


def _render(template: str, labels: dict[str, str], value: str) -> str:
    """Fill an annotation template the way Prometheus will (only the forms the rules use)."""
    out = re.sub(r"\{\{ \$value \| (\w+) \}\}", lambda _: value, template)
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda mt: labels.get(mt.group(1), ""), out)


def _expect(alert: Alert, labels: dict[str, str], value: str) -> dict[str, Any]:
    return {"exp_labels": {**labels, "severity": alert.severity},
            "exp_annotations": _annotations(alert, _render(alert.description, labels, value))}


def unit_tests(policy: Policy, rules: RuleSet) -> list[dict[str, Any]]:
    by_name = {a.name: a for a in rules.alerts}
    base = _selector_labels(policy)
    job = base["job"]
    inst_a, inst_b = "10.0.0.1:9464", "10.0.0.2:9464"
    a = policy.alerts
    tests: list[dict[str, Any]] = []
    calls = semconv.TOOL_CALLS_TOTAL

    def call_series(tool: str, status: str, error_type: str, per_min: float, instance: str = inst_a) -> dict[str, str]:
        labels = {**base, "instance": instance, "tool": tool, "status": status}
        if error_type:
            labels["error_type"] = error_type
        return _series(calls, labels, f"0+{number(per_min)}x40")

    # 1. Error rate: a failing tool fires, a healthy tool and a low-traffic failing tool do not.
    alert = by_name["MCPToolHighErrorRate"]
    per_min = 60 * max(1, math.ceil(2 * a.min_call_rate))
    errors = min(per_min, math.floor(a.error_ratio * per_min) + 1)
    series = [call_series("get_forecast", "ok", "", per_min - errors),
              call_series("get_forecast", "error", semconv.ERROR_TOOL, errors),
              call_series("plan_trip", "ok", "", per_min)]
    if a.min_call_rate > 0:
        series.append(call_series("rare_tool", "error", semconv.ERROR_EXCEPTION, a.min_call_rate * 30))
    exp = [] if errors / per_min <= a.error_ratio else [
        _expect(alert, {"job": job, "tool": "get_forecast"}, humanize_percentage(errors / per_min))]
    tests.append({
        "name": "MCPToolHighErrorRate fires for the failing tool only",
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "3m", "alertname": alert.name, "exp_alerts": []},  # pending: `for` not yet elapsed
            {"eval_time": "25m", "alertname": alert.name, "exp_alerts": exp},
        ],
        "promql_expr_test": [{
            "expr": f'{ERROR_RATIO}{{tool="plan_trip"}}', "eval_time": "25m",
            "exp_samples": [{"labels": f'{ERROR_RATIO}{{job="{job}", tool="plan_trip"}}', "value": 0}],
        }],
    })

    tests.extend(_client_error_tests(policy, by_name, call_series, job))

    # 2. Latency: every call of one tool lands in the bucket above the threshold.
    alert = by_name["MCPToolHighLatency"]
    bounds = policy.tool_duration_buckets
    above = [b for b in bounds if b >= a.p95_latency_s]
    if len(above) >= 2:
        lo, hi = above[0], above[1]
        series = []
        for tool, slow in (("get_forecast", True), ("plan_trip", False)):
            for bound in (*bounds, math.inf):
                filled = (bound >= hi) if slow else True
                labels = {**base, "instance": inst_a, "tool": tool, "status": "ok", "le": semconv.bucket_label(bound)}
                series.append(_series(semconv.TOOL_DURATION_SECONDS + "_bucket", labels,
                                      "0+60x40" if filled else "0x40"))
        p95 = lo + (hi - lo) * 0.95
        tests.append({
            "name": "MCPToolHighLatency fires for the slow tool only",
            "interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": "30m", "alertname": alert.name, "exp_alerts": [
                _expect(alert, {"job": job, "tool": "get_forecast"}, humanize_duration(p95))]}],
            "promql_expr_test": [{
                "expr": f'{latency_record(0.95)}{{tool="get_forecast"}}', "eval_time": "30m",
                "exp_samples": [{"labels": f'{latency_record(0.95)}{{job="{job}", tool="get_forecast"}}',
                                 "value": p95}],
            }],
        })

    # 3. Crash loop: N restarts within 15 minutes on one instance, none on the other.
    alert = by_name["MCPServerCrashLooping"]
    n = a.crash_restarts
    if n <= 13:
        start = semconv.PROCESS_START_TIME_SECONDS
        info = semconv.COMPLY_INFO
        series = [
            _series(start, {**base, "instance": inst_a}, f"1+1x{n} {n + 1}x{30 - n}"),
            _series(start, {**base, "instance": inst_b}, "1x30"),
            _series(info, {**base, "instance": inst_a, "version": "0.1.0", "server_name": "weather"}, "1x30"),
            _series(info, {**base, "instance": inst_b, "version": "0.1.0", "server_name": "weather"}, "1x30"),
        ]
        tests.append({
            "name": "MCPServerCrashLooping fires for the restarting instance only",
            "interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": f"{n + 1}m", "alertname": alert.name, "exp_alerts": [
                _expect(alert, {**base, "instance": inst_a}, humanize(n))]}],
        })

    # 4. Target down: an instrumented target that stops answering fires; an unrelated target does not.
    alert = by_name["MCPTargetDown"]
    down_for = duration_seconds(a.target_down_for) // 60 + 1
    series = [
        _series(semconv.UP, {**base, "instance": inst_a}, f"1x4 0x{down_for + 10}"),
        _series(semconv.COMPLY_INFO, {**base, "instance": inst_a, "version": "0.1.0", "server_name": "weather"},
                f"1x4 _x{down_for + 10}"),
        _series(semconv.UP, {**base, "instance": "10.0.0.9:9100"}, f"0x{down_for + 14}"),
    ]
    tests.append({
        "name": "MCPTargetDown fires for instrumented targets only",
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "5m", "alertname": alert.name, "exp_alerts": []},  # down, but `for` not elapsed
            {"eval_time": f"{5 + down_for + 1}m", "alertname": alert.name, "exp_alerts": [
                _expect(alert, {**base, "instance": inst_a}, "0")]},
        ],
    })

    # 5. Burn-rate alerts: per SLO kind, a fast burn (pages and tickets), a slow burn (tickets
    #    only) and a healthy service (neither). Client-caused errors never spend the budget.
    tests.extend(_burn_tests(policy, by_name, base, inst_a))

    # 6. Audit alerts.
    alert = by_name["MCPAuditWriteErrors"]
    series = [_series(semconv.AUDIT_WRITE_ERRORS_TOTAL, {**base, "instance": inst_a}, "0x5 1+1x25"),
              _series(semconv.AUDIT_WRITE_ERRORS_TOTAL, {**base, "instance": inst_b}, "0x30")]
    tests.append({
        "name": "MCPAuditWriteErrors fires on the instance that fails to write",
        "interval": "1m", "input_series": series,
        "alert_rule_test": [
            {"eval_time": "4m", "alertname": alert.name, "exp_alerts": []},
            {"eval_time": "15m", "alertname": alert.name, "exp_alerts": [
                _expect(alert, {**base, "instance": inst_a}, humanize(5))]},
        ],
    })

    alert = by_name["MCPAuditCheckpointStale"]
    stale = checkpoint_stale_after(policy)
    eval_min = math.ceil(stale / 60) + 10
    length = eval_min + 5
    series = [
        _series(semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS, {**base, "instance": inst_a}, f"0x{length}"),
        _series(semconv.AUDIT_RECORDS_TOTAL, {**base, "instance": inst_a}, f"0+10x{length}"),
        _series(semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS, {**base, "instance": inst_b}, f"0+60x{length}"),
        _series(semconv.AUDIT_RECORDS_TOTAL, {**base, "instance": inst_b}, f"0+10x{length}"),
        _series(semconv.AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS, {**base, "instance": "10.0.0.3:9464"}, f"0x{length}"),
        _series(semconv.AUDIT_RECORDS_TOTAL, {**base, "instance": "10.0.0.3:9464"}, f"5x{length}"),
    ]
    tests.append({
        "name": "MCPAuditCheckpointStale fires while records arrive without checkpoints; idle logs are fine",
        "interval": "1m", "input_series": series,
        "alert_rule_test": [{"eval_time": f"{eval_min}m", "alertname": alert.name, "exp_alerts": [
            _expect(alert, {**base, "instance": inst_a}, humanize_duration(eval_min * 60))]}],
    })

    alert = by_name["MCPAuditQueueSaturated"]
    full = math.floor(policy.audit.queue_max * (1 + a.queue_saturation) / 2)
    if full > queue_threshold(policy):
        low = math.floor(queue_threshold(policy) / 2)
        series = [_series(semconv.AUDIT_QUEUE_DEPTH, {**base, "instance": inst_a}, f"{low}x5 {full}x25"),
                  _series(semconv.AUDIT_QUEUE_DEPTH, {**base, "instance": inst_b}, f"{low}x30")]
        tests.append({
            "name": "MCPAuditQueueSaturated fires on the instance whose queue is nearly full",
            "interval": "1m", "input_series": series,
            "alert_rule_test": [{"eval_time": "15m", "alertname": alert.name, "exp_alerts": [
                _expect(alert, {**base, "instance": inst_a}, humanize(full))]}],
        })

    alert = by_name["MCPComplyInternalErrors"]
    series = [_series(semconv.COMPLY_INTERNAL_ERRORS_TOTAL, {**base, "instance": inst_a, "component": "audit"},
                      "0+1x30"),
              _series(semconv.COMPLY_INTERNAL_ERRORS_TOTAL, {**base, "instance": inst_b, "component": "audit"},
                      "0x30")]
    tests.append({
        "name": "MCPComplyInternalErrors fires while internal errors are counted",
        "interval": "1m", "input_series": series,
        "alert_rule_test": [{"eval_time": "20m", "alertname": alert.name, "exp_alerts": [
            _expect(alert, {**base, "instance": inst_a, "component": "audit"}, humanize(10))]}],
    })
    return tests


def _client_error_tests(policy: Policy, by_name: dict[str, Alert], call_series: Any, job: str) -> list[dict[str, Any]]:
    """Client mistakes go to MCPToolClientErrors (info) and never page."""
    a = policy.alerts
    client, server = by_name["MCPToolClientErrors"], by_name["MCPToolHighErrorRate"]
    # A policy that counts client mistakes against availability (slo.availability_error_types) asked
    # for them to spend the budget; its burn-rate alerts may page on them.
    counted = set(CLIENT_ERROR_TYPES) & set(policy.slo.availability_error_types)
    paging = [alert.name for alert in by_name.values() if alert.severity != "info" and alert is not server
              and not (counted and alert.name.startswith("MCPAvailabilityBudgetBurn"))]
    tests = []
    # One client calls a tool that does not exist, once a minute, next to healthy traffic.
    series = [call_series(semconv.UNKNOWN_TOOL_LABEL, "error", semconv.ERROR_UNKNOWN_TOOL, 1),
              call_series("get_forecast", "ok", "", 60)]
    fires = a.min_call_rate < 1 / 60 and a.client_error_ratio < 1
    checks: list[dict[str, Any]] = [
        {"eval_time": "30m", "alertname": name, "exp_alerts": []} for name in (server.name, *paging)]
    checks.append({"eval_time": "30m", "alertname": client.name, "exp_alerts": [
        _expect(client, {"job": job, "tool": semconv.UNKNOWN_TOOL_LABEL}, humanize_percentage(1))] if fires else []})
    tests.append({
        "name": "a client calling a nonexistent tool once a minute does not page",
        "interval": "1m", "input_series": series, "alert_rule_test": checks,
        "promql_expr_test": [{
            "expr": f'{SERVER_ERROR_RATIO}{{tool="{semconv.UNKNOWN_TOOL_LABEL}"}}', "eval_time": "30m",
            "exp_samples": [{"labels": f'{SERVER_ERROR_RATIO}{{job="{job}", tool="{semconv.UNKNOWN_TOOL_LABEL}"}}',
                             "value": 0}],
        }],
    })
    # Invalid arguments to a real tool, often enough to cross the client threshold: info only.
    per_min = 60 * max(1, math.ceil(2 * a.min_call_rate))
    bad = min(per_min, math.floor(a.client_error_ratio * per_min) + 1)
    series = [call_series("get_forecast", "ok", "", per_min - bad),
              call_series("get_forecast", "error", semconv.ERROR_VALIDATION, bad)]
    exp = [] if bad / per_min <= a.client_error_ratio else [
        _expect(client, {"job": job, "tool": "get_forecast"}, humanize_percentage(bad / per_min))]
    tests.append({
        "name": "invalid arguments raise MCPToolClientErrors only",
        "interval": "1m", "input_series": series,
        "alert_rule_test": [{"eval_time": "25m", "alertname": client.name, "exp_alerts": exp},
                            {"eval_time": "25m", "alertname": server.name, "exp_alerts": []}],
    })
    return tests


def _burn_tests(policy: Policy, by_name: dict[str, Alert], base: dict[str, str], instance: str) -> list[dict[str, Any]]:
    slo = policy.slo
    period_h = slo.period_days * 24
    tests = []
    total = 1_000_000  # calls per minute: fine enough to hit any ratio between the thresholds
    for kind, objective in (("availability", slo.availability), ("latency", slo.latency_target)):
        budget = 1 - objective
        page = [s * period_h / (lw / 3600) for s, lw, _ in PAGE_WINDOWS]
        ticket = [s * period_h / (lw / 3600) for s, lw, _ in TICKET_WINDOWS]
        title = kind.capitalize()
        fast, slow = by_name[f"MCP{title}BudgetBurnFast"], by_name[f"MCP{title}BudgetBurnSlow"]
        page_factor, ticket_factor = min(page), min(ticket)
        scenarios = [
            ("fast burn", max(page) * 1.05, True, True),           # above every page threshold
            ("slow burn", (max(ticket) + min(page)) / 2, False, True),  # tickets, does not page
            ("healthy", min(ticket) / 2, False, False),
        ]
        for label, factor, pages, tickets in scenarios:
            bad = math.ceil(factor * budget * total)
            ratio = bad / total
            if ratio > 1 or (pages and ratio <= page_factor * budget) or (tickets and ratio <= ticket_factor * budget):
                continue
            if (not tickets and ratio > ticket_factor * budget) or (not pages and ratio > page_factor * budget):
                continue
            if kind == "availability":
                client = total // 10  # client-caused errors: never part of the budget
                bad_type = sorted(slo.availability_error_types)[0]
                client_type = next(t for t in (semconv.ERROR_VALIDATION, semconv.ERROR_UNKNOWN_TOOL, semconv.ERROR_TOOL,
                                               semconv.ERROR_CANCELLED) if t not in slo.availability_error_types)
                series = [
                    _series(semconv.TOOL_CALLS_TOTAL, {**base, "instance": instance, "tool": "get_forecast",
                                                       "status": "ok"}, f"0+{total - bad - client}x40"),
                    _series(semconv.TOOL_CALLS_TOTAL, {**base, "instance": instance, "tool": "get_forecast",
                                                       "status": "error", "error_type": bad_type}, f"0+{bad}x40"),
                    _series(semconv.TOOL_CALLS_TOTAL, {**base, "instance": instance, "tool": "get_forecast",
                                                       "status": "error", "error_type": client_type},
                            f"0+{client}x40"),
                ]
            else:
                le = semconv.bucket_label(slo.latency_threshold_s)
                series = [
                    _series(semconv.TOOL_DURATION_SECONDS + "_bucket",
                            {**base, "instance": instance, "tool": "get_forecast", "status": "ok", "le": le},
                            f"0+{total - bad}x40"),
                    _series(semconv.TOOL_DURATION_SECONDS + "_count",
                            {**base, "instance": instance, "tool": "get_forecast", "status": "ok"}, f"0+{total}x40"),
                ]
            checks: list[dict[str, Any]] = []
            for alert, fires in ((fast, pages), (slow, tickets)):
                checks.append({"eval_time": "30m", "alertname": alert.name, "exp_alerts": [
                    _expect(alert, {"job": base["job"]}, humanize_percentage(ratio))] if fires else []})
            period = period_availability_record(policy) if kind == "availability" else period_latency_record(policy)
            tests.append({"name": f"{title} SLO, {label}: {humanize_percentage(ratio)} bad calls",
                          "interval": "1m", "input_series": series, "alert_rule_test": checks,
                          # The period's figure, from the recorded 5-minute rates: bad calls per million.
                          "promql_expr_test": [{"expr": f"round({period} * {total})", "eval_time": "30m",
                                                "exp_samples": [{"labels": f'{{job="{base["job"]}"}}', "value": bad}]}]})
    return tests


# --- rendering ----------------------------------------------------------------------------------


def rule_groups(rules: RuleSet) -> tuple[dict[str, Any], dict[str, Any]]:
    recording = {"groups": [{"name": "mcp-comply.recording", "rules": [
        {"record": r.record, "expr": r.expr} for r in rules.recording]}]}
    alerting = {"groups": [{"name": "mcp-comply.alerts", "rules": [a.rule() for a in rules.alerts]}]}
    return recording, alerting


def test_file(rules: RuleSet) -> dict[str, Any]:
    return {"rule_files": [RECORDING_FILE, ALERTS_FILE], "evaluation_interval": "1m", "tests": list(rules.tests)}


def runbook(rules: RuleSet, policy: Policy) -> str:
    lines = [
        "# mcp-comply alert runbook",
        "",
        f"Generated by `mcp-comply generate` from policy `{policy.name}`; one section per alert in "
        f"`{ALERTS_FILE}`. Queries use the dashboards' `$job` and `$tool` variables: replace them "
        "when pasting into Prometheus.",
        "",
        "| alert | severity | for |",
        "|---|---|---|",
    ]
    for alert in rules.alerts:
        lines.append(f"| [{alert.name}](#{alert.name.lower()}) | {alert.severity} | {alert.for_ or '0m'} |")
    for alert in rules.alerts:
        lines += ["", f"## {alert.name}", "", f"**Severity:** {alert.severity}. **Summary:** {alert.summary}", "",
                  "```promql", alert.expr, "```", "",
                  f"**Meaning.** {alert.meaning}", "", f"**Impact.** {alert.impact}", "", "**Diagnosis.**", ""]
        for what, query in alert.diagnosis:
            lines.append(f"- {what}: `{query}`")
        lines += ["", "**Mitigation.**", ""]
        lines += [f"- {step}" for step in alert.mitigation]
    return "\n".join(lines) + "\n"
