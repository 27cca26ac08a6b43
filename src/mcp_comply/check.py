"""``mcp-comply check``: the release gate. Evaluates the project against the policy's controls.

Each control passes, fails, or is skipped (its input was not given); a required control passes only
when it passes. Exit 0 when every required control passes, 1 otherwise, 2 on configuration errors.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from mcp_comply import _progress
from mcp_comply.config import CONTROLS
from mcp_comply.exceptions import ConfigError
from mcp_comply.generate import AI_ACT_DIR, RELEASE_DIR, Project, build

TITLES = {
    "instrumentation": "server instrumented with mcp-comply",
    "audit-signing": "audit log enabled, checkpoints signed",
    "audit-chain": "audit chain verifies",
    "retention": "log retention meets the policy",
    "sbom": "SBOM present, valid and current",
    "provenance": "provenance signed and matching the artefacts",
    "monitoring": "dashboards and rules current, promtool passes",
    "ai-act-docs": "EU AI Act documentation generated",
    "ai-act-data": "EU AI Act regulatory data checked within the policy's age",
    "strict-schemas": "every tool has a strict input schema",
    "http-auth": "authentication configured for HTTP",
}


@dataclass
class ControlResult:
    control: str
    status: str  # pass | fail | skip
    required: bool
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "pass"


@dataclass
class CheckInputs:
    out_dir: Path
    artifacts: tuple[Path, ...] = ()
    provenance_key: Path | None = None
    audit_dir: Path | None = None
    audit_key: Path | None = None
    audit_dir_named: bool = False
    """The audit log was named on the command line: it gates the release whatever the policy requires."""
    today: date | None = None
    """The day the regulatory data's age is measured at; None: today (UTC)."""


@dataclass
class CheckReport:
    results: list[ControlResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results if r.required)

    @property
    def failed_required(self) -> list[str]:
        return [r.control for r in self.results if r.required and not r.ok]

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed_required": self.failed_required,
                "controls": [{"control": r.control, "title": TITLES[r.control], "status": r.status,
                              "required": r.required, "detail": r.detail} for r in self.results]}

    def table(self) -> str:
        width = max(len(c) for c in CONTROLS)
        lines = [f"{'control':<{width}}  required  status  detail", "-" * (width + 60)]
        for r in self.results:
            lines.append(f"{r.control:<{width}}  {'yes' if r.required else 'no':<8}  {r.status.upper():<6}  {r.detail}")
        verdict = "PASS: every required control passes" if self.ok else \
            f"FAIL: required control(s) not passing: {', '.join(self.failed_required)}"
        return "\n".join([*lines, "", verdict])


def inputs_from(project: Project, *, out_dir: Path | None = None, artifacts: tuple[Path, ...] = (),
                provenance_key: Path | None = None, audit_dir: Path | None = None,
                audit_key: Path | None = None) -> CheckInputs:
    """Command-line values first, then the config's ``release:`` section (paths relative to the root)."""
    import argparse

    from mcp_comply import _argtypes as at

    root, cfg = project.root, project.config
    release = cfg.release if cfg is not None else None

    def checked(setting: str, path: Path, parse: Callable[[str], Path]) -> Path:
        """A file the config names, checked like the option it stands in for (a FIFO would block,
        a device never end, a key of the other family fail later with less to say)."""
        try:
            return parse(str(path)) if path.exists() else path  # a missing file is the control's finding
        except argparse.ArgumentTypeError as exc:
            raise ConfigError(str(exc), source=project.config_source or str(root), path=f"release.{setting}") from None

    if not artifacts and release is not None:
        found: list[Path] = []
        for pattern in release.artifacts:
            found += [checked("artifacts", Path(p), at.existing_file) for p in sorted(glob.glob(str(root / pattern)))]
        artifacts = tuple(found)

    def rel(setting: str, parse: Callable[[str], Path]) -> Path | None:
        value = getattr(release, setting) if release is not None else None
        return checked(setting, root / value, parse) if value else None

    return CheckInputs(
        out_dir=out_dir or root / (cfg.out_dir if cfg is not None else "."),
        artifacts=artifacts,
        provenance_key=provenance_key or rel("provenance_key", at.key_file("pem-public", "the provenance control")),
        audit_dir=audit_dir or rel("audit_dir", at.existing_dir),
        audit_key=audit_key or rel("audit_key", at.key_file("audit-public", "the audit-chain control")),
        audit_dir_named=audit_dir is not None,
    )


# --- controls -----------------------------------------------------------------------------------


def _server(project: Project) -> Any:
    from mcp_comply.generate import server_of

    if project.config is None:
        raise ConfigError("mcp-comply check needs the project config (mcp-comply.yaml or [tool.mcp-comply])",
                          source=str(project.root))
    return server_of(project, "mcp-comply check")


def _instrumentation(server: Any, spec: str) -> tuple[str, str]:
    from mcp_comply.instrument import instrumentation_of

    handle = instrumentation_of(server)
    if handle is None:
        return "fail", f"the server from {spec} is not instrumented: call instrument(server) where it is built"
    audit = "audit on" if handle.audit is not None else "audit off in this process"
    return "pass", f"{handle.framework} server {getattr(server, 'name', '')!s} instrumented ({audit})"


def _audit_signing(project: Project) -> tuple[str, str]:
    audit = project.policy.audit
    directory = audit.directory or os.environ.get("MCP_COMPLY_AUDIT_DIR")
    key = audit.signing_key or os.environ.get("MCP_COMPLY_AUDIT_SIGNING_KEY")
    if not directory:
        return "fail", "no audit directory: set audit.directory in the policy (or $MCP_COMPLY_AUDIT_DIR)"
    if not key:
        return "fail", (f"audit log to {directory}, but checkpoints are unsigned: set audit.signing_key "
                        "(mcp-comply audit keygen) or $MCP_COMPLY_AUDIT_SIGNING_KEY")
    key_path = Path(key) if Path(key).is_absolute() else project.root / key
    if not key_path.is_file():
        return "fail", f"the signing key {key_path} does not exist"
    from mcp_comply.audit.keys import load_signer

    try:
        signer = load_signer(key_path)
    except ConfigError as exc:
        return "fail", f"the signing key {key_path} does not load: {exc.reason}"
    return "pass", f"audit log to {directory}; checkpoints signed by {signer.name}"


def _audit_chain(inputs: CheckInputs) -> tuple[str, str]:
    """Passes only on a log with records, every chain authenticated by a signed checkpoint, and no
    finding (a young unsigned tail of a live writer is a notice, not a finding)."""
    if inputs.audit_dir is None:
        return "skip", "no audit directory given (--audit-dir or release.audit_dir)"
    from mcp_comply.audit.keys import load_verifier
    from mcp_comply.audit.verify import NOTICES, verify_directory

    if not inputs.audit_dir.is_dir():
        return "fail", f"{inputs.audit_dir} is not a directory"
    verifiers = [load_verifier(inputs.audit_key)] if inputs.audit_key is not None else []
    report = verify_directory(inputs.audit_dir, verifiers=verifiers)
    records = sum(c.records - c.first_seq for c in report.chains)
    if not records:
        return "fail", f"no audit records in {inputs.audit_dir}: nothing to verify"
    findings = [f for f in report.findings if f.kind not in NOTICES]
    if findings:
        return "fail", f"{len(findings)} finding(s), first: {findings[0]}"
    if not verifiers:
        return "fail", f"{records} records chain correctly, but no audit key was given (--audit-key), so " \
                       "nothing is authenticated: checkpoint signatures and truncation were not checked"
    checkpoints = sum(c.checkpoints_verified for c in report.chains)
    unsigned = sum(c.unsigned or 0 for c in report.chains)
    tail = f"; {unsigned} recent record(s) not signed yet" if unsigned else ""
    return "pass", (f"{records} records in {len(report.chains)} chain(s), {checkpoints} signed checkpoint(s) "
                    f"verified{tail}")


def _retention(project: Project) -> tuple[str, str]:
    from mcp_comply.generate.ai_act import load_regulatory_data

    have = project.policy.audit.retention_days
    law = int(load_regulatory_data(project.policy, project.root)["log_retention_min_days"])
    need = max(project.policy.check.min_retention_days, law)
    if have < need:
        policy_min = project.policy.check.min_retention_days
        return "fail", f"audit.retention_days is {have}; needs at least {need} (policy {policy_min}, EU AI Act {law})"
    return "pass", f"{have} days (at least {need})"


_NOT_UTF8 = "{name} is not UTF-8 text (byte 0x{byte:02x} at offset {offset}): damaged or not what generate wrote"


def _utf8(path: Path) -> str | None:
    """The text of a file generate wrote; None when it is not UTF-8 (damaged, or replaced)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def _bad_byte(path: Path) -> dict[str, int]:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return {"byte": data[exc.start], "offset": exc.start}
    return {"byte": 0, "offset": 0}  # pragma: no cover - only called for a file that did not decode


def _sbom(project: Project, inputs: CheckInputs) -> tuple[str, str]:  # noqa: PLR0911 - one return per finding
    from mcp_comply.generate.sbom import SBOM_JSON, SBOM_XML, read_pyproject, validate

    path = next((inputs.out_dir / RELEASE_DIR / n for n in (SBOM_JSON, SBOM_XML)
                 if (inputs.out_dir / RELEASE_DIR / n).is_file()), None)
    if path is None:
        return "fail", f"no SBOM in {inputs.out_dir / RELEASE_DIR} (mcp-comply generate --only sbom)"
    text = _utf8(path)
    if text is None:
        return "fail", _NOT_UTF8.format(name=path.name, **_bad_byte(path))
    fmt: Literal["json", "xml"] = "json" if path.suffix == ".json" else "xml"
    error = validate(text, fmt)
    if error is not None:
        return "fail", f"{path.name} does not validate against CycloneDX 1.6: {error}"
    if fmt == "xml":
        return "pass", f"{path.name} valid (currency is compared for JSON SBOMs only)"
    data = json.loads(text)
    root = read_pyproject(project.root)
    recorded = data.get("metadata", {}).get("component", {}).get("version")
    if recorded != root.version:
        return "fail", f"{path.name} describes version {recorded}, the project is {root.version}: regenerate it"
    fresh = json.loads(next(a for a in build(project, ["sbom"]) if a.kind == "sbom").content)

    def purls(doc: dict[str, Any]) -> set[str]:
        return {c.get("purl", c["name"]) for c in doc.get("components", [])}

    missing, extra = purls(fresh) - purls(data), purls(data) - purls(fresh)
    if missing or extra:
        diff = ", ".join(sorted([f"+{p}" for p in missing] + [f"-{p}" for p in extra])[:6])
        return "fail", (f"{path.name} is stale: {len(missing)} component(s) missing, {len(extra)} no longer used "
                        f"({diff})")
    comps = data.get("components", [])
    hashed = sum(1 for c in comps if c.get("hashes"))
    share = hashed / len(comps) if comps else 1.0
    coverage = f"{hashed} of {len(comps)} components with artefact hashes ({share * 100:.0f} %)"
    need = project.policy.check.min_sbom_hash_coverage
    if need is not None and share < need:
        unhashed = ", ".join(sorted(c["name"] for c in comps if not c.get("hashes"))[:5])
        return "fail", (f"{path.name}: {coverage}; the policy requires at least {need * 100:g} % (no hash: "
                        f"{unhashed}{' ...' if len(comps) - hashed > 5 else ''}); see README, 'SBOM hashes'")
    return "pass", f"{path.name}: {len(comps)} components, valid CycloneDX 1.6, current; {coverage}"


def _provenance(inputs: CheckInputs) -> tuple[str, str]:
    from mcp_comply.generate import provenance as pv

    envelope = inputs.out_dir / RELEASE_DIR / pv.ENVELOPE_FILE
    bundle = inputs.out_dir / RELEASE_DIR / pv.BUNDLE_FILE
    if not envelope.is_file():
        if bundle.is_file():
            return "fail", f"{bundle.name} is a Sigstore bundle: verify it with mcp-comply verify-provenance " \
                           "--cert-identity ... (check verifies local-key envelopes)"
        return "fail", f"no provenance in {inputs.out_dir / RELEASE_DIR} (mcp-comply generate --only provenance)"
    if inputs.provenance_key is None:
        return "fail", "cannot verify the signature: give the public key (--provenance-key or release.provenance_key)"
    if not inputs.artifacts:
        return "fail", "no artefacts to match (--artifacts or release.artifacts)"
    report = pv.verify_envelope(envelope, keys=[inputs.provenance_key], artifacts=inputs.artifacts)
    if not report.ok:
        return "fail", "; ".join(report.findings)
    return "pass", f"signature verifies; {len(inputs.artifacts)} artefact(s) match its subjects"


def _monitoring(project: Project, inputs: CheckInputs) -> tuple[str, str]:
    from mcp_comply.generate._output import drift
    from mcp_comply.generate.rules import ALERTS_FILE, RECORDING_FILE, TESTS_FILE

    artifacts = build(project, ["dashboards", "alerts"])
    drifted = drift(inputs.out_dir, artifacts)
    if drifted:
        listed = ", ".join(f"{p} ({s})" for p, s in drifted[:4])
        return "fail", f"{len(drifted)} of {len(artifacts)} files missing or out of date: {listed}"
    promtool = shutil.which("promtool")
    if promtool is None:
        return "pass", f"{len(artifacts)} files current; promtool not installed, rules not run through it"
    alerts = inputs.out_dir / "alerts"
    for args in (["check", "rules", RECORDING_FILE, ALERTS_FILE], ["test", "rules", TESTS_FILE]):
        _progress.step(f"running promtool {' '.join(args)}")
        proc = subprocess.run([promtool, *args], cwd=alerts, capture_output=True, text=True,  # noqa: S603
                              timeout=120, check=False)
        if proc.returncode != 0:
            return "fail", f"promtool {' '.join(args[:2])} failed: {(proc.stdout + proc.stderr).strip()[-300:]}"
    return "pass", f"{len(artifacts)} files current; promtool check rules and test rules pass"


def _ai_act_docs(project: Project, inputs: CheckInputs) -> tuple[str, str]:
    from mcp_comply.generate.ai_act import FILES, markers_in
    from mcp_comply.generate.sbom import read_pyproject

    version = read_pyproject(project.root).version
    folder = inputs.out_dir / AI_ACT_DIR / version
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        return "fail", f"missing in {folder}: {', '.join(missing)} (mcp-comply generate --only ai-act)"
    damaged = next((p for p in sorted(folder.glob("*.md")) if _utf8(p) is None), None)
    if damaged is not None:
        detail = _NOT_UTF8.format(name=damaged.name, **_bad_byte(damaged))
        return "fail", f"{detail} (mcp-comply generate --only ai-act)"
    counts = markers_in(folder)
    total = sum(counts.values())
    limit = project.policy.check.max_unfilled_markers
    worst = ", ".join(f"{n} {c}" for n, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3] if c)
    if limit is not None and total > limit:
        return "fail", f"{total} unfilled markers (policy allows {limit}): {worst}"
    from mcp_comply.generate.ai_act import load_regulatory_data

    law = f"; law as of data version {load_regulatory_data(project.policy, project.root)['version']}"
    left = f"{total} unfilled markers" + (f" ({worst})" if total else "")
    return "pass", f"{len(FILES)} documents for {version}; {left}{law}"


def _ai_act_data(project: Project, inputs: CheckInputs) -> tuple[str, str]:
    from mcp_comply.generate.ai_act import data_stale_after, data_version, load_regulatory_data

    reg = load_regulatory_data(project.policy, project.root)
    months = project.policy.check.max_regulatory_data_age_months
    today = inputs.today or datetime.now(UTC).date()
    stale = data_stale_after(reg, months)
    where = f"{reg['_source']} version {reg['version']}"
    if today >= stale:
        return "fail", (f"{where} is older than {months} months (stale since {stale}): check the law and update it, "
                        "or point ai_act.regulatory_data at a newer copy")
    return "pass", f"{where}, {(today - data_version(reg)).days} days old (stale from {stale})"


def _strict_schemas(project: Project) -> tuple[str, str]:
    from mcp_comply.generate import surface_of

    surface = surface_of(project, "mcp-comply check")
    problems = []
    open_tools = []
    for tool in surface.of("tool"):
        issues = schema_issues(tool.schema or {})
        if issues:
            problems.append(f"{tool.name}: {issues[0]}")
        elif (tool.schema or {}).get("additionalProperties") is not False:
            open_tools.append(tool.name)
    if problems:
        return "fail", "; ".join(problems)
    note = f" ({len(open_tools)} accept undeclared arguments: additionalProperties is not false)" if open_tools else ""
    return "pass", f"{len(surface.of('tool'))} tools with typed object schemas{note}"


_TYPED = ("type", "enum", "const", "$ref", "anyOf", "oneOf", "allOf")


def schema_issues(schema: dict[str, Any]) -> list[str]:
    """Why a tool's input schema is not strict: not an object, or a property without a type."""
    if schema.get("type") != "object":
        return ["the input schema is not of type object"]
    issues = []
    objects = [("", schema)] + [(f"$defs.{k}.", v) for k, v in schema.get("$defs", {}).items()
                                if isinstance(v, dict) and v.get("type") == "object"]
    for prefix, obj in objects:
        for name, prop in obj.get("properties", {}).items():
            if not isinstance(prop, dict) or not any(k in prop for k in _TYPED):
                issues.append(f"property {prefix}{name} has no type")
    return issues


def _http_auth(server: Any) -> tuple[str, str]:
    from mcp_comply.exceptions import InstrumentationError
    from mcp_comply.instrument._frameworks import FASTMCP, auth_configured, detect

    try:
        configured = auth_configured(server)
    except InstrumentationError as exc:
        return "fail", str(exc)
    if configured is None:
        return "fail", "cannot tell from a low-level Server: authentication lives in the ASGI app that serves it"
    if detect(server) == FASTMCP:
        return ("pass", "fastmcp auth provider configured") if configured else \
            ("fail", "no auth provider: FastMCP(auth=...)")
    name = type(server).__name__
    return ("pass", "a token verifier / auth settings are configured") if configured else \
        ("fail", f"no auth configured: pass auth=AuthSettings(...) and token_verifier=... to {name}")


def run_check(project: Project, inputs: CheckInputs) -> CheckReport:
    required = set(project.policy.check.required)
    server = _server(project)
    spec = project.config.server if project.config is not None else "?"
    evaluations = {
        "instrumentation": lambda: _instrumentation(server, spec),
        "audit-signing": lambda: _audit_signing(project),
        "audit-chain": lambda: _audit_chain(inputs),
        "retention": lambda: _retention(project),
        "sbom": lambda: _sbom(project, inputs),
        "provenance": lambda: _provenance(inputs),
        "monitoring": lambda: _monitoring(project, inputs),
        "ai-act-docs": lambda: _ai_act_docs(project, inputs),
        "ai-act-data": lambda: _ai_act_data(project, inputs),
        "strict-schemas": lambda: _strict_schemas(project),
        "http-auth": lambda: _http_auth(server),
    }
    report = CheckReport()
    if inputs.audit_dir_named:
        required.add("audit-chain")
    for control in CONTROLS:
        _progress.step(f"control {control}: {TITLES[control]}")
        status, detail = evaluations[control]()
        report.results.append(ControlResult(control, status, control in required, detail))
    return report
