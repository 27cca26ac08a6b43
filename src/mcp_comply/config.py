"""Policy and runtime settings: pydantic models (extra="forbid") and loaders whose every error
names the file, the path inside it and the reason."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mcp_comply import semconv
from mcp_comply.exceptions import ConfigError, Problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_M = TypeVar("_M", bound=BaseModel)


class MetricsPolicy(_Strict):
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=0, le=65535)
    tool_buckets: tuple[float, ...] | None = None
    """Bucket bounds (seconds) of ``mcp_tool_duration_seconds``; must include ``slo.latency_threshold_s``.
    Default: derived from the SLO and p95 alert thresholds (:attr:`Policy.tool_duration_buckets`)."""
    semconv_tool_label: bool = False
    """Give ``mcp_server_operation_duration_seconds`` the ``gen_ai_tool_name`` label (one series per tool
    and error type, as the semantic conventions ask); by default it is per method only, because
    ``mcp_tool_duration_seconds`` already has the per-tool latency."""

    @field_validator("tool_buckets")
    @classmethod
    def _increasing(cls, value: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if value is None:
            return value
        if not value or len(value) > semconv.MAX_BUCKETS:
            raise ValueError(f"must list 1 to {semconv.MAX_BUCKETS} bucket bounds")
        if any(not 0 < b < float("inf") for b in value) or any(a >= b for a, b in pairwise(value)):
            raise ValueError("bucket bounds must be positive, finite and strictly increasing")
        return value


class TracingPolicy(_Strict):
    enabled: bool = True
    """False leaves spans alone entirely (metrics and audit still run)."""
    auto_configure: bool = True
    """Install the OTel SDK with OTLP export when the app has none and OTEL_* variables ask for it."""
    client_errors_as_span_errors: bool = True
    """False: caller-caused JSON-RPC errors (-32700, -32600, -32601, -32602, -32002) do not make a
    server span ERROR, on the framework's span or ours (the status stays UNSET, never OK). True
    (default) leaves the framework's status as the framework sets it."""


_ORIGIN = re.compile(r"[!-*,-~]{1,255}")  # printable ASCII but space and "+"


class AuditPolicy(_Strict):
    """The audit trail (contract 4). ``instrument(audit_dir=...)`` or ``directory`` turns it on."""

    directory: str | None = None
    checkpoint_dir: str | None = None
    """Where signed checkpoints go; ship this folder off-host. Default ``<directory>/checkpoints``."""
    origin: str | None = None
    """The log's name in its signed checkpoints (C2SP: a schema-less URL, e.g.
    ``audit.example.org/payments-mcp``; printable ASCII without spaces or ``+``); ``/<chain>`` is
    appended. Default ``mcp-comply/<host name>``."""
    fsync: Literal["always", "batch", "never"] = "batch"
    batch_window_ms: float = Field(default=10.0, gt=0, le=1000)
    on_failure: Literal["fail-open", "fail-closed"] = "fail-open"
    capture: Literal["none", "digest", "redacted", "full"] = "redacted"
    pii: bool = False
    """Also redact e-mail addresses and phone numbers."""
    deny_keys: tuple[str, ...] = ()
    """Extra argument-name patterns (regular expressions) whose values are always redacted."""
    max_string: int = Field(default=4096, ge=64)
    checkpoint_every: int = Field(default=1000, ge=1)
    checkpoint_interval_s: float = Field(default=5.0, gt=0, le=3600)
    """Seconds between signed checkpoints while records arrive (an idle chain is already signed)."""
    max_segment_mb: float = Field(default=64.0, gt=0)
    max_segment_age_h: float = Field(default=24.0, gt=0)
    retention_days: int = Field(default=184, ge=1)
    """EU AI Act Art. 19/26(6): keep logs at least six months (184 days: the longest six calendar months)."""
    signing_key: str | None = None
    """Ed25519 private key (``mcp-comply audit keygen``); or ``$MCP_COMPLY_AUDIT_SIGNING_KEY``."""
    redaction_key: str | None = None
    """File with the HMAC key for redaction digests; default ``<directory>/.redaction.key`` (0600)."""
    queue_max: int = Field(default=65536, ge=16)

    @field_validator("origin")
    @classmethod
    def _c2sp_origin(cls, value: str | None) -> str | None:
        if value is not None and not _ORIGIN.fullmatch(value):
            raise ValueError("must be 1 to 255 printable ASCII characters without spaces or '+' "
                             "(a C2SP log origin, e.g. audit.example.org/payments-mcp)")
        return value


_DURATION = r"^[1-9][0-9]*[smhd]$"
# One Prometheus label matcher (name op "value") and a comma-separated list of them.
_MATCHER = r'\s*[A-Za-z_][A-Za-z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*'
_SELECTOR = rf"^(?:{_MATCHER}(?:,{_MATCHER})*)?$"


class SLOPolicy(_Strict):
    """Service-level objectives over tool calls; the burn-rate alerts and dashboard panels use them."""

    period_days: int = Field(default=30, ge=1, le=366)
    availability: float = Field(default=0.999, gt=0, lt=1)
    """Target fraction of tool calls that do not fail for a server-side reason."""
    availability_error_types: tuple[str, ...] = (semconv.ERROR_EXCEPTION, semconv.ERROR_PROTOCOL)
    """Which ``error_type`` values spend the availability budget (client mistakes do not, by default)."""
    latency_threshold_s: float = Field(default=1.0, gt=0, lt=86400)
    """A tool call slower than this spends the latency budget; always a bucket bound of the tool
    histogram (the default bounds are derived from it)."""
    latency_target: float = Field(default=0.99, gt=0, lt=1)
    """Target fraction of tool calls faster than ``latency_threshold_s``."""

    @field_validator("availability_error_types")
    @classmethod
    def _known_error_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(semconv.ERROR_TYPES))
        if unknown or not value:
            raise ValueError(f"must be a non-empty list of {', '.join(semconv.ERROR_TYPES)}; "
                             f"unknown: {', '.join(unknown) or '(empty list)'}")
        return value


class AlertsPolicy(_Strict):
    """Thresholds and windows of the generated alert rules."""

    selector: str = ""
    """Extra label matchers put on every metric in rules, e.g. ``job="weather"``; empty: all targets."""
    error_ratio: float = Field(default=0.05, gt=0, le=1)
    """MCPToolHighErrorRate: fraction of a tool's calls that fail for a reason on the server's side (every
    error type but the client-caused ``unknown_tool`` and ``validation_error``)."""
    client_error_ratio: float = Field(default=0.25, gt=0, le=1)
    """MCPToolClientErrors (severity info, never pages): fraction of a tool's calls rejected as the
    client's mistake (``unknown_tool``, ``validation_error``)."""
    error_ratio_for: str = Field(default="5m", pattern=_DURATION)
    min_call_rate: float = Field(default=0.01, ge=0)
    """Calls per second below which a tool's error ratio is not alerted on (too little traffic)."""
    p95_latency_s: float = Field(default=2.5, gt=0)
    latency_for: str = Field(default="10m", pattern=_DURATION)
    crash_restarts: int = Field(default=3, ge=1)
    """MCPServerCrashLooping: this many restarts of one target within 15 minutes."""
    target_down_for: str = Field(default="5m", pattern=_DURATION)
    checkpoint_stale_s: float | None = Field(default=None, gt=0)
    """MCPAuditCheckpointStale: records newer than the last checkpoint for this long; default
    3 x ``audit.checkpoint_interval_s``, at least 300 s."""
    queue_saturation: float = Field(default=0.8, gt=0, le=1)
    """MCPAuditQueueSaturated: fraction of ``audit.queue_max`` held in the queue."""
    runbook_url: str = "https://github.com/mcp-comply/mcp-comply/blob/main/alerts/runbook.md"
    """Where the generated ``runbook.md`` is published; each alert links to its section."""

    @field_validator("selector")
    @classmethod
    def _is_selector(cls, value: str) -> str:
        if not re.fullmatch(_SELECTOR, value):
            raise ValueError('must be Prometheus label matchers such as job="weather", env=~"prod.*"; '
                             f"got {value!r}")
        return value.strip()


CONTROLS: tuple[str, ...] = (
    "instrumentation", "audit-signing", "audit-chain", "retention", "sbom", "provenance", "monitoring",
    "ai-act-docs", "ai-act-data", "strict-schemas", "http-auth",
)


class AIActPolicy(_Strict):
    regulatory_data: str | None = None
    """A newer copy of the regulatory data file (dates, article names); default: the one shipped."""
    apply_amendments: tuple[str, ...] = ()
    """Ids of amendments in that file that are not in force yet (proposed, awaiting publication) whose
    dates to use; amendments in force are part of the dates already."""


class CheckPolicy(_Strict):
    """What ``mcp-comply check`` requires; controls not listed are reported but do not fail the gate."""

    required: tuple[str, ...] = ("instrumentation", "audit-signing", "retention", "sbom", "monitoring", "ai-act-docs")
    min_retention_days: int = Field(default=184, ge=1)
    max_unfilled_markers: int | None = Field(default=None, ge=0)
    """``ai-act-docs`` fails above this many unfilled markers; None: only report the count."""
    min_sbom_hash_coverage: float | None = Field(default=None, ge=0, le=1)
    """``sbom`` fails when a smaller share of the third-party components carries an artefact hash;
    None: only report the share."""
    max_regulatory_data_age_months: int = Field(default=6, ge=1)
    """``ai-act-data`` fails when the EU AI Act data file is older than this many calendar months."""

    @field_validator("required")
    @classmethod
    def _known_controls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(CONTROLS))
        if unknown:
            raise ValueError(f"unknown control(s) {', '.join(unknown)}; controls: {', '.join(CONTROLS)}")
        return value


class Policy(_Strict):
    """A policy file (``policies/*.yaml``). Sections grow with the features that read them."""

    version: Literal[1] = 1
    name: str = "default"
    metrics: MetricsPolicy = MetricsPolicy()
    tracing: TracingPolicy = TracingPolicy()
    audit: AuditPolicy = AuditPolicy()
    slo: SLOPolicy = SLOPolicy()
    alerts: AlertsPolicy = AlertsPolicy()
    ai_act: AIActPolicy = AIActPolicy()
    check: CheckPolicy = CheckPolicy()

    @model_validator(mode="after")
    def _threshold_is_a_bound(self) -> Policy:
        bounds = self.metrics.tool_buckets
        if bounds is not None and self.slo.latency_threshold_s not in bounds:
            raise ValueError(f"metrics.tool_buckets must include slo.latency_threshold_s "
                             f"({self.slo.latency_threshold_s:g}); got {', '.join(f'{b:g}' for b in bounds)}")
        return self

    @property
    def tool_duration_buckets(self) -> tuple[float, ...]:
        """The bounds of ``mcp_tool_duration_seconds`` this policy gives: ``metrics.tool_buckets``, or
        :data:`semconv.TOOL_BUCKET_FACTORS` times the SLO threshold plus the p95 alert threshold."""
        if self.metrics.tool_buckets is not None:
            return self.metrics.tool_buckets
        return semconv.tool_duration_buckets(self.slo.latency_threshold_s, self.alerts.p95_latency_s)


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validate(model: type[_M], data: object, source: str) -> _M:
    """Validate a mapping (an empty file counts as an empty mapping); every error of the run becomes
    one :class:`Problem` of a single ConfigError naming source, path and reason."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping at the top level, found {type(data).__name__}", source=source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(error["msg"].removeprefix("Value error, "), source, _location(tuple(error["loc"])))
                    for error in exc.errors()]
        first = problems[0]
        raise ConfigError(first.reason, source=source, path=first.path, problems=problems) from None


YAML_MAX_DEPTH = 100
"""How deeply collections may nest in a config or policy file (the parser recurses per level)."""


class _StrictLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error (YAML would keep the last one
    silently: a second ``audit:`` section would replace the first), and nesting is bounded (the
    composer recurses once per level; 100 levels is far beyond any policy)."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]  # the stubs leave it untyped
                raise yaml.composer.ComposerError(None, None, f"nested more than {YAML_MAX_DEPTH} levels deep",
                                                  event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[str, str], int] = {}
        for key, _ in node.value:
            # merge keys (<<) bring defaults that explicit keys may override: not duplicates
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                first = seen.get((key.tag, key.value))
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key.value!r} (first at line {first})", key.start_mark)
                seen[(key.tag, key.value)] = key.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_text(path: Path, what: str) -> str:
    """The file's text; ConfigError when it cannot be read, is not a regular file (a FIFO would
    block, a device never end) or is not UTF-8. The check is made on the open file, so a FIFO put in
    its place after an earlier look is refused too."""
    from mcp_comply._files import NotRegularFile, open_regular

    try:
        with open_regular(path) as fh:
            data = fh.read()
    except NotRegularFile as exc:
        raise ConfigError(f"cannot read {what}: not a regular file ({exc.kind})", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read {what}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start})", source=str(path)) from None


def read_yaml(path: Path, what: str) -> object:
    """Parse a YAML file; ConfigError names the file (and line and column for syntax errors)."""
    text = read_text(path, what)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", source=str(path), path=where) from None


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse a TOML file; ConfigError names the file and the reason."""
    import tomllib

    try:
        return tomllib.loads(read_text(path, what))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None


def parse_policy(data: object, source: str) -> Policy:
    return _validate(Policy, data, source)


POLICY_NAMES: tuple[str, ...] = ("default", "strict")
"""The policies shipped with mcp-comply (``policies/<name>.yaml``), usable by name."""


def named_policy(name: str) -> Path:
    """The file of a shipped policy: inside the installed package, else the source tree's policies/."""
    if name not in POLICY_NAMES:
        raise ConfigError(f"no shipped policy {name!r}; shipped: {', '.join(POLICY_NAMES)} (or give a file)",
                          source="policy")
    from importlib import resources

    packaged = resources.files("mcp_comply").joinpath(f"policies/{name}.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "policies" / f"{name}.yaml"


def policy_path(value: str | os.PathLike[str]) -> Path:
    """A policy argument as a file: a shipped policy's name (``"strict"``) when no file of that name
    exists, else the path itself."""
    path = Path(value)
    if not path.exists() and os.fspath(value) in POLICY_NAMES:
        return named_policy(os.fspath(value))
    return path


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file, or a shipped policy by name (``"default"``, ``"strict"``);
    ConfigError names file, path and reason of every problem."""
    file = policy_path(path)
    return parse_policy(read_yaml(file, "policy file"), os.fspath(file))


def metrics_port_from_env(env: Mapping[str, str]) -> int | None:
    raw = env.get(semconv.ENV_METRICS_PORT)
    if raw is None or raw.strip() == "":
        return None
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"not a port number: {raw!r}", source=f"${semconv.ENV_METRICS_PORT}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port out of range 0-65535: {port}", source=f"${semconv.ENV_METRICS_PORT}")
    return port


class SbomConfig(_Strict):
    """Where the SBOM's components and hashes come from (``generate --only sbom``)."""

    source: Literal["environment", "pip-report", "lock"] = "environment"
    """``environment``: the installed distributions; ``pip-report``: a ``pip install --report`` file;
    ``lock``: ``uv.lock``, ``pylock.toml`` or a hash-pinned requirements file."""
    file: str | None = None
    """The report or lock file for those sources (relative to the project root)."""
    hashes_from: tuple[str, ...] = ()
    """More pip reports or lock files whose artefact hashes are added to matching components."""
    scope: Literal["runtime", "all"] = "runtime"
    """``runtime``: the project's dependencies and their closure; ``all``: everything in the source."""
    format: Literal["json", "xml"] = "json"
    extras: tuple[str, ...] | None = None
    """Extras of the project (``[project.optional-dependencies]``) installed with it, whose
    requirements are dependencies of the root, in either scope; ``[]`` for none. Default (null):
    none with scope ``runtime``; with ``all``, those the pip report says were requested, else in an
    installed environment each extra whose requirements are all installed."""


class RiskAnswers(_Strict):
    """The risk-classification questionnaire; ``null`` means not answered yet (a marker in the docs)."""

    ai_system: Literal["ai-system", "component", "neither"] | None = None
    """Art. 3(1): is the server an AI system itself, a component of one, or neither (then the Act's
    duties for AI systems do not reach it)?"""
    prohibited_practice: bool | None = None
    """Does the AI system that uses this server engage in a practice Art. 5 prohibits?"""
    annex_iii_areas: tuple[str, ...] | None = None
    """Annex III areas the system is used in (keys of the regulatory data file); [] for none."""
    annex_i_safety_component: bool | None = None
    """Is it a safety component of a product under Annex I legislation (or such a product)?"""
    gpai_model_provided: bool | None = None
    """Do you provide a general-purpose AI model (not only use one)?"""
    interacts_with_people: bool | None = None
    """Art. 50(1): do people interact with the system directly?"""
    generates_synthetic_content: bool | None = None
    """Art. 50(2): does it generate synthetic audio, image, video or text?"""
    emotion_or_biometric_categorisation: bool | None = None
    """Art. 50(3): emotion recognition or biometric categorisation?"""


class AIActConfig(_Strict):
    role: Literal["provider", "deployer", "provider-and-deployer"] | None = None
    provider: str | None = None
    """Name and address of the provider (Annex IV 1(a), Art. 13(3)(a))."""
    contact: str | None = None
    human_oversight: str | None = None
    """How people oversee the system's use of the tools (Art. 14)."""
    limitations: str | None = None
    """Known limitations and foreseeable misuse."""
    risk: RiskAnswers = RiskAnswers()


class ReleaseConfig(_Strict):
    """Inputs ``mcp-comply check`` verifies (command-line options override them)."""

    artifacts: tuple[str, ...] = ()
    """Globs of the built files the provenance must cover, e.g. ``dist/*``."""
    provenance_key: str | None = None
    """Public key the provenance must verify with (``provenance-signing.pub``)."""
    audit_dir: str | None = None
    """An audit directory whose chain must verify (e.g. one shipped from production)."""
    audit_key: str | None = None
    """Public key of the audit checkpoints (``audit-signing.pub``)."""


class ProjectConfig(_Strict):
    """The project's ``mcp-comply.yaml`` (or ``[tool.mcp-comply]`` in ``pyproject.toml``): what the
    release-pipeline commands (``generate``, ``check``) work on."""

    server: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    """Import path of the server object, ``module:attr`` (introspected in-process)."""
    service_name: str | None = None
    policy: str | None = None
    """Policy file, relative to the project root; default: the built-in default policy."""
    owners: tuple[str, ...] = ()
    intended_purpose: str | None = None
    out_dir: str = "."
    sbom: SbomConfig = SbomConfig()
    ai_act: AIActConfig = AIActConfig()
    release: ReleaseConfig = ReleaseConfig()


PROJECT_FILE = "mcp-comply.yaml"


class NoProjectConfigError(ConfigError):
    """The project has no configuration at all (as opposed to an invalid one)."""


def load_project(root: str | os.PathLike[str], filename: str | None = None) -> tuple[ProjectConfig, str]:
    """(config, the file it came from): ``filename`` when given (a YAML file, or a ``.toml`` file's
    ``[tool.mcp-comply]`` table), else ``mcp-comply.yaml`` first, then ``[tool.mcp-comply]``."""
    base = Path(root)
    yaml_path = base / (filename or PROJECT_FILE)
    use_yaml = yaml_path.is_file() if filename is None else not filename.endswith(".toml")
    if use_yaml:
        source = str(yaml_path)
        data = read_yaml(yaml_path, "project configuration")
    else:
        pyproject = base / (filename or "pyproject.toml")
        source = f"{pyproject} [tool.mcp-comply]"
        data = read_toml(pyproject, "pyproject.toml").get("tool", {}).get("mcp-comply") if pyproject.is_file() else None
        if data is None:
            raise NoProjectConfigError(f"no {PROJECT_FILE} and no [tool.mcp-comply] table in {pyproject.name}",
                                       source=str(base))
    return _validate(ProjectConfig, data, source), source


def load_server(spec: str, root: str | os.PathLike[str] | None = None, *, source: str | None = None) -> object:
    """Import ``module:attr`` (from ``root`` first, when given) and return the server object.

    Any failure of the import (the module is missing, or raises while it runs) is a ConfigError
    naming ``source`` (the config file; default: the spec) at path ``server``."""
    import importlib
    import sys

    where = source or spec
    module_name, _, attr = spec.partition(":")
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        hint = _src_layout_hint(module_name, exc, root)
        raise ConfigError(f"cannot import {module_name!r}: {exc}{hint}", source=where, path="server") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's module failing at import is a config error
        raise ConfigError(f"importing {module_name!r} raised {type(exc).__name__}: {exc}", source=where,
                          path="server") from None
    value: object = module
    for part in attr.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise ConfigError(f"{module_name!r} has no attribute {attr!r}", source=where, path="server") from None
    return value


def _src_layout_hint(module_name: str, exc: ModuleNotFoundError, root: str | os.PathLike[str] | None) -> str:
    """When the missing module lives under ``<root>/src`` (a src-layout project that is not
    installed), say how to make it importable."""
    top = module_name.partition(".")[0]
    if root is None or (exc.name or top).partition(".")[0] != top:
        return ""
    src = Path(root) / "src"
    if (src / top).is_dir() or (src / f"{top}.py").is_file():
        return (f"; the project has a src layout ({src / top}) and is not installed: run `pip install -e .` in "
                f"{Path(root)} (or set PYTHONPATH={src})")
    return ""
