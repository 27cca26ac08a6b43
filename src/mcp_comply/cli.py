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
    from mcp_comply.audit.cli import add_parser

    add_parser(sub)
    return parser


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
