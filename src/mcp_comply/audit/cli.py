"""``mcp-comply audit keygen | verify | show | prove``: thin wrappers over the audit library."""

from __future__ import annotations

import argparse
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp_comply.audit import _format as fmt
from mcp_comply.audit import merkle
from mcp_comply.audit.keys import keygen, load_verifier
from mcp_comply.audit.verify import DEFAULT_GRACE_S, verify_directory
from mcp_comply.exceptions import ConfigError


def add_parser(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the tamper-evident audit log").add_subparsers(dest="audit_command",
                                                                                       required=True)
    key = audit.add_parser("keygen", help="create an Ed25519 checkpoint signing key pair")
    key.add_argument("--out", required=True, type=Path)
    key.add_argument("--name", default=None, help="key name in signatures (default mcp-comply-audit@HOST)")
    ver = audit.add_parser("verify", help="verify every chain and checkpoint of an audit directory")
    ver.add_argument("directory", type=Path)
    ver.add_argument("--key", type=Path, help="the public key (audit-signing.pub)")
    ver.add_argument("--checkpoints", type=Path, help="checkpoint folder (default DIR/checkpoints)")
    ver.add_argument("--state", type=Path, help="remember the verified size here; detects rollback next time")
    ver.add_argument("--json", action="store_true")
    ver.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, metavar="SECONDS",
                     help="with --key: an unsigned tail younger than the chain's checkpoint interval plus this "
                          f"is a live writer's and only reported (default {DEFAULT_GRACE_S:g})")
    ver.add_argument("--fast", action="store_true",
                     help="skip the full JSON parse of ordinary records (about 4x faster; duplicate keys "
                          "inside them are then not looked for)")
    show = audit.add_parser("show", help="read and filter records")
    show.add_argument("directory", type=Path)
    show.add_argument("--tool")
    show.add_argument("--kind")
    show.add_argument("--outcome")
    show.add_argument("--since", help="RFC 3339 time, e.g. 2026-11-24T10:00:00Z")
    show.add_argument("--json", action="store_true")
    prove = audit.add_parser("prove", help="inclusion proof of a record, or consistency between two sizes")
    prove.add_argument("directory", type=Path)
    prove.add_argument("--chain", default="chain-0")
    prove.add_argument("--seq", type=int, help="record to prove (inclusion)")
    prove.add_argument("--old-size", type=int, help="older tree size (consistency)")
    prove.add_argument("--size", type=int, help="tree size (default: all records)")


def run(args: argparse.Namespace) -> int:
    command = args.audit_command
    if command == "keygen":
        private, public = keygen(args.out, args.name)
        print(f"private key: {private} (mode 0600; keep it off the log host if you can)")
        print(f"public key:  {public} (give it to whoever verifies: --key)")
        return 0
    if command == "verify":
        return _verify(args)
    if command == "show":
        return _show(args)
    return _prove(args)


def _verify(args: argparse.Namespace) -> int:
    if not args.directory.is_dir():
        raise ConfigError("not a directory", source=str(args.directory))
    verifiers = [load_verifier(args.key)] if args.key else []
    report = verify_directory(args.directory, verifiers=verifiers, checkpoint_dir=args.checkpoints,
                              state_file=args.state, strict_json=not args.fast, grace_s=args.grace)
    if not report.chains:
        raise ConfigError("no audit chains (chain-*/segment-*.jsonl) in this directory", source=str(args.directory))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        for chain in report.chains:
            kept = f" (seq {chain.first_seq} onward; older ones removed by retention)" if chain.first_seq else ""
            print(f"{chain.chain}: {chain.records} records{kept} in {chain.segments} segment(s), "
                  f"{chain.checkpoints_verified} checkpoint(s) verified (latest covers {chain.latest_checkpoint})"
                  + ("" if chain.authenticated is None else
                     f"; authenticated up to {chain.authenticated}, {chain.unsigned} unsigned after it, "
                     + ("sealed" if chain.sealed else "not sealed (live, or ended without close)")))
        for finding in report.findings:
            print(f"FINDING {finding}")
        for note in report.unchecked:
            print(f"NOT CHECKED: {note}")
        print("intact" if report.intact else "TAMPERING OR DAMAGE DETECTED")
    return 0 if report.intact else 1


def _records(directory: Path) -> Any:
    for chain_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        for path in fmt.segments(chain_dir):
            with path.open("rb") as fh:
                for raw in fmt.read_lines(fh):
                    if isinstance(raw, bytes) and raw.endswith(b"\n"):
                        try:
                            yield fmt.parse_line(raw[:-1])
                        except fmt.StrictJSONError:
                            continue


def _show(args: argparse.Namespace) -> int:
    since = datetime.fromisoformat(args.since.replace("Z", "+00:00")) if args.since else None
    for record in _records(args.directory):
        if args.tool and record.get("tool") != args.tool:
            continue
        if args.kind and record.get("kind") != args.kind:
            continue
        if args.outcome and record.get("outcome") != args.outcome:
            continue
        when = datetime.fromisoformat(str(record["ts"]).replace("Z", "+00:00"))
        if since is not None and when < since.astimezone(UTC):
            continue
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            continue
        who = (record.get("client") or {}).get("name") or record.get("principal") or "-"
        detail = record.get("tool") or ""
        if record.get("kind") == fmt.KIND_CALL:
            detail = f"{record.get('method')} {record.get('tool') or ''} -> {record.get('outcome')}" \
                     f" ({record.get('duration_us')} µs) by {who} args={json.dumps(record.get('args'))}"
        print(f"{record['ts']} {record['chain']}#{record['seq']:<6} {record['kind']:<10} {detail}")
    return 0


def _prove(args: argparse.Namespace) -> int:
    chain_dir = args.directory / args.chain
    leaves = []
    for path in fmt.segments(chain_dir):
        with path.open("rb") as fh:
            leaves += [raw.leaf if isinstance(raw, fmt.LongLine) else merkle.leaf_hash(raw)
                       for raw in fmt.read_lines(fh) if isinstance(raw, fmt.LongLine) or raw.endswith(b"\n")]
    size = args.size or len(leaves)
    if size > len(leaves):
        raise ConfigError(f"the chain has only {len(leaves)} records", source=str(chain_dir), path="--size")
    tree = leaves[:size]
    out: dict[str, Any] = {"chain": args.chain, "size": size,
                           "root": base64.b64encode(merkle.root(tree)).decode()}
    if args.seq is not None:
        out.update(kind="inclusion", seq=args.seq, leaf_hash=base64.b64encode(tree[args.seq]).decode(),
                   proof=[base64.b64encode(h).decode() for h in merkle.inclusion_proof(tree, args.seq)])
    elif args.old_size is not None:
        out.update(kind="consistency", old_size=args.old_size,
                   old_root=base64.b64encode(merkle.root(tree[: args.old_size])).decode(),
                   proof=[base64.b64encode(h).decode() for h in merkle.consistency_proof(tree, args.old_size)])
    else:
        raise ConfigError("give --seq (inclusion) or --old-size (consistency)", source="mcp-comply audit prove")
    print(json.dumps(out, indent=2))
    return 0
