"""The ``mcp-comply`` command: parse, call one library function, map errors to exit codes.

Exit codes: 0 ok, 1 a finding (e.g. a mismatch or tampering), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mcp_comply.exceptions import ConfigError, MCPComplyError


def _parser() -> argparse.ArgumentParser:
    from mcp_comply import __version__

    parser = argparse.ArgumentParser(prog="mcp-comply", description="Observability and compliance for MCP servers.")
    parser.add_argument("--version", action="version", version=f"mcp-comply {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the instrumented example server against a real client and summarise")
    demo.add_argument("--out", type=Path, default=Path("mcp-comply-demo"),
                      help="folder for the demo's audit log, keys and server log (rewritten each run)")
    gen = sub.add_parser("generate", help="write dashboards, alert rules and other release artefacts",
                         description="Generate release artefacts from the project's config and policy. "
                                     "Exit 0 when written (or, with --check, up to date), 1 on drift, 2 on bad config.")
    gen.add_argument("--config", type=Path, default=None,
                     help="project config (default: ./mcp-comply.yaml, else [tool.mcp-comply] in ./pyproject.toml; "
                          "without either, the built-in default policy)")
    gen.add_argument("--policy", type=Path, default=None, help="policy file (overrides the config's policy)")
    gen.add_argument("--out", type=Path, default=None, help="output folder (default: the config's out_dir)")
    gen.add_argument("--only", default=None,
                     help="comma-separated kinds: dashboards,alerts,sbom,provenance (default: dashboards and alerts; "
                          "sbom too with a project config; provenance too with --artifacts)")
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file differs from the output")
    release = gen.add_argument_group("SBOM and provenance")
    release.add_argument("--artifacts", nargs="+", type=Path, default=[], metavar="FILE",
                         help="the built files the provenance attests (e.g. dist/*)")
    release.add_argument("--signing-key", type=Path, default=None, help="Ed25519 key (mcp-comply provenance-keygen)")
    release.add_argument("--keyless", action="store_true",
                         help="sign with Sigstore (OIDC identity from $SIGSTORE_ID_TOKEN or the CI; needs network)")
    release.add_argument("--sigstore-trust-config", type=Path, default=None,
                         help="Sigstore client trust config (a private Sigstore deployment; default: public good)")
    release.add_argument("--builder-id", default=None, help="override the builder id taken from the CI environment")
    release.add_argument("--sbom-source", choices=("environment", "pip-report", "lock"), default=None,
                         help="where components come from (default: the config's sbom.source, else environment)")
    release.add_argument("--sbom-file", type=Path, default=None, help="the pip report or lock file for --sbom-source")
    release.add_argument("--hashes-from", type=Path, action="append", default=[], metavar="FILE",
                         help="pip report or lock file whose artefact hashes are added (repeatable)")
    release.add_argument("--sbom-format", choices=("json", "xml"), default=None)
    release.add_argument("--sbom-scope", choices=("runtime", "all"), default=None,
                         help="runtime: the project's dependency closure (default); all: everything in the source")

    vp = sub.add_parser("verify-provenance", help="verify a signed provenance attestation",
                        description="Check the signature, that every given file is a subject, and the builder. "
                                    "Exit 0 verified, 1 a finding, 2 usage or configuration error.")
    vp.add_argument("envelope", type=Path, help="DSSE envelope (provenance.intoto.json) or Sigstore bundle")
    vp.add_argument("--key", type=Path, action="append", default=[], help="Ed25519 public key (repeatable)")
    vp.add_argument("--artifacts", nargs="+", type=Path, default=[], metavar="FILE", help="files that must be subjects")
    vp.add_argument("--builder-id", default=None, help="the builder id the provenance must name")
    vp.add_argument("--cert-identity", default=None, help="Sigstore bundle: the signer's certificate identity")
    vp.add_argument("--cert-oidc-issuer", default=None, help="Sigstore bundle: the identity's OIDC issuer")
    vp.add_argument("--staging", action="store_true", help="Sigstore bundle: use the staging trust root")
    vp.add_argument("--json", action="store_true")
    ck = sub.add_parser("check", help="the release gate: evaluate the project against the policy's controls",
                        description="Exit 0 when every required control passes, 1 otherwise, "
                                    "2 on configuration errors.")
    ck.add_argument("--config", type=Path, default=None, help="project config (as for generate)")
    ck.add_argument("--policy", type=Path, default=None, help="policy file (overrides the config's policy)")
    ck.add_argument("--out", type=Path, default=None, help="where generate wrote its output (default: config out_dir)")
    ck.add_argument("--artifacts", nargs="+", type=Path, default=[], metavar="FILE",
                    help="built files the provenance must cover (default: config release.artifacts)")
    ck.add_argument("--provenance-key", type=Path, default=None, help="public key of the provenance signature")
    ck.add_argument("--audit-dir", type=Path, default=None, help="an audit directory whose chain must verify")
    ck.add_argument("--audit-key", type=Path, default=None, help="public key of the audit checkpoints")
    ck.add_argument("--json", action="store_true")
    kg = sub.add_parser("provenance-keygen", help="write an Ed25519 key pair for signing provenance")
    kg.add_argument("--out", type=Path, required=True, help="folder for provenance-signing.key and .pub")
    from mcp_comply.audit.cli import add_parser

    add_parser(sub)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from mcp_comply.generate import Options, default_kinds, generate, parse_only, resolve_project

    options = Options(artifacts=tuple(args.artifacts), signing_key=args.signing_key, keyless=args.keyless,
                      sigstore_trust_config=args.sigstore_trust_config,
                      builder_id=args.builder_id, sbom_source=args.sbom_source, sbom_file=args.sbom_file,
                      hashes_from=tuple(args.hashes_from), sbom_format=args.sbom_format, sbom_scope=args.sbom_scope)
    project = resolve_project(config=args.config, policy=args.policy)
    kinds = parse_only(args.only) if args.only is not None else default_kinds(project, options)
    result = generate(project, kinds, args.out, check=args.check, options=options)
    where = result.out_dir
    if args.check:
        for path, state in result.drifted:
            print(f"drift: {where / path}: {state}", file=sys.stderr)
        if result.drifted:
            print(f"{len(result.drifted)} of {len(result.artifacts)} generated files are out of date; "
                  "run mcp-comply generate without --check", file=sys.stderr)
            return 1
        print(f"up to date: {len(result.artifacts)} files ({', '.join(kinds)}) under {where}")
        return 0
    for artifact in result.artifacts:
        state = "wrote" if artifact.path in result.written else "unchanged"
        print(f"{state:9} {where / artifact.path}")
        if artifact.kind == "sbom" and artifact.path.endswith(".json"):
            _sbom_hint(artifact.content)
    print(f"policy: {project.policy_source}")
    return 0


def _sbom_hint(content: bytes) -> None:
    import json

    components = json.loads(content).get("components", [])
    hashed = sum(1 for c in components if c.get("hashes"))
    print(f"          {len(components)} components, {hashed} with artefact hashes")
    if components and not hashed:
        print("          an installed environment records no artefact hashes: install with "
              "`pip install --report install-report.json ...` and pass --hashes-from install-report.json")


def _check(args: argparse.Namespace) -> int:
    import json

    from mcp_comply.check import inputs_from, run_check
    from mcp_comply.generate import resolve_project

    project = resolve_project(config=args.config, policy=args.policy)
    inputs = inputs_from(project, out_dir=args.out, artifacts=tuple(args.artifacts),
                         provenance_key=args.provenance_key, audit_dir=args.audit_dir, audit_key=args.audit_key)
    report = run_check(project, inputs)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"mcp-comply check: {project.root} (policy {project.policy_source})\n")
        print(report.table())
    return 0 if report.ok else 1


def _verify_provenance(args: argparse.Namespace) -> int:
    import json

    from mcp_comply.generate import provenance as pv

    if args.cert_identity or args.cert_oidc_issuer:
        if not (args.cert_identity and args.cert_oidc_issuer):
            raise ConfigError("a Sigstore bundle needs both --cert-identity and --cert-oidc-issuer",
                              source="--cert-identity")
        report = pv.verify_bundle(args.envelope, identity=args.cert_identity, issuer=args.cert_oidc_issuer,
                                  artifacts=args.artifacts, expected_builder=args.builder_id, staging=args.staging)
    else:
        report = pv.verify_envelope(args.envelope, keys=args.key, artifacts=args.artifacts,
                                    expected_builder=args.builder_id)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.checked:
            print(f"ok       {line}")
        for line in report.findings:
            print(f"FINDING  {line}")
        if args.builder_id is None and report.statement is not None:
            print(f"note     builder not checked (it is {report.statement.predicate.runDetails.builder.id!r}); "
                  "pass --builder-id")
        print("verified" if report.ok else "NOT VERIFIED")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return per command
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 for --help/--version
        return int(exc.code) if isinstance(exc.code, int) else 2
    try:
        if args.command == "audit":
            from mcp_comply.audit.cli import run

            return run(args)
        if args.command == "generate":
            return _generate(args)
        if args.command == "check":
            return _check(args)
        if args.command == "verify-provenance":
            return _verify_provenance(args)
        if args.command == "provenance-keygen":
            from mcp_comply.generate.provenance import keygen

            private, public = keygen(args.out)
            print(f"private key: {private} (keep it secret; mode 0600)\npublic key:  {public}")
            return 0
        from mcp_comply.demo import run_demo

        return run_demo(output_dir=args.out)
    except ConfigError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        return 2
    except MCPComplyError as exc:
        print(f"error: {exc.diagnostics()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
