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
    gen.add_argument("--only", default=None, help="comma-separated kinds: dashboards,alerts (default: all)")
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file differs from the output")
    from mcp_comply.audit.cli import add_parser

    add_parser(sub)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from mcp_comply.generate import generate, parse_only, resolve_project

    kinds = parse_only(args.only)
    project = resolve_project(config=args.config, policy=args.policy)
    result = generate(project, kinds, args.out, check=args.check)
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
    print(f"policy: {project.policy_source}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
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
