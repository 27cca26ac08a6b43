"""``mcp-comply generate``: release-pipeline artefacts from the project's config and policy.

Pure builders (:mod:`.dashboards`, :mod:`.rules`) turn the policy into bytes; this module picks
the artefact kinds, and writes the files atomically or compares them with what is on disk
(``--check``). Same inputs, byte-identical outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_comply import _progress
from mcp_comply.config import (
    POLICY_NAMES,
    AIActConfig,
    NoProjectConfigError,
    Policy,
    ProjectConfig,
    load_policy,
    load_project,
    policy_path,
)
from mcp_comply.exceptions import ConfigError, InputError
from mcp_comply.generate._output import Artifact, drift, source_date_epoch, to_json, to_yaml, write_atomic

KINDS: tuple[str, ...] = ("dashboards", "alerts", "sbom", "provenance", "ai-act")
DASHBOARDS_DIR = "dashboards"
ALERTS_DIR = "alerts"
RELEASE_DIR = "release"
AI_ACT_DIR = "ai-act"

__all__ = ["AI_ACT_DIR", "KINDS", "RELEASE_DIR", "Artifact", "GenerateResult", "Options", "Project", "build",
           "default_kinds", "generate", "parse_only", "resolve_project", "server_of", "surface_of"]


@dataclass(frozen=True)
class Options:
    """Inputs of the release artefacts that do not live in the config (CLI flags)."""

    artifacts: tuple[Path, ...] = ()
    signing_key: Path | None = None
    keyless: bool = False
    identity_token: str | None = None
    sigstore_trust_config: Path | None = None
    builder_id: str | None = None
    sbom_source: str | None = None
    sbom_file: Path | None = None
    hashes_from: tuple[Path, ...] = ()
    sbom_format: str | None = None
    sbom_scope: str | None = None
    sbom_extras: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Project:
    """What the generators work on: the project root, its config (if any) and the policy."""

    root: Path
    config: ProjectConfig | None
    config_source: str | None
    policy: Policy
    policy_source: str
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The imported server and its introspected surface, shared by the kinds of one run."""


@dataclass
class GenerateResult:
    out_dir: Path
    artifacts: list[Artifact]
    drifted: list[tuple[str, str]] = field(default_factory=list)
    written: list[str] = field(default_factory=list)


def parse_only(text: str | None) -> tuple[str, ...]:
    """``"dashboards,alerts"`` -> the kinds, in canonical order; None means every kind."""
    if text is None:
        return KINDS
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in KINDS]
    if unknown or not wanted:
        raise ConfigError(f"unknown artefact kind(s) {', '.join(unknown) or '(none given)'}; "
                          f"choose from {', '.join(KINDS)}", source="--only")
    return tuple(k for k in KINDS if k in wanted)


def default_kinds(project: Project, options: Options) -> tuple[str, ...]:
    """Without --only: dashboards and alerts; the SBOM when there is a project config; provenance
    when artefacts are given."""
    kinds = ["dashboards", "alerts"]
    if project.config is not None:
        kinds.append("sbom")
    if options.artifacts:
        kinds.append("provenance")
    if project.config is not None:
        kinds.append("ai-act")
    return tuple(kinds)


def resolve_project(root: Path | None = None, config: Path | None = None,
                    policy: str | os.PathLike[str] | None = None) -> Project:
    """Find the project config (``--config``, else ``mcp-comply.yaml`` / ``[tool.mcp-comply]`` under
    ``root``; optional for dashboards and rules) and load its policy (default: built-in defaults).
    A policy is a file or the name of a shipped policy (``"strict"``)."""
    if config is not None:
        if not config.is_file():
            raise InputError("no such file", source=str(config))
        base = config.resolve().parent
        project_cfg, source = load_project(base, config.name)
    else:
        base = (root or Path.cwd()).resolve()
        try:
            project_cfg, source = load_project(base)
        except NoProjectConfigError:
            project_cfg, source = None, None
    chosen: str | os.PathLike[str] | None = policy
    if chosen is None and project_cfg is not None and project_cfg.policy:
        relative = base / project_cfg.policy
        chosen = project_cfg.policy if not relative.exists() and project_cfg.policy in POLICY_NAMES else relative
    if chosen is not None:
        loaded, policy_source = load_policy(chosen), os.fspath(policy_path(chosen))
    else:
        loaded, policy_source = Policy(), "(built-in defaults)"
    return Project(base, project_cfg, source, loaded, policy_source)


def build(project: Project, kinds: Iterable[str], options: Options | None = None,
          out_dir: Path | None = None) -> list[Artifact]:
    """Every artefact of the given kinds, as bytes (nothing is written)."""
    options = options or Options()
    artifacts: list[Artifact] = []
    for kind in kinds:
        _progress.step(_STEPS[kind])
        if kind == "dashboards":
            from mcp_comply.generate import dashboards

            for name, model in dashboards.build_dashboards(project.policy).items():
                artifacts.append(Artifact(f"{DASHBOARDS_DIR}/{name}", to_json(model), kind))
                artifacts.append(Artifact(f"{DASHBOARDS_DIR}/{name.removesuffix('.json')}.svg",
                                          dashboards.preview_svg(model).encode(), kind))
            for name, data in dashboards.provisioning().items():
                artifacts.append(Artifact(f"{DASHBOARDS_DIR}/provisioning/{name}", to_yaml(data, _HEADER), kind))
        elif kind == "alerts":
            from mcp_comply.generate import rules

            ruleset = rules.build_rules(project.policy)
            recording, alerting = rules.rule_groups(ruleset)
            artifacts += [
                Artifact(f"{ALERTS_DIR}/{rules.RECORDING_FILE}", to_yaml(recording, _HEADER), kind),
                Artifact(f"{ALERTS_DIR}/{rules.ALERTS_FILE}", to_yaml(alerting, _HEADER), kind),
                Artifact(f"{ALERTS_DIR}/{rules.TESTS_FILE}", to_yaml(rules.test_file(ruleset), _TEST_HEADER), kind),
                Artifact(f"{ALERTS_DIR}/{rules.RUNBOOK_FILE}", rules.runbook(ruleset, project.policy).encode(), kind),
            ]
        elif kind == "sbom":
            artifacts.append(_sbom(project, options))
        elif kind == "provenance":
            artifacts.extend(_provenance(project, options, artifacts, out_dir))
        elif kind == "ai-act":
            artifacts.extend(_ai_act(project, artifacts, out_dir))
    return artifacts


_STEPS = {
    "dashboards": "building the Grafana dashboards",
    "alerts": "building the alert and recording rules",
    "sbom": "building the SBOM (components, hashes, CycloneDX 1.6 validation)",
    "provenance": "building the provenance",
    "ai-act": "writing the EU AI Act documents",
}


def _existing(name: str, built: list[Artifact], out_dir: Path | None) -> bytes | None:
    """An artefact from this run, else the file already in the output folder."""
    for artifact in built:
        if artifact.path == name:
            return artifact.content
    if out_dir is not None and (out_dir / name).is_file():
        return (out_dir / name).read_bytes()
    return None


def _ai_act(project: Project, built: list[Artifact], out_dir: Path | None) -> list[Artifact]:
    from mcp_comply.generate import ai_act, dashboards, rules
    from mcp_comply.generate.provenance import ENVELOPE_FILE
    from mcp_comply.generate.sbom import SBOM_JSON, read_pyproject

    config = require_config(project, "the AI Act documentation")
    root = read_pyproject(project.root)
    sbom = _existing(f"{RELEASE_DIR}/{SBOM_JSON}", built, out_dir)
    envelope = _existing(f"{RELEASE_DIR}/{ENVELOPE_FILE}", built, out_dir)
    ruleset = rules.build_rules(project.policy)
    evidence = ai_act.Evidence(
        root=root, config=config, policy=project.policy, surface=surface_of(project, "the AI Act documentation"),
        regulation=ai_act.load_regulatory_data(project.policy, project.root),
        sbom=ai_act.sbom_summary(sbom.decode()) if sbom else None,
        provenance=ai_act.provenance_summary(envelope.decode()) if envelope else None,
        alerts=tuple((a.name, a.severity, a.summary) for a in ruleset.alerts),
        dashboards=tuple(str(d["title"]) for d in dashboards.build_dashboards(project.policy).values()),
    )
    folder = f"{AI_ACT_DIR}/{root.version}"
    try:
        documents = ai_act.build_documents(evidence)
    except ConfigError as exc:
        section, _, rest = exc.path.partition(".")
        if section != "ai_act" or rest.partition(".")[0] not in AIActConfig.model_fields:
            raise  # not about the config's ai_act answers (e.g. the policy's regulatory data)
        # an answer in the config's ai_act section: name the config file it came from
        raise ConfigError(exc.reason, source=project.config_source or exc.source, path=exc.path) from None
    return [Artifact(f"{folder}/{name}", text.encode(), "ai-act") for name, text in documents.items()]


def require_config(project: Project, kind: str) -> ProjectConfig:
    if project.config is None:
        raise ConfigError(f"generating {kind} needs the project config (server import path): add mcp-comply.yaml "
                          "or [tool.mcp-comply] to pyproject.toml", source=str(project.root))
    return project.config


def server_of(project: Project, kind: str) -> Any:
    """The configured server object, imported (and a factory called) once per project."""
    from mcp_comply.generate.introspect import resolve_server

    config = require_config(project, kind)
    if "server" not in project.cache:
        _progress.step(f"importing the server {config.server}")
        try:
            project.cache["server"] = resolve_server(config.server, project.root)
        except ConfigError as exc:  # name the config file the spec came from, not the spec
            raise ConfigError(exc.reason, source=project.config_source or exc.source, path="server") from None
    return project.cache["server"]


def surface_of(project: Project, kind: str) -> Any:
    """What the server exposes, asked once per project."""
    from mcp_comply.generate.introspect import introspect

    if "surface" not in project.cache:
        server = server_of(project, kind)
        _progress.step("listing the server's tools, resources and prompts")
        project.cache["surface"] = introspect(server)
    return project.cache["surface"]


def _sbom(project: Project, options: Options) -> Artifact:
    from mcp_comply.generate import sbom

    config = require_config(project, "an SBOM")
    settings = config.sbom
    source = options.sbom_source or settings.source
    file = options.sbom_file or (project.root / settings.file if settings.file else None)
    hashes = options.hashes_from or tuple(project.root / h for h in settings.hashes_from) \
        or sbom.default_hash_sources(project.root)
    fmt = options.sbom_format or settings.format
    root = sbom.read_pyproject(project.root)
    extras: tuple[str, ...] | None = None
    if options.sbom_extras is not None:
        extras = sbom.check_extras(root, options.sbom_extras, "--sbom-extras")
    elif settings.extras is not None:
        extras = sbom.check_extras(root, settings.extras, project.config_source or "config", "sbom.extras")
    inventory = sbom.load_inventory(source, file, hashes)  # type: ignore[arg-type]
    result = sbom.build_sbom(root, inventory, surface_of(project, "an SBOM"),
                             service_name=config.service_name or root.name,
                             scope=options.sbom_scope or settings.scope,  # type: ignore[arg-type]
                             fmt=fmt, extras=extras)  # type: ignore[arg-type]
    return Artifact(f"{RELEASE_DIR}/{result.filename}", result.text.encode(), "sbom")


def _provenance(project: Project, options: Options, built: list[Artifact], out_dir: Path | None) -> list[Artifact]:
    import os

    from mcp_comply.generate import provenance as pv
    from mcp_comply.generate.sbom import SBOM_JSON, SBOM_XML

    sbom: tuple[str, bytes] | None = None
    for name in (SBOM_JSON, SBOM_XML):
        content = _existing(f"{RELEASE_DIR}/{name}", built, out_dir)
        if content is not None:
            sbom = (name, content)
            break
    missing = [str(p) for p in options.artifacts if not p.is_file()]
    if missing:
        raise InputError(f"no such file(s): {', '.join(missing)}", source="--artifacts")
    byproducts = [(a.path, a.content) for a in built if a.kind in {"dashboards", "alerts"}]
    ctx = pv.build_context(os.environ, project.root, options.builder_id)
    statement = pv.build_statement(list(options.artifacts), ctx, sbom=sbom, byproducts=byproducts,
                                   started=source_date_epoch())
    if options.keyless:
        _progress.step("signing the provenance with Sigstore (keyless; network)")
        bundle = pv.sign_keyless(statement, identity_token=options.identity_token,
                                 trust_config=options.sigstore_trust_config)
        return [Artifact(f"{RELEASE_DIR}/{pv.BUNDLE_FILE}", bundle, "provenance")]
    if options.signing_key is None:
        raise ConfigError("provenance must be signed: give --signing-key KEY (mcp-comply provenance-keygen) or "
                          "--keyless (Sigstore, in CI)", source="--signing-key")
    _progress.step(f"signing the provenance with {options.signing_key}")
    envelope = pv.sign_envelope(pv.statement_bytes(statement), pv.load_private_key(options.signing_key))
    return [Artifact(f"{RELEASE_DIR}/{pv.ENVELOPE_FILE}", envelope, "provenance")]


_HEADER = "# Generated by mcp-comply generate; do not edit (regenerate, and check with --check).\n"
_TEST_HEADER = _HEADER + "# Run: promtool test rules " + "mcp-comply.rules.test.yaml\n"


def generate(project: Project, kinds: Iterable[str], out_dir: Path | None = None, *,
             check: bool = False, options: Options | None = None) -> GenerateResult:
    """Write (or with ``check``, compare) the artefacts under ``out_dir`` (default: the config's
    ``out_dir`` relative to the project root)."""
    if out_dir is None:
        out_dir = project.root / (project.config.out_dir if project.config is not None else ".")
    artifacts = build(project, kinds, options, out_dir)
    result = GenerateResult(out_dir, artifacts)
    if check:
        result.drifted = drift(out_dir, artifacts)
        return result
    for artifact in artifacts:
        target = out_dir / artifact.path
        try:
            unchanged = target.read_bytes() == artifact.content
        except OSError:
            unchanged = False
        if not unchanged:
            write_atomic(target, artifact.content)
            result.written.append(artifact.path)
    return result
