"""Every metric, label, span-attribute and outcome name mcp-comply emits, in one place.

Dashboards, alert rules and documentation are generated from these constants, and the runtime
uses nothing else: a name changes here or nowhere.
"""

from __future__ import annotations

from typing import Final

# --- Prometheus metric names (contract 2) -----------------------------------------------------
TOOL_CALLS_TOTAL: Final = "mcp_tool_calls_total"
TOOL_DURATION_SECONDS: Final = "mcp_tool_duration_seconds"
TOOL_CALLS_IN_FLIGHT: Final = "mcp_tool_calls_in_flight"
SERVER_OPERATION_DURATION_SECONDS: Final = "mcp_server_operation_duration_seconds"
AUDIT_RECORDS_TOTAL: Final = "mcp_audit_records_total"
AUDIT_WRITE_ERRORS_TOTAL: Final = "mcp_audit_write_errors_total"
AUDIT_QUEUE_DEPTH: Final = "mcp_audit_queue_depth"
AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS: Final = "mcp_audit_last_checkpoint_timestamp_seconds"
COMPLY_INFO: Final = "mcp_comply_info"
# The toolkit's own failures (never the application's), so "never break the host" is observable.
COMPLY_INTERNAL_ERRORS_TOTAL: Final = "mcp_comply_internal_errors_total"

METRIC_NAMES: Final[tuple[str, ...]] = (
    TOOL_CALLS_TOTAL,
    TOOL_DURATION_SECONDS,
    TOOL_CALLS_IN_FLIGHT,
    SERVER_OPERATION_DURATION_SECONDS,
    AUDIT_RECORDS_TOTAL,
    AUDIT_WRITE_ERRORS_TOTAL,
    AUDIT_QUEUE_DEPTH,
    AUDIT_LAST_CHECKPOINT_TIMESTAMP_SECONDS,
    COMPLY_INFO,
    COMPLY_INTERNAL_ERRORS_TOTAL,
)

# Series the generated rules and dashboards use that mcp-comply does not define: Prometheus
# records `up` for every scrape, and prometheus-client's default registry (the one instrument()
# uses unless given another) exports the process start time.
UP: Final = "up"
PROCESS_START_TIME_SECONDS: Final = "process_start_time_seconds"
EXTERNAL_METRIC_NAMES: Final[tuple[str, ...]] = (UP, PROCESS_START_TIME_SECONDS)

# --- Prometheus label names -------------------------------------------------------------------
LABEL_TOOL: Final = "tool"
LABEL_STATUS: Final = "status"
LABEL_ERROR_TYPE: Final = "error_type"
LABEL_MCP_METHOD_NAME: Final = "mcp_method_name"
LABEL_GEN_AI_TOOL_NAME: Final = "gen_ai_tool_name"
LABEL_NETWORK_TRANSPORT: Final = "network_transport"
LABEL_VERSION: Final = "version"
LABEL_SERVER_NAME: Final = "server_name"
LABEL_COMPONENT: Final = "component"

# Values of `component` on mcp_comply_internal_errors_total; exported at 0 from the start so the
# first failure shows up in increase() and alerts.
COMPONENTS: Final[tuple[str, ...]] = ("catalog", "classify", "context", "metrics", "sink", "spans")

STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"

# Label value for any tool name the server does not register, and any non-spec method name.
UNKNOWN_TOOL_LABEL: Final = "_unknown_"
OTHER_METHOD_LABEL: Final = "_other_"

# --- Outcomes (the `error_type` label and the audit record's `outcome`) ---------------------
OUTCOME_OK: Final = "ok"
ERROR_TOOL: Final = "tool_error"
ERROR_VALIDATION: Final = "validation_error"
ERROR_UNKNOWN_TOOL: Final = "unknown_tool"
ERROR_EXCEPTION: Final = "exception"
ERROR_CANCELLED: Final = "cancelled"
ERROR_PROTOCOL: Final = "protocol_error"
ERROR_TYPES: Final[tuple[str, ...]] = (
    ERROR_TOOL,
    ERROR_VALIDATION,
    ERROR_UNKNOWN_TOOL,
    ERROR_EXCEPTION,
    ERROR_CANCELLED,
    ERROR_PROTOCOL,
)

# --- Histogram buckets (seconds) ------------------------------------------------------------
# mcp_tool_duration_seconds has one series per tool and status, so its bucket count multiplies
# with the number of tools. Its bounds are derived from the policy (see tool_duration_buckets):
# this ladder times the SLO latency threshold, plus the p95 alert threshold, so every threshold a
# rule or a dashboard compares with is an exact bucket bound, and the resolution sits where
# decisions are made (a fiftieth of the threshold up to five times it).
TOOL_BUCKET_FACTORS: Final[tuple[float, ...]] = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# The bounds of the default policy (SLO threshold 1 s, p95 alert 2.5 s).
TOOL_DURATION_BUCKETS: Final[tuple[float, ...]] = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
MAX_BUCKETS: Final = 30


def tool_duration_buckets(latency_threshold_s: float, p95_latency_s: float | None = None) -> tuple[float, ...]:
    """The ``mcp_tool_duration_seconds`` bounds for an SLO threshold (and a p95 alert threshold).

    Six significant digits, so ``0.3 * 0.1`` is the bound ``0.03`` that a policy author writes.
    """
    bounds = {float(f"{latency_threshold_s * factor:.6g}") for factor in TOOL_BUCKET_FACTORS}
    if p95_latency_s is not None:
        bounds.add(float(f"{p95_latency_s:.6g}"))
    return tuple(sorted(bounds))


def bucket_label(bound: float) -> str:
    """The ``le`` label value of a histogram bucket, spelled as the runtime exports it (``1.0``, ``+Inf``).

    Go's spelling, which is prometheus-client's ``floatToGoString`` for the positive bounds a histogram
    has (a test proves they agree; before prometheus-client 0.26 that wrote bounds from 1e10 s up as
    ``1e+010``), written out so that the release pipeline need not import prometheus-client.
    """
    bound = float(bound)
    if bound == float("inf"):
        return "+Inf"
    text = repr(bound)
    dot = text.find(".")
    if bound > 0 and dot > 6:  # Go switches to exponents sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


# The MCP semantic conventions' recommended boundaries for mcp.server.operation.duration. Kept
# whole: by default this histogram has no per-tool label, so it has one series per method, error
# type and transport (tens, whatever the number of tools), and the recommended boundaries keep it
# comparable with every other semconv MCP instrumentation. `metrics.semconv_tool_label` in the
# policy adds gen_ai.tool.name (one series per tool and error type).
SEMCONV_OPERATION_BUCKETS: Final[tuple[float, ...]] = (
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)

# --- JSON-RPC codes ---------------------------------------------------------------------------
PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
RESOURCE_NOT_FOUND: Final = -32002
# Server-side, these are the caller's fault and not server span errors (semconv-genai PR #404).
CLIENT_CAUSED_CODES: Final = frozenset({PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS,
                                        RESOURCE_NOT_FOUND})

# --- MCP method names that may appear as a metric label ---------------------------------------
SPEC_METHODS: Final = frozenset({
    "completion/complete", "elicitation/create", "initialize", "logging/setLevel", "ping",
    "prompts/get", "prompts/list", "resources/list", "resources/read", "resources/subscribe",
    "resources/templates/list", "resources/unsubscribe", "roots/list", "sampling/createMessage",
    "tools/call", "tools/list", "server/discover", "subscriptions/listen",
    "tasks/get", "tasks/list", "tasks/cancel", "tasks/result",
})
METHOD_TOOLS_CALL: Final = "tools/call"
METHOD_TOOLS_LIST: Final = "tools/list"
METHOD_PROMPTS_GET: Final = "prompts/get"
METHOD_RESOURCES_READ: Final = "resources/read"
METHOD_INITIALIZE: Final = "initialize"

# --- Span attributes (OpenTelemetry MCP semantic conventions) ---------------------------------
ATTR_MCP_METHOD_NAME: Final = "mcp.method.name"
ATTR_MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
ATTR_MCP_SESSION_ID: Final = "mcp.session.id"
ATTR_MCP_RESOURCE_URI: Final = "mcp.resource.uri"
ATTR_JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"
ATTR_RPC_RESPONSE_STATUS_CODE: Final = "rpc.response.status_code"
ATTR_ERROR_TYPE: Final = "error.type"
ATTR_GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
ATTR_GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
ATTR_GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
ATTR_NETWORK_TRANSPORT: Final = "network.transport"
ATTR_NETWORK_PROTOCOL_NAME: Final = "network.protocol.name"
ATTR_CLIENT_ADDRESS: Final = "client.address"
ATTR_CLIENT_PORT: Final = "client.port"
ATTR_ENDUSER_ID: Final = "enduser.id"
ATTR_GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
# Not semconv: the finer mcp-comply outcome, for joining spans with metrics and audit records.
ATTR_COMPLY_OUTCOME: Final = "mcp_comply.outcome"

GEN_AI_OPERATION_EXECUTE_TOOL: Final = "execute_tool"
TRANSPORT_PIPE: Final = "pipe"
TRANSPORT_TCP: Final = "tcp"

TRACER_NAME: Final = "mcp_comply"
LOGGER_NAME: Final = "mcp_comply"

# --- Environment variables (contract 1) -------------------------------------------------------
ENV_POLICY: Final = "MCP_COMPLY_POLICY"
ENV_AUDIT_DIR: Final = "MCP_COMPLY_AUDIT_DIR"
ENV_METRICS_PORT: Final = "MCP_COMPLY_METRICS_PORT"
ENV_METRICS_HOST: Final = "MCP_COMPLY_METRICS_HOST"
