"""EU AI Act documentation stubs, pre-filled from what the toolkit knows for certain.

Sources: ``pyproject.toml``; the project config (owners, intended purpose, the risk questionnaire);
the server's tools, resources and prompts (introspected through the SDK's client); the SBOM and
provenance when they exist; the audit policy; the generated metrics, dashboards, alerts and SLOs.
Everything else is a marker a person must replace: ``[FILL <id>: <what to write>]``. Nothing is
invented. Article names and dates come from a versioned data file, never from this code.

Not legal advice: an MCP server is usually a component of an AI system; which duties apply depends
on that system, its use and the provider's and deployer's roles.
"""

from __future__ import annotations

import base64
import calendar
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from mcp_comply import semconv
from mcp_comply.config import Policy, ProjectConfig, read_yaml
from mcp_comply.exceptions import ConfigError
from mcp_comply.generate.introspect import Capability, ServerSurface
from mcp_comply.generate.sbom import RootProject

MARKER = re.compile(r"\[FILL ([a-z0-9][a-z0-9.\-]*): ([^\]]+)\]")
FILES = ("README.md", "annex-iv-technical-documentation.md", "art-12-record-keeping.md",
         "art-13-instructions-for-use.md", "art-50-transparency-notice.md", "risk-classification.md")
ANNEX_IV_SECTIONS = (
    "1. General description of the AI system",
    "2. Elements of the AI system and its development process",
    "3. Monitoring, functioning and control",
    "4. Appropriateness of the performance metrics",
    "5. Risk management system",
    "6. Relevant changes over the lifecycle",
    "7. Harmonised standards and other solutions applied",
    "8. EU declaration of conformity",
    "9. Post-market monitoring system and plan",
)


def fill(marker_id: str, what: str) -> str:
    return f"[FILL {marker_id}: {what}]"


def count_markers(text: str) -> int:
    return len(MARKER.findall(text))


def markers_in(folder: Path) -> dict[str, int]:
    return {p.name: count_markers(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))}


STATUSES = ("in force", "adopted, awaiting publication", "proposed", "superseded")
CONFIRMATIONS = ("official", "secondary")


def load_regulatory_data(policy: Policy, root: Path) -> dict[str, Any]:
    if policy.ai_act.regulatory_data:
        path, source = root / policy.ai_act.regulatory_data, str(root / policy.ai_act.regulatory_data)
    else:
        path = Path(str(resources.files("mcp_comply.generate").joinpath("data/eu-ai-act.yaml")))
        source = "mcp_comply/generate/data/eu-ai-act.yaml"
    data = read_yaml(path, "regulatory data file")
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", source=source)
    for key in ("version", "regulation", "articles", "dates", "log_retention_min_days", "log_retention_min_months",
                "annex_iii_areas", "sources"):
        if key not in data:
            raise ConfigError(f"missing {key!r}", source=source, path=key)
    try:
        date.fromisoformat(str(data["version"]))
    except ValueError:
        raise ConfigError(f"not a date (YYYY-MM-DD): {data['version']!r}", source=source, path="version") from None
    _check_entries(data, source)
    known = {a["id"] for a in data.get("amendments", [])}
    unknown = sorted(set(policy.ai_act.apply_amendments) - known)
    if unknown:
        raise ConfigError(f"unknown amendment(s) {', '.join(unknown)}; the data file has {', '.join(sorted(known))}",
                          source="policy", path="ai_act.apply_amendments")
    data["_source"] = source
    return dict(data)


def _check_entries(data: dict[str, Any], source: str) -> None:
    """Every dated fact names its status, how it was confirmed, its legal source and known sources."""
    sources = {s.get("id") for s in data["sources"]}
    for s in data["sources"]:
        if not s.get("url") or not s.get("retrieved"):
            raise ConfigError("every source needs a url and a retrieved date", source=source, path=f"sources.{s.get('id')}")
    amendments = {a["id"] for a in data.get("amendments", [])}
    entries = [("dates", e) for e in data["dates"]] + [("obligations", e) for e in data.get("obligations", [])]
    for section, entry in entries:
        where = f"{section}.{entry.get('id', '?')}"
        if entry.get("status") not in STATUSES:
            raise ConfigError(f"status must be one of {', '.join(STATUSES)}; got {entry.get('status')!r}",
                              source=source, path=where)
        if entry.get("confirmed") not in CONFIRMATIONS:
            raise ConfigError(f"confirmed must be one of {', '.join(CONFIRMATIONS)}", source=source, path=where)
        if not entry.get("legal_source"):
            raise ConfigError("missing legal_source", source=source, path=where)
        missing = [s for s in entry.get("sources", []) if s not in sources]
        if not entry.get("sources") or missing:
            raise ConfigError(f"needs sources from the sources list; unknown: {', '.join(missing) or '(none given)'}",
                              source=source, path=where)
        if entry["status"] == "superseded" and entry.get("superseded_by") not in amendments:
            raise ConfigError("a superseded entry names its amendment in superseded_by", source=source, path=where)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_in_days(months: int) -> tuple[int, int]:
    """The fewest and the most days ``months`` calendar months can last, over every start day of a
    four-year cycle (six months: 181, 31 August to 28 February, and 184, 1 July to 1 January)."""
    starts = [date(2024, 1, 1) + timedelta(days=d) for d in range(1461)]
    lengths = [(add_months(day, months) - day).days for day in starts]
    return min(lengths), max(lengths)


def data_version(reg: Mapping[str, Any]) -> date:
    return date.fromisoformat(str(reg["version"]))


def data_stale_after(reg: Mapping[str, Any], months: int = 6) -> date:
    """The first day the regulatory data counts as out of date."""
    return add_months(data_version(reg), months)


@dataclass(frozen=True)
class Evidence:
    """What the documents are filled from."""

    root: RootProject
    config: ProjectConfig
    policy: Policy
    surface: ServerSurface
    regulation: dict[str, Any]
    sbom: dict[str, Any] | None
    provenance: dict[str, Any] | None
    alerts: tuple[tuple[str, str, str], ...]  # name, severity, summary
    dashboards: tuple[str, ...]


def sbom_summary(text: str) -> dict[str, Any]:
    data = json.loads(text)
    comps = data.get("components", [])
    licences: set[str] = set()
    for c in comps:
        for lic in c.get("licenses", []):
            licences.add(lic.get("expression") or lic.get("license", {}).get("id") or
                         lic.get("license", {}).get("name", "?"))
    return {"spec": data.get("specVersion"), "components": len(comps),
            "hashed": sum(1 for c in comps if c.get("hashes")), "licensed": sum(1 for c in comps if c.get("licenses")),
            "licences": sorted(licences), "services": sum(len(s.get("services", [])) for s in data.get("services", []))}


def provenance_summary(envelope_text: str) -> dict[str, Any] | None:
    """Subjects and builder of a DSSE envelope (its signature is checked by verify-provenance)."""
    from pydantic import ValidationError

    from mcp_comply.generate.provenance import Envelope, Statement

    try:
        statement = Statement.model_validate_json(base64.b64decode(Envelope.model_validate_json(envelope_text).payload))
    except (ValidationError, ValueError):
        return None
    pred = statement.predicate
    return {"subjects": [(s.name, s.digest.sha256) for s in statement.subject],
            "builder": pred.runDetails.builder.id, "build_type": pred.buildDefinition.buildType}


# --- rendering helpers ------------------------------------------------------------------------


def _short(article: str) -> str:
    """``Art. 14 (human oversight)`` -> ``Art. 14``, for use inside parentheses."""
    return article.split(" (", 1)[0]


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _value(value: str | None, marker_id: str, what: str) -> str:
    return value if value else fill(marker_id, what)


def _yes_no(value: bool | None, marker_id: str, question: str) -> str:
    if value is None:
        return fill(marker_id, f"answer in mcp-comply config ai_act.risk: {question}")
    return "yes" if value else "no"


def _schema_block(cap: Capability) -> list[str]:
    if cap.schema is None:
        return []
    return ["", "<details><summary>Input schema (sha256 " + (cap.schema_digest or "") + ")</summary>", "",
            "```json", *json.dumps(cap.schema, indent=2, sort_keys=True).splitlines(), "```", "", "</details>"]


def _capabilities(surface: ServerSurface) -> list[str]:
    lines: list[str] = []
    for kind, title in (("tool", "Tools"), ("resource", "Resources"), ("resource-template", "Resource templates"),
                        ("prompt", "Prompts")):
        caps = surface.of(kind)
        lines += ["", f"#### {title} ({len(caps)})", ""]
        if not caps:
            lines.append(f"The server exposes no {title.lower()}.")
            continue
        for cap in caps:
            uri = f" (`{cap.uri}`)" if cap.uri else ""
            desc = cap.description.strip() or fill(f"capability.{cap.kind}.{_slug(cap.name)}",
                                                   "describe what this does; the server gives no description")
            lines.append(f"- **`{cap.name}`**{uri}: {desc}")
            lines += ["  " + line if line else "" for line in _schema_block(cap)]
    return lines


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def _header(ev: Evidence, title: str, article: str) -> list[str]:
    reg = ev.regulation["regulation"]
    return [
        f"# {title}",
        "",
        f"**{ev.root.name} {ev.root.version}** — {article}, {reg['id']} ({reg['short']}).",
        "",
        "> Generated by `mcp-comply generate --only ai-act` from the project and its evidence. Not legal advice. "
        "Replace every `[FILL ...]` marker; `mcp-comply check` counts the ones left. Regenerating overwrites this "
        "file: keep your answers in the mcp-comply config where a field exists for them.",
        "",
        f"> Law as of the regulatory data version {ev.regulation['version']} (`{ev.regulation['_source']}`); "
        "check EUR-Lex before relying on a date.",
        "",
    ]


def _audit_lines(ev: Evidence) -> list[str]:
    a = ev.policy.audit
    capture = {"none": "no arguments (only metadata)", "digest": "a keyed digest of the arguments and the result",
               "redacted": "redacted arguments plus a keyed digest of the arguments and the result",
               "full": "the arguments in full (after secret detection) plus digests"}[a.capture]
    signing = ("signed with an Ed25519 key (C2SP signed-note checkpoints)" if a.signing_key
               else "signed when a key is configured (`audit.signing_key` or `$MCP_COMPLY_AUDIT_SIGNING_KEY`); "
                    "this policy names none")
    return [
        f"- **What is logged**: one JSON Lines record per MCP request: time (RFC 3339, microseconds), method, tool, "
        "outcome and error type, duration, request id, session or correlation id, protocol version, transport, "
        "client name and version (as claimed by the client), authenticated principal when there is one, trace and "
        f"span ids, and {capture}.",
        f"- **Redaction**: before anything leaves the request path: schema hints, a key denylist"
        f"{' (' + ', '.join(a.deny_keys) + ')' if a.deny_keys else ''}, detectors for tokens, keys, JWTs and PEM "
        f"blocks{', e-mail addresses and phone numbers' if a.pii else ''}; strings capped at {a.max_string} "
        "characters; redacted values become an HMAC digest, so equal values stay searchable. Secrets never reach disk.",
        f"- **Integrity**: every record carries the SHA-256 of the previous record (a hash chain); checkpoints "
        f"every {a.checkpoint_every} records or {a.checkpoint_interval_s:g} s commit to an RFC 6962 Merkle root, "
        f"{signing}.",
        f"- **Durability**: `fsync: {a.fsync}`"
        + (f" (group commit within {a.batch_window_ms:g} ms)" if a.fsync == "batch" else "")
        + f"; on failure: `{a.on_failure}`"
        + (" (the tool call is refused when its record cannot be made durable)" if a.on_failure == "fail-closed"
           else " (the call is served and a `gap` record marks the loss)") + ".",
        f"- **Retention**: {a.retention_days} days (policy `audit.retention_days`); segments rotate at "
        f"{a.max_segment_mb:g} MB or {a.max_segment_age_h:g} h. {_retention_sentence(ev)}",
        f"- **Location**: {_value(a.directory, 'art12.location', 'where the audit directory lives in production')}"
        f"; checkpoints: {a.checkpoint_dir or 'the `checkpoints/` folder inside it (ship it off-host)'}.",
        "- **How to verify**: `mcp-comply audit verify AUDIT_DIR --key audit-signing.pub` names the file, line, seq "
        "and kind of every problem (modified, inserted, deleted, reordered, truncated, bad signature) and says what "
        "it could not check; `mcp-comply audit show AUDIT_DIR --tool NAME` reads records; `mcp-comply audit prove` "
        "gives inclusion proofs.",
    ]


def _retention_sentence(ev: Evidence) -> str:
    reg, days = ev.regulation, ev.policy.audit.retention_days
    months = int(reg["log_retention_min_months"])
    shortest, longest = months_in_days(months)
    law = (f"The Act asks for at least {months} months ({_short(reg['articles']['art19'])} and "
           f"{_short(reg['articles']['art26'])}), counted in calendar months, which last "
           f"{shortest} to {longest} days depending on the day a record is written")
    if days >= longest:
        return f"{law}: {days} days cover them whatever that day."
    return (f"{law}: {days} days can end before {months} calendar months have passed (a record of 1 July is "
            f"deleted before 1 January); keep at least {longest} days to meet the minimum for every record.")


def _monitoring_lines(ev: Evidence) -> list[str]:
    slo = ev.policy.slo
    lines = [
        f"- **Metrics** (Prometheus): {', '.join('`' + n + '`' for n in semconv.METRIC_NAMES)}.",
        f"- **Dashboards** (Grafana): {', '.join(ev.dashboards)}.",
        f"- **Service-level objectives**: availability {slo.availability * 100:g} % of tool calls without a "
        f"server-side error; {slo.latency_target * 100:g} % of tool calls faster than {slo.latency_threshold_s:g} s; "
        f"over {slo.period_days} days, with multi-window burn-rate alerts.",
        f"- **Alerts** ({len(ev.alerts)}, each with a runbook section):",
    ]
    lines += [f"  - `{name}` ({severity}): {summary}" for name, severity, summary in ev.alerts]
    return lines


def _supply_chain_lines(ev: Evidence) -> list[str]:
    lines = []
    if ev.sbom:
        s = ev.sbom
        lines.append(f"- **SBOM**: CycloneDX {s['spec']}, {s['components']} third-party components "
                     f"({s['hashed']} with artefact hashes, {s['licensed']} with licences), {s['services']} MCP "
                     f"capabilities as services. Licences: {', '.join(s['licences'][:25])}"
                     f"{' ...' if len(s['licences']) > 25 else ''}.")
    else:
        lines.append("- **SBOM**: " + fill("annex-iv.2h.sbom", "generate it: mcp-comply generate --only sbom"))
    if ev.provenance:
        p = ev.provenance
        subjects = ", ".join(f"`{n}` (sha256 {d[:16]}...)" for n, d in p["subjects"])
        lines.append(f"- **Build provenance**: SLSA v1, builder `{p['builder']}`, subjects {subjects}. Verify with "
                     "`mcp-comply verify-provenance`.")
    else:
        lines.append("- **Build provenance**: " + fill("annex-iv.2h.provenance",
                                                      "generate and sign it: mcp-comply generate --only provenance"))
    return lines


# --- the documents --------------------------------------------------------------------------------


def annex_iv(ev: Evidence) -> str:
    c, r, reg = ev.config, ev.root, ev.regulation
    art = reg["articles"]
    owners = ", ".join(c.owners) if c.owners else None
    lines = _header(ev, "Technical documentation", f"{_short(art['art11'])} and {art['annex_iv']}")
    lines += [
        f"Keep this documentation for {reg['documentation_retention_years']} years after the system is placed on "
        f"the market ({_short(art['art18'])}).",
        "",
        f"## {ANNEX_IV_SECTIONS[0]}",
        "",
        f"**(a) Intended purpose**: {_value(c.intended_purpose, 'annex-iv.1a.purpose', 'intended purpose (config intended_purpose)')}",
        "",
        f"**Provider**: {_value(c.ai_act.provider, 'annex-iv.1a.provider', 'name and address of the provider (config ai_act.provider)')}. "
        f"**Owners**: {_value(owners, 'annex-iv.1a.owners', 'responsible team (config owners)')}.",
        "",
        f"**Version**: {r.name} {r.version}. {r.description}",
        "",
        f"**Relation to earlier versions**: {fill('annex-iv.1a.versions', 'what changed since the previous version (see CHANGELOG)')}",
        "",
        f"**(b) Interaction with other software and AI systems**: the component is an MCP (Model Context Protocol) "
        f"server named `{ev.surface.name}`. AI agents (MCP clients, usually driven by a language model) call its "
        f"capabilities:",
        *_capabilities(ev.surface),
        "",
        f"**(c) Software versions and update requirements**: {r.name} {r.version}; third-party components in the SBOM "
        f"(section 2(h)). {fill('annex-iv.1c.updates', 'how updates are delivered and required')}",
        "",
        "**(d) Forms of placing on the market**: an MCP server reachable over stdio or streamable HTTP (an API for "
        f"AI agents). {fill('annex-iv.1d.distribution', 'package, container image, hosted endpoint?')}",
        "",
        f"**(e) Hardware**: {fill('annex-iv.1e.hardware', 'where it runs (CPU, memory, platform)')}",
        "",
        f"**(f) Product markings**: {fill('annex-iv.1f.markings', 'photos or markings, if the system is a product component; else not applicable')}",
        "",
        f"**(g) User interface for deployers**: {fill('annex-iv.1g.ui', 'how deployers configure and operate it')}",
        "",
        "**(h) Instructions for use**: see `art-13-instructions-for-use.md`.",
        "",
        f"## {ANNEX_IV_SECTIONS[1]}",
        "",
        "**(a) Methods, pre-trained systems and third-party tools**: the tools are listed in section 1(b); "
        "whether a tool calls a model or an external AI service is not visible to mcp-comply. "
        f"{fill('annex-iv.2a.models', 'for each tool, the models, pre-trained systems or external AI services it calls, or none')}",
        "",
        f"**(b) Design choices**: {fill('annex-iv.2b.design', 'key design choices, logic, trade-offs')}",
        "",
        f"**(c) Architecture**: MCP server with {len(ev.surface.of('tool'))} tools, instrumented with mcp-comply "
        f"(metrics, OpenTelemetry spans, tamper-evident audit log). {fill('annex-iv.2c.architecture', 'deployment architecture and compute resources')}",
        "",
        f"**(d) Data requirements**: {fill('annex-iv.2d.data', 'data the tools read or return; training data if any')}",
        "",
        f"**(e) Human oversight ({_short(art['art14'])})**: {_value(c.ai_act.human_oversight, 'annex-iv.2e.oversight', 'how people oversee tool use (config ai_act.human_oversight)')}",
        "",
        f"**(f) Pre-determined changes**: {fill('annex-iv.2f.changes', 'changes planned in advance, if any')}",
        "",
        f"**(g) Validation and testing**: {fill('annex-iv.2g.testing', 'test suites, metrics, dated and signed test logs')}",
        "",
        f"**(h) Cybersecurity measures ({_short(art['art15'])})**:",
        "",
        *_supply_chain_lines(ev),
        "- **Record-keeping**: tamper-evident audit log, see `art-12-record-keeping.md`.",
        "",
        f"## {ANNEX_IV_SECTIONS[2]}",
        "",
        f"**Capabilities and limitations in performance**: {_value(c.ai_act.limitations, 'annex-iv.3.limitations', 'known limitations and foreseeable misuse (config ai_act.limitations)')} "
        f"{fill('annex-iv.3.accuracy', 'degrees of accuracy for the persons or groups the system is used on, and the overall expected accuracy')}",
        "",
        f"**Foreseeable unintended outcomes and sources of risk** (to health, safety, fundamental rights, "
        f"discrimination): {fill('annex-iv.3.risks', 'foreseeable unintended outcomes and sources of risk in view of the intended purpose')}",
        "",
        f"**Human oversight measures ({_short(art['art14'])})**, including the technical measures that help deployers "
        f"interpret the outputs: {_value(c.ai_act.human_oversight, 'annex-iv.3.oversight', 'oversight measures (config ai_act.human_oversight)')} "
        f"{fill('annex-iv.3.interpretation', 'technical measures that help deployers interpret the outputs')}",
        "",
        "**Input specifications**: each tool's input schema (section 1(b)); arguments that fail it are rejected "
        "and counted as `validation_error`.",
        "",
        "**Monitoring and control**: every call is measured and logged (section 9, `art-12-record-keeping.md`).",
        "",
        f"## {ANNEX_IV_SECTIONS[3]}",
        "",
        f"The operational metrics below measure availability and latency per tool. "
        f"{fill('annex-iv.4.metrics', 'why these metrics are appropriate; accuracy metrics of the AI system if any')}",
        "",
        *_monitoring_lines(ev),
        "",
        f"## {ANNEX_IV_SECTIONS[4]}",
        "",
        f"{fill('annex-iv.5.risk', 'the risk management system (Art. 9): risks identified, measures, residual risks')} "
        "Indicative classification: `risk-classification.md`.",
        "",
        f"## {ANNEX_IV_SECTIONS[5]}",
        "",
        f"Version {r.version}. {_supply_chain_lines(ev)[1][2:]} {fill('annex-iv.6.changes', 'lifecycle changes (link the changelog)')}",
        "",
        f"## {ANNEX_IV_SECTIONS[6]}",
        "",
        f"{fill('annex-iv.7.standards', 'harmonised standards or common specifications applied, or other solutions')} "
        "Formats used: CycloneDX 1.6 (SBOM), SLSA v1 and in-toto (provenance), RFC 6962 and C2SP signed notes (audit "
        "checkpoints), OpenTelemetry semantic conventions for MCP (traces).",
        "",
        f"## {ANNEX_IV_SECTIONS[7]}",
        "",
        f"{fill('annex-iv.8.declaration', 'attach a copy of the EU declaration of conformity (Art. 47), if the system is high-risk')}",
        "",
        f"## {ANNEX_IV_SECTIONS[8]}",
        "",
        f"Post-market monitoring ({_short(art['art72'])}) uses the runtime evidence:",
        "",
        *_monitoring_lines(ev),
        f"- **Logs**: see `art-12-record-keeping.md`. {fill('annex-iv.9.plan', 'who reviews the dashboards and alerts, how often, and what triggers corrective action')}",
    ]
    return "\n".join(lines) + "\n"


def art12(ev: Evidence) -> str:
    art = ev.regulation["articles"]
    lines = _header(ev, "Record-keeping statement", art["art12"])
    lines += [
        "The system logs events automatically over its lifetime. Every MCP request to the server produces one "
        "audit record, written by mcp-comply's audit writer:",
        "",
        *_audit_lines(ev),
        "",
        "## What the records let you do (Art. 12(2))",
        "",
        "- (a) identify situations that may present a risk or lead to a substantial modification: every failed "
        "call keeps its error type and, for crashes, the scrubbed error text; refused calls are logged too.",
        "- (b) post-market monitoring (Art. 72): the records and the metrics feed the dashboards and alerts listed "
        "in the technical documentation, section 9.",
        "- (c) monitoring of the operation by deployers (Art. 26(5)): deployers read the records with "
        "`mcp-comply audit show` and verify them with `mcp-comply audit verify`.",
        "",
        "Metrics are aggregates and are not the Art. 12 logs; the audit records are.",
        "",
        f"**Art. 12(3)** (a minimum list of logged data for remote biometric identification systems, Annex III "
        f"point 1(a)): {_art12_3(ev)}",
        "",
        f"**Retention**: logs are kept for {ev.policy.audit.retention_days} days. "
        f"{fill('art12.retention-law', 'confirm that no other Union or national law (e.g. data protection) requires a different period')}",
        "",
        f"**Access**: {fill('art12.access', 'who may read the logs and how access is controlled')}",
    ]
    return "\n".join(lines) + "\n"


def _art12_3(ev: Evidence) -> str:
    areas = ev.config.ai_act.risk.annex_iii_areas
    if areas is None:
        return fill("art12.3", "applies only to remote biometric identification systems; answer ai_act.risk.annex_iii_areas")
    if "biometrics" in areas:
        return fill("art12.3", "if the system does remote biometric identification: period of each use, reference "
                               "database, input data that led to a match, persons who verified the results")
    return "not applicable: the risk answers list no biometrics area."


def art13(ev: Evidence) -> str:
    c, art = ev.config, ev.regulation["articles"]
    lines = _header(ev, "Instructions for use", art["art13"])
    tools = ev.surface.of("tool")
    lines += [
        f"**(a) Provider**: {_value(c.ai_act.provider, 'art13.a.provider', 'identity and contact details of the provider')}. "
        f"Contact: {_value(c.ai_act.contact, 'art13.a.contact', 'contact (config ai_act.contact)')}. "
        f"Authorised representative ({_short(art['art22'])}): "
        f"{fill('art13.a.representative', 'identity and contact details of the authorised representative, or not applicable (provider established in the Union)')}",
        "",
        "**(b) Characteristics, capabilities and limitations of performance**",
        "",
        f"- (i) Intended purpose: {_value(c.intended_purpose, 'art13.b.purpose', 'intended purpose')}",
        f"- (ii) Accuracy, robustness, cybersecurity ({_short(art['art15'])}): availability and latency objectives "
        f"{ev.policy.slo.availability * 100:g} % / {ev.policy.slo.latency_target * 100:g} % under "
        f"{ev.policy.slo.latency_threshold_s:g} s; SBOM and signed provenance per release. "
        f"{fill('art13.b.accuracy', 'accuracy levels and metrics of the AI system')}",
        f"- (iii) Known or foreseeable circumstances that may lead to risks, and foreseeable misuse: "
        f"{_value(c.ai_act.limitations, 'art13.b.limitations', 'limitations')}",
        f"- (iv) Technical capabilities to provide information that explains the output: "
        f"{fill('art13.b.explain', 'what the system provides to explain its output (tool results are recorded per call in the audit log)')}",
        f"- (v) Performance for the specific persons or groups it is intended for: "
        f"{fill('art13.b.groups', 'performance for those persons or groups, or not applicable')}",
        f"- (vi) Input data: {len(tools)} tools ({', '.join('`' + t.name + '`' for t in tools)}), "
        f"{_count(len(ev.surface.of('resource')) + len(ev.surface.of('resource-template')), 'resource')}, "
        f"{_count(len(ev.surface.of('prompt')), 'prompt')}; inputs are specified by each tool's JSON schema (technical "
        "documentation, section 1(b)).",
        f"- (vii) Information that lets deployers interpret the output and use it appropriately: "
        f"{fill('art13.b.interpret', 'how deployers read and use the tool results')}",
        "",
        f"**(c) Pre-determined changes**: {fill('art13.c.changes', 'changes planned in advance, if any')}",
        "",
        f"**(d) Human oversight ({_short(art['art14'])})**: {_value(c.ai_act.human_oversight, 'art13.d.oversight', 'oversight measures')}",
        "",
        f"**(e) Resources, lifetime, maintenance**: {fill('art13.e.maintenance', 'compute and hardware needed, expected lifetime, maintenance and updates')}",
        "",
        "**(f) Collecting, storing and interpreting logs (Art. 12)**:",
        "",
        *_audit_lines(ev),
        "- To collect them, point `audit.directory` (or `$MCP_COMPLY_AUDIT_DIR`) at durable storage, ship "
        "`checkpoints/` off-host, and keep the audit public key with the verifier.",
    ]
    return "\n".join(lines) + "\n"


def _date_of(reg: Mapping[str, Any], entry_id: str) -> str | None:
    return next((str(d["date"]) for d in reg["dates"] if d.get("id") == entry_id), None)


def art50(ev: Evidence) -> str:
    reg, role = ev.regulation, ev.config.ai_act.role
    art, risk = reg["articles"], ev.config.ai_act.risk
    lines = _header(ev, "Transparency notice", art["art50"])
    grace = _date_of(reg, "art50-2-existing-systems")
    rows: list[tuple[str, str, str, bool | None, str, str]] = [
        ("50(1)", "provider", "Systems that interact directly with people are designed so that people are told they "
         "interact with an AI system (unless obvious)", risk.interacts_with_people, "art50.1",
         "do people interact with the system directly?"),
        ("50(2)", "provider", "Synthetic audio, image, video or text is marked machine-readably and detectable as "
         "artificially generated" + (f" (systems placed on the market before 2026-08-02: from {grace})" if grace else ""),
         risk.generates_synthetic_content, "art50.2", "does the system generate synthetic content?"),
        ("50(3)", "deployer", "People exposed to an emotion recognition or biometric categorisation system are "
         "informed of its operation", risk.emotion_or_biometric_categorisation, "art50.3",
         "emotion recognition or biometric categorisation?"),
        ("50(4)", "deployer", "Deep fakes, and AI-generated or manipulated text published to inform the public on "
         "matters of public interest, are disclosed as such (unless under human editorial control)", None, "art50.4",
         "does the deployer publish deep fakes or such text?"),
    ]
    lines += [f"Your role (config `ai_act.role`): {_value(role, 'art50.role', 'provider, deployer or provider-and-deployer')}.",
              "", "| paragraph | duty of | duty | applies | how it is met |", "|---|---|---|---|---|"]
    for para, who, duty, answer, mid, question in rows:
        if role is not None and who not in role:
            applies, how = f"not a duty of the {role}", f"the {who} meets it; tell deployers in the instructions for use" \
                if who == "deployer" else f"the {who} meets it"
        else:
            applies = _yes_no(answer, f"{mid}.applies", question) if para != "50(4)" else \
                fill(f"{mid}.applies", question + " (no config key: answer here, or keep the answer with the deployer)")
            how = fill(f"{mid}.measure", "how the duty is met") if answer else "not applicable" if answer is False \
                else fill(f"{mid}.measure", "answer the question first")
        lines.append(f"| {para} | {who} | {duty} | {applies} | {how} |")
    lines += [
        "",
        "Art. 50(5) governs how the information of paragraphs 1 to 4 is given: clearly and distinguishably, at the "
        "latest at the time of the first interaction or exposure, and meeting the applicable accessibility requirements.",
        "",
        f"**Notice text shown to people**: {fill('art50.notice', 'the wording users see, and where')}",
    ]
    return "\n".join(lines) + "\n"


def classify(ev: Evidence) -> tuple[str, list[str]]:
    reg = ev.regulation
    risk, areas = ev.config.ai_act.risk, reg["annex_iii_areas"]
    reasons: list[str] = []
    if risk.ai_system == "neither":
        return ("outside the Act's duties for AI systems on this answer: the server is neither an AI system nor a "
                "component of one (Art. 3(1)); confirm it", ["ai_system: neither"])
    if risk.prohibited_practice:
        return "prohibited: an Art. 5 practice must not be placed on the market or used", ["prohibited_practice: yes"]
    high = False
    if risk.annex_iii_areas:
        unknown = [a for a in risk.annex_iii_areas if a not in areas]
        if unknown:
            raise ConfigError(f"unknown Annex III area(s) {', '.join(unknown)}; use {', '.join(areas)}",
                              source="mcp-comply config", path="ai_act.risk.annex_iii_areas")
        high = True
        when = _date_of(reg, "high-risk-annex-iii")
        reasons.append("used in Annex III area(s): " + ", ".join(areas[a] for a in risk.annex_iii_areas)
                       + (f" (high-risk obligations apply from {when})" if when else ""))
    if risk.annex_i_safety_component:
        high = True
        when = _date_of(reg, "high-risk-annex-i")
        reasons.append("safety component of an Annex I product" + (f" (high-risk obligations apply from {when})"
                                                                   if when else ""))
    if high:
        return "high-risk (indicative; Art. 6(3) exceptions may apply)", reasons
    unanswered = [name for name in ("ai_system", "prohibited_practice", "annex_iii_areas", "annex_i_safety_component")
                  if getattr(risk, name) is None]
    if unanswered:
        return "not determined: answer " + ", ".join(unanswered), reasons
    return "not high-risk on these answers (transparency duties and AI literacy may still apply)", reasons


_AI_SYSTEM = {"ai-system": "an AI system", "component": "a component of an AI system",
              "neither": "neither (no AI system uses it)"}


def risk_classification(ev: Evidence) -> str:
    art, risk, reg = ev.regulation["articles"], ev.config.ai_act.risk, ev.regulation
    role = ev.config.ai_act.role
    result, reasons = classify(ev)
    lines = _header(ev, "Risk classification questionnaire",
                    f"{_short(art['art3_1'])}, {art['art5']}, {art['art6']}, {art['annex_iii']}")
    lines += [
        "Answers live in the mcp-comply config (`ai_act.role`, `ai_act.risk`), so they survive regeneration.",
        "",
        "| question | config key | answer |",
        "|---|---|---|",
        f"| Is the MCP server an AI system ({_short(art['art3_1'])}), a component of one, or neither? | `ai_system` | "
        + (_AI_SYSTEM[risk.ai_system] if risk.ai_system else
           fill("risk.ai-system", "answer ai_act.risk.ai_system: ai-system, component or neither")) + " |",
        f"| Are you the provider, the deployer, or both ({_short(art['art25'])})? | `ai_act.role` | "
        f"{_value(role, 'risk.role', 'answer ai_act.role: provider, deployer or provider-and-deployer')} |",
        f"| Does the AI system engage in a practice {art['art5']} prohibits? | `prohibited_practice` | "
        f"{_yes_no(risk.prohibited_practice, 'risk.prohibited', 'Art. 5 practice?')} |",
        f"| In which {art['annex_iii']} areas is it used? | `annex_iii_areas` | "
        + (", ".join(risk.annex_iii_areas) if risk.annex_iii_areas else "none" if risk.annex_iii_areas == ()
           else fill("risk.annex-iii", "list the areas, or [] for none")) + " |",
        f"| Is it a safety component of a product under {art['annex_i']}? | `annex_i_safety_component` | "
        f"{_yes_no(risk.annex_i_safety_component, 'risk.annex-i', 'Annex I safety component?')} |",
        f"| Do you provide a general-purpose AI model ({_short(art['art53'])})? | `gpai_model_provided` | "
        f"{_yes_no(risk.gpai_model_provided, 'risk.gpai', 'do you provide a GPAI model?')} |",
        f"| Do people interact with it directly ({_short(art['art50'])}(1))? | `interacts_with_people` | "
        f"{_yes_no(risk.interacts_with_people, 'risk.interacts', 'direct interaction?')} |",
        "",
        f"**Indicative result**: {result}.",
    ]
    lines += [f"- {reason}" for reason in reasons]
    if risk.gpai_model_provided:
        lines.append(f"- GPAI model provider: {art['art53']} duties, documentation per {art['annex_xi']} and "
                     f"{art['annex_xii']}.")
    for obligation in reg.get("obligations", []):
        lines.append(f"- {obligation['article']} ({_status(obligation, {})}): {obligation['text']}")
    lines += ["", "Annex III area keys: " + ", ".join(f"`{k}` ({v})" for k, v in reg["annex_iii_areas"].items()) + "."]
    return "\n".join(lines) + "\n"


def _status(entry: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    status = str(entry["status"])
    if status == "superseded":
        status = f"superseded by the {titles.get(entry['superseded_by'], entry['superseded_by'])}"
    return status + (" (secondary sources)" if entry.get("confirmed") == "secondary" else "")


def timeline(reg: Mapping[str, Any], applied: tuple[str, ...]) -> list[str]:
    titles = {a["id"]: a["title"] for a in reg.get("amendments", [])}
    rows = [(str(d["date"]), str(d["applies"]), _status(d, titles), str(d["legal_source"]),
             ", ".join(d["sources"])) for d in reg["dates"]]
    pending = []
    for amendment in reg.get("amendments", []):
        if amendment["status"] == "in force":
            continue  # its dates are in the table already
        for change in amendment.get("changes", []):
            if amendment["id"] in applied:
                rows.append((str(change["date"]), f"{change['applies']} [{amendment['title']}]", "applied by policy",
                             amendment.get("act", amendment["title"]), ""))
            else:
                pending.append(f"- {change['date']}: {change['applies']} ({amendment['title']}: {amendment['status']})")
    lines = ["| date | applies | status | legal source | sources |", "|---|---|---|---|---|"]
    lines += [f"| {d} | {w} | {s} | {src} | {ids} |" for d, w, s, src, ids in sorted(rows)]
    if pending:
        lines += ["", "Changes not in force, not applied (policy `ai_act.apply_amendments` applies them):", "", *pending]
    return lines


def _amendment_lines(reg: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for a in reg.get("amendments", []):
        lines += ["", f"### {a['title']}: {a['status']}", "", f"{a.get('act', '')}; {a.get('url', '')}".strip("; "), ""]
        lines += [f"- {h['date']}: {h['event']} ({', '.join(h['sources'])})" for h in a.get("history", [])]
        if a.get("evidence"):
            lines += ["", str(a["evidence"])]
    return lines


def readme(ev: Evidence, counts: Mapping[str, int]) -> str:
    reg = ev.regulation
    lines = _header(ev, "EU AI Act documentation", "overview")
    lines += [
        "| document | unfilled markers |",
        "|---|---:|",
        *[f"| [{name}]({name}) | {counts[name]} |" for name in FILES[1:]],
        f"| **total** | **{sum(counts.values())}** |",
        "",
        "## Application dates",
        "",
        *timeline(reg, ev.policy.ai_act.apply_amendments),
        "",
        "Status `in force (secondary sources)`: independent secondary sources agree; the Official Journal text was "
        "not available when the data was checked.",
        "",
        "## Amendments",
        *_amendment_lines(reg),
        "",
        "## Changed obligations",
        "",
        *[f"- {o['article']} ({o['status']}, {o['legal_source']}): {o['text']} ({', '.join(o['sources'])})"
          for o in reg.get("obligations", [])],
        "",
        "## Sources checked",
        "",
        *[f"- `{s['id']}` (retrieved {s['retrieved']}): {s['title']}, {s['url']}" for s in reg["sources"]],
        "",
        f"Regulatory data: `{reg['_source']}` version {reg['version']} ({reg['regulation']['published']}, "
        f"{reg['regulation']['url']}). Check the Official Journal before relying on any date.",
    ]
    return "\n".join(lines) + "\n"


def build_documents(ev: Evidence) -> dict[str, str]:
    docs = {
        "annex-iv-technical-documentation.md": annex_iv(ev),
        "art-12-record-keeping.md": art12(ev),
        "art-13-instructions-for-use.md": art13(ev),
        "art-50-transparency-notice.md": art50(ev),
        "risk-classification.md": risk_classification(ev),
    }
    counts = {name: count_markers(text) for name, text in docs.items()}
    return {"README.md": readme(ev, counts), **docs}
