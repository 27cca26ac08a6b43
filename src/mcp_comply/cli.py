"""The ``mcp-comply`` command: parse, call one library function, map errors to exit codes.

    mcp-comply demo
    mcp-comply generate --check
    mcp-comply audit verify /var/log/mcp-audit --key audit-signing.pub

Exit codes: 0 ok; 1 a finding (verification failed, drift, a required control fails) or an
operation that failed; 2 usage, configuration or input error (one line naming the argument or file
and the reason); 130 interrupted (Ctrl-C); 141 the reader of stdout went away (``| head``).

Building the parser imports only the standard library, so ``--help`` and usage errors answer at
once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from mcp_comply import _argtypes as at
from mcp_comply.exceptions import (
    ConfigError,
    GenerationError,
    InputError,
    InstrumentationError,
    IntegrityError,
    MCPComplyError,
    MissingExtraError,
)

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141

# Error type -> exit code, the one place the command line decides (first match wins).
EXIT_CODES: tuple[tuple[type[MCPComplyError], int], ...] = (
    (IntegrityError, EXIT_FINDING),
    (GenerationError, EXIT_FINDING),
    (InputError, EXIT_USAGE),
    (ConfigError, EXIT_USAGE),
    (MissingExtraError, EXIT_USAGE),
    (InstrumentationError, EXIT_USAGE),
    (MCPComplyError, EXIT_FINDING),
)

# The artefact kinds of `generate --only` (generate.KINDS; kept here so --help imports nothing).
KINDS: tuple[str, ...] = ("dashboards", "alerts", "sbom", "provenance", "ai-act")
POLICY_NAMES: tuple[str, ...] = ("default", "strict")

# What the release pipeline imports: module -> the distribution that provides it.
RELEASE_MODULES: dict[str, str] = {
    "grafanalib": "grafanalib",
    "cyclonedx": "cyclonedx-python-lib",
    "packageurl": "packageurl-python",
    "lxml": "lxml",
    "rfc3987_syntax": "jsonschema[format-nongpl]",
    "packaging": "packaging",
}
RELEASE_COMMANDS = frozenset({"generate", "check", "demo"})


def exit_code(exc: MCPComplyError) -> int:
    """The exit code of an error, by its type."""
    return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (a newline in a file name becomes ``\\n``), so
    that one message stays one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage block) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


class _Version(argparse.Action):
    """--version, resolved only when asked (importlib.metadata is not free)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from mcp_comply import __version__

        print(f"mcp-comply {__version__}")
        parser.exit()


def policy_arg(text: str) -> str:
    """--policy: a file, or the name of a policy shipped with mcp-comply (default, strict)."""
    path = Path(text)
    if path.exists():
        return str(at.existing_file(text))
    if text in POLICY_NAMES:
        return text
    if "/" in text or os.sep in text or path.suffix:
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    raise argparse.ArgumentTypeError(f"{text!r} is neither a file nor a shipped policy ({', '.join(POLICY_NAMES)})")


_POLICY_HELP = ("policy file, or a policy shipped with mcp-comply: " + " or ".join(POLICY_NAMES) +
                " (default: the config's policy, else the built-in defaults)")
_CONFIG_HELP = ("project config file: mcp-comply.yaml, or a pyproject.toml with [tool.mcp-comply] (default: "
                "./mcp-comply.yaml, else ./pyproject.toml")
_QUIET_HELP = "print no progress lines on stderr"


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = _Parser(prog="mcp-comply", description="Observability and compliance for MCP servers. "
                     "Exit codes: 0 ok, 1 a finding (verification failed, drift, a failing control), "
                     "2 usage, configuration or input error.")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="run the instrumented example server against a real client and summarise",
                          description="Start the example weather server on 127.0.0.1 with mcp-comply, drive it "
                                      "with the MCP SDK's client, verify its audit log, generate every release "
                                      "artefact for it and run the release gate. Needs mcp-comply[release]. "
                                      "Exit 0 when everything was counted, verified and passed, else 1.")
    demo.add_argument("--out", type=at.out_dir, default=Path("mcp-comply-demo"), metavar="DIR",
                      help="folder for the demo's audit log, keys, server log and project (default: "
                           "./mcp-comply-demo; a previous demo folder there is replaced, any other folder "
                           "is refused)")
    demo.add_argument("-q", "--quiet", action="store_true", help=_QUIET_HELP)

    gen = sub.add_parser("generate", help="write dashboards, alert rules, SBOM, provenance and AI Act documents",
                         description="Generate release artefacts from the project's config and policy. Needs "
                                     "mcp-comply[release]. Exit 0 when written (or, with --check, up to date), "
                                     "1 on drift, 2 on bad input or config.")
    gen.add_argument("--config", type=at.existing_file, default=None, metavar="FILE",
                     help=_CONFIG_HELP + "; without either, dashboards and alerts only)")
    gen.add_argument("--policy", type=policy_arg, default=None, metavar="FILE|NAME", help=_POLICY_HELP)
    gen.add_argument("--out", type=at.out_dir, default=None, metavar="DIR",
                     help="output folder (default: the config's out_dir, else the current folder)")
    gen.add_argument("--only", type=at.kinds_list(KINDS), default=None, metavar="KINDS",
                     help=f"comma-separated kinds, from {','.join(KINDS)} (default: dashboards and alerts; sbom "
                          "and ai-act too with a project config; provenance too with --artifacts)")
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file differs from the output")
    gen.add_argument("-q", "--quiet", action="store_true", help=_QUIET_HELP)
    release = gen.add_argument_group("SBOM and provenance")
    release.add_argument("--artifacts", nargs="+", action="extend", type=at.existing_file, default=[],
                         metavar="FILE", help="the built files the provenance attests, e.g. dist/* (repeatable)")
    release.add_argument("--signing-key", type=at.key_file("pem-private", "signing provenance"), default=None,
                         metavar="KEY", help="Ed25519 private key from mcp-comply provenance-keygen "
                                         "(provenance-signing.key; an audit key is refused)")
    release.add_argument("--keyless", action="store_true",
                         help="sign with Sigstore instead (OIDC identity from $SIGSTORE_ID_TOKEN or the CI; needs "
                              "network and mcp-comply[sigstore])")
    release.add_argument("--sigstore-trust-config", type=at.existing_file, default=None, metavar="FILE",
                         help="Sigstore client trust config (a private Sigstore deployment; default: public good)")
    release.add_argument("--builder-id", type=at.non_empty("a builder id URI"), default=None, metavar="URI",
                         help="override the builder id taken from the CI environment")
    release.add_argument("--sbom-source", choices=("environment", "pip-report", "lock"), default=None,
                         help="where components come from: environment (installed distributions), pip-report "
                              "(pip install --dry-run --ignore-installed --report FILE) or lock (uv.lock, "
                              "pylock.toml, hash-pinned requirements) (default: the config's sbom.source, else "
                              "environment)")
    release.add_argument("--sbom-file", type=at.existing_file, default=None, metavar="FILE",
                         help="the pip report or lock file for --sbom-source pip-report or lock")
    release.add_argument("--hashes-from", type=at.existing_file, action="append", default=[], metavar="FILE",
                         help="pip report or lock file whose artefact hashes are added (repeatable)")
    release.add_argument("--sbom-format", choices=("json", "xml"), default=None,
                         help="CycloneDX 1.6 encoding: json (sbom.cdx.json) or xml (sbom.cdx.xml) "
                              "(default: the config's sbom.format, else json)")
    release.add_argument("--sbom-scope", choices=("runtime", "all"), default=None,
                         help="runtime: the project's dependency closure; all: everything in the source "
                              "(default: the config's sbom.scope, else runtime)")
    release.add_argument("--sbom-extras", type=at.names_list("an extra"), default=None, metavar="EXTRAS",
                         help="comma-separated extras of the project installed with it, whose requirements become "
                              "the root's dependencies in either scope; '' for none (default: the config's "
                              "sbom.extras, else with --sbom-scope all those a pip report says were requested, or "
                              "in an installed environment each extra whose requirements are all installed)")

    vp = sub.add_parser("verify-provenance", help="verify a signed provenance attestation",
                        description="Check the signature, that every given file is a subject, and the builder. "
                                    "ENVELOPE may come before or after the options. "
                                    "Exit 0 verified, 1 a finding, 2 usage or input error.")
    vp.add_argument("envelope", type=at.existing_file, nargs="?", default=None, metavar="ENVELOPE",
                    help="DSSE envelope (provenance.intoto.json) or Sigstore bundle (provenance.sigstore.json)")
    vp.add_argument("--key", type=at.key_file("pem-public", "verifying provenance"), action="append", default=[],
                    metavar="PUBKEY", help="Ed25519 public key from mcp-comply provenance-keygen "
                                           "(provenance-signing.pub; repeatable)")
    vp.add_argument("--artifacts", nargs="+", action="extend", type=at.existing_file, default=[], metavar="FILE",
                    help="files that must be subjects (repeatable); when ENVELOPE comes last, the last file "
                         "given is the envelope")
    vp.add_argument("--builder-id", type=at.non_empty("a builder id URI"), default=None, metavar="URI",
                    help="the builder id the provenance must name")
    vp.add_argument("--cert-identity", type=at.non_empty("the certificate identity"), default=None,
                    metavar="IDENTITY",
                    help="Sigstore bundle: the signer's certificate identity (e.g. the workflow URL)")
    vp.add_argument("--cert-oidc-issuer", type=at.non_empty("the OIDC issuer URL"), default=None, metavar="URL",
                    help="Sigstore bundle: the identity's OIDC issuer")
    vp.add_argument("--staging", action="store_true", help="Sigstore bundle: use the staging trust root")
    vp.add_argument("--json", action="store_true",
                    help="print the result as JSON (ok, checked, findings, notes) instead of text")

    ck = sub.add_parser("check", help="the release gate: evaluate the project against the policy's controls",
                        description="Evaluate the project against the policy's controls. Needs mcp-comply[release]. "
                                    "Exit 0 when every required control passes, 1 otherwise, 2 on bad input or "
                                    "configuration.")
    ck.add_argument("--config", type=at.existing_file, default=None, metavar="FILE",
                    help=_CONFIG_HELP + "; check needs one)")
    ck.add_argument("--policy", type=policy_arg, default=None, metavar="FILE|NAME", help=_POLICY_HELP)
    ck.add_argument("--out", type=at.out_dir, default=None, metavar="DIR",
                    help="where generate wrote its output (default: the config's out_dir)")
    ck.add_argument("--artifacts", nargs="+", action="extend", type=at.existing_file, default=[], metavar="FILE",
                    help="built files the provenance must cover (repeatable; default: the config's "
                         "release.artifacts)")
    ck.add_argument("--provenance-key", type=at.key_file("pem-public", "the provenance control"), default=None,
                    metavar="PUBKEY", help="public key of the provenance signature (provenance-signing.pub)")
    ck.add_argument("--audit-dir", type=at.existing_dir, default=None, metavar="DIR",
                    help="an audit directory whose chain must verify")
    ck.add_argument("--audit-key", type=at.key_file("audit-public", "the audit-chain control"), default=None,
                    metavar="PUBKEY", help="public key of the audit checkpoints (audit-signing.pub)")
    ck.add_argument("--json", action="store_true",
                    help="print the result as JSON (ok, failed_required, and each control's status and detail)")
    ck.add_argument("-q", "--quiet", action="store_true", help=_QUIET_HELP)

    kg = sub.add_parser("provenance-keygen", help="write an Ed25519 key pair for signing provenance",
                        description="Write provenance-signing.key (Ed25519, PKCS#8 PEM, mode 0600) and "
                                    "provenance-signing.pub (PEM) into DIR; refuses to overwrite a key.")
    kg.add_argument("--out", type=at.out_dir, required=True, metavar="DIR",
                    help="folder for provenance-signing.key and provenance-signing.pub (created if missing)")

    from mcp_comply.audit.cli import add_parser

    add_parser(sub, detailed="audit" in argv and ("show" in argv or "verify" in argv))
    return parser


def require_release(command: str) -> None:
    """MissingExtraError (exit 2) naming what to install when the release pipeline is absent."""
    from importlib.util import find_spec

    def absent(module: str) -> bool:
        try:
            return find_spec(module) is None
        except (ImportError, ValueError):  # a finder that refuses it, or a None entry in sys.modules
            return True

    missing = sorted({dist for module, dist in RELEASE_MODULES.items() if absent(module)})
    if missing:
        raise MissingExtraError(", ".join(missing), "release", feature=f"mcp-comply {command}")


def _generate(args: argparse.Namespace) -> int:
    from mcp_comply import _progress
    from mcp_comply.generate import Options, default_kinds, generate, resolve_project

    options = Options(artifacts=tuple(args.artifacts), signing_key=args.signing_key, keyless=args.keyless,
                      sigstore_trust_config=args.sigstore_trust_config,
                      builder_id=args.builder_id, sbom_source=args.sbom_source, sbom_file=args.sbom_file,
                      hashes_from=tuple(args.hashes_from), sbom_format=args.sbom_format, sbom_scope=args.sbom_scope,
                      sbom_extras=args.sbom_extras)
    with _progress.reporting("mcp-comply generate", enabled=not args.quiet):
        project = resolve_project(config=args.config, policy=args.policy)
        kinds = args.only if args.only is not None else default_kinds(project, options)
        result = generate(project, kinds, args.out, check=args.check, options=options)
    where = result.out_dir
    if args.check:
        for path, state in result.drifted:
            print(f"drift: {where / path}: {state}", file=sys.stderr)
        if result.drifted:
            print(f"{len(result.drifted)} of {len(result.artifacts)} generated files are out of date; "
                  "run mcp-comply generate without --check", file=sys.stderr)
            return EXIT_FINDING
        print(f"up to date: {len(result.artifacts)} files ({', '.join(kinds)}) under {where}")
        return EXIT_OK
    for artifact in result.artifacts:
        state = "wrote" if artifact.path in result.written else "unchanged"
        print(f"{state:9} {where / artifact.path}")
        if artifact.kind == "sbom" and artifact.path.endswith(".json"):
            _sbom_hint(artifact.content)
    print(f"policy: {project.policy_source}")
    return EXIT_OK


def _sbom_hint(content: bytes) -> None:
    import json

    components = json.loads(content).get("components", [])
    hashed = sum(1 for c in components if c.get("hashes"))
    print(f"          {len(components)} components, {hashed} with artefact hashes")
    if components and not hashed:
        print("          an installed environment records no artefact hashes: run `pip freeze --local "
              "--exclude-editable > installed.txt` and `pip install --dry-run --ignore-installed --no-deps "
              "--quiet --report hashes.json -r installed.txt`, then pass --hashes-from hashes.json "
              "(README: SBOM hashes)")


def _check(args: argparse.Namespace) -> int:
    import json

    from mcp_comply import _progress
    from mcp_comply.check import inputs_from, run_check
    from mcp_comply.generate import resolve_project

    with _progress.reporting("mcp-comply check", enabled=not args.quiet):
        project = resolve_project(config=args.config, policy=args.policy)
        inputs = inputs_from(project, out_dir=args.out, artifacts=tuple(args.artifacts),
                             provenance_key=args.provenance_key, audit_dir=args.audit_dir, audit_key=args.audit_key)
        report = run_check(project, inputs)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"mcp-comply check: {project.root} (policy {project.policy_source})\n")
        print(report.table())
    return EXIT_OK if report.ok else EXIT_FINDING


def _verify_provenance(args: argparse.Namespace) -> int:
    import json

    from mcp_comply.generate import provenance as pv

    envelope, artifacts = args.envelope, list(args.artifacts)
    if envelope is None:
        if len(artifacts) < 2:
            raise InputError("the envelope to verify is missing (give ENVELOPE)", source="verify-provenance")
        envelope = artifacts.pop()  # `--artifacts A B ENVELOPE`: the positional came last
    if args.cert_identity or args.cert_oidc_issuer:
        if not (args.cert_identity and args.cert_oidc_issuer):
            raise InputError("a Sigstore bundle needs both --cert-identity and --cert-oidc-issuer",
                             source="--cert-identity" if not args.cert_identity else "--cert-oidc-issuer")
        report = pv.verify_bundle(envelope, identity=args.cert_identity, issuer=args.cert_oidc_issuer,
                                  artifacts=artifacts, expected_builder=args.builder_id, staging=args.staging)
    else:
        report = pv.verify_envelope(envelope, keys=args.key, artifacts=artifacts,
                                    expected_builder=args.builder_id)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.checked:
            print(f"ok       {line}")
        for line in report.findings:
            print(f"FINDING  {line}")
        for line in report.notes:
            print(f"note     {line}")
        print("verified" if report.ok else "NOT VERIFIED")
    return EXIT_OK if report.ok else EXIT_FINDING


def _provenance_keygen(args: argparse.Namespace) -> int:
    from mcp_comply.generate.provenance import keygen

    private, public = keygen(args.out)
    print(f"private key: {private} (keep it secret; mode 0600)\npublic key:  {public}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from mcp_comply import _progress
    from mcp_comply.demo import run_demo

    with _progress.reporting("mcp-comply demo", enabled=not args.quiet):
        return run_demo(output_dir=args.out)


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command in RELEASE_COMMANDS:
        require_release(command)
    if command == "audit":
        from mcp_comply.audit.cli import run

        return run(args)
    handlers = {"generate": _generate, "check": _check, "verify-provenance": _verify_provenance,
                "provenance-keygen": _provenance_keygen, "demo": _demo}
    return handlers[command](args)


def _prog(args: argparse.Namespace) -> str:
    parts = ["mcp-comply", args.command]
    if getattr(args, "audit_command", None):
        parts.append(args.audit_command)
    return " ".join(parts)


def _say(prog: str, lines: Sequence[str]) -> None:
    """One ``PROG: error: ...`` line on stderr per entry of ``lines``."""
    for line in lines or [""]:
        print(f"{prog}: error: {one_line(line)}", file=sys.stderr)


def _lines(exc: MCPComplyError) -> list[str]:
    """What to say about an error: one line per problem of a config error, else its diagnostics
    (whose line breaks can only come from a file name or a value quoted in it)."""
    if isinstance(exc, ConfigError):
        return [str(problem) for problem in exc.problems]
    return [exc.diagnostics()]


class _Stdout:
    """``sys.stdout`` while a command runs: a write that fails (``> /dev/full``) raises an OSError
    that names stdout, so the one error line can say where it was."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.error: OSError | None = None  # the first failure (argparse's --help swallows it)

    def _failed(self, exc: OSError) -> OSError:
        if isinstance(exc, BrokenPipeError):
            return exc
        self.error = self.error or OSError(exc.errno, exc.strerror, "stdout")
        return self.error

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _stdout_gone() -> None:
    """The reader closed stdout (``| head``): point stdout at /dev/null so the interpreter's final
    flush does not complain about the pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - stdout is not a real file (tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)
    try:
        return _main(argv)
    finally:
        sys.stdout = stdout


def _main(argv: list[str]) -> int:
    parser = _parser(argv)
    prog = parser.prog
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits 2 on usage errors and 0 for --help/--version
            sys.stdout.flush()  # --help > /dev/full is an error too
            if isinstance(sys.stdout, _Stdout) and sys.stdout.error is not None:
                raise sys.stdout.error from None
            return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
        prog = _prog(args)
        code = _dispatch(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _stdout_gone()
        return EXIT_BROKEN_PIPE
    except MCPComplyError as exc:
        _say(prog, _lines(exc))
        return exit_code(exc)
    except OSError as exc:  # a file or folder named on the command line (or derived from it), or stdout
        where = exc.filename if exc.filename is not None else "input/output"
        if where == "stdout":
            _stdout_gone()  # what is still buffered would fail again at exit
        _say(prog, [f"{where}: {exc.strerror or exc}"])
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
