"""``mcp-comply audit keygen | verify | show | prove``: thin wrappers over the audit library.

Arguments are checked where they enter (types, ranges, existence), so a mistake ends as one line
naming the argument and exit 2. The audit library is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mcp_comply import _argtypes as at
from mcp_comply.audit import _format as fmt
from mcp_comply.cli import one_line
from mcp_comply.exceptions import InputError


def key_name(text: str) -> str:
    """--name: what signed notes call the key (no spaces, '+' or control characters)."""
    if not text or any(c.isspace() or c == "+" for c in text) or not text.isprintable():
        raise argparse.ArgumentTypeError(f"{text!r}: a key name has no spaces, '+' or control characters")
    return text


def non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 or more seconds")
    return value


MAX_JOBS = 64
"""``verify --jobs``: each job is a process started at once; a typo (``--jobs 1000``) must not fork
that many."""


def jobs_count(text: str) -> int:
    value = at.positive_int(text)
    if value > MAX_JOBS:
        raise argparse.ArgumentTypeError(f"{value} is too many; give 1 to {MAX_JOBS}")
    return value


def add_parser(sub: Any, *, detailed: bool = False) -> None:
    """The ``audit`` subcommands. ``detailed`` (when ``audit verify`` or ``audit show`` runs) adds
    the valid ``--outcome`` values and the verifier's default grace, which cost imports; the
    parser of any other command does without them."""
    outcomes: Sequence[str] | None = None
    grace: float | None = None
    if detailed:
        from mcp_comply import semconv
        from mcp_comply.audit.verify import DEFAULT_GRACE_S

        outcomes, grace = (semconv.OUTCOME_OK, *semconv.ERROR_TYPES), DEFAULT_GRACE_S
    audit = sub.add_parser("audit", help="the tamper-evident audit log: keygen, verify, show, prove",
                           description="Create checkpoint keys, verify, read and prove the hash-chained audit "
                                       "log. Exit 0 ok (intact), 1 a finding, 2 usage or input error.")
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    key = commands.add_parser("keygen", help="create an Ed25519 checkpoint signing key pair",
                              description="Write audit-signing.key (Ed25519, mode 0600) and audit-signing.pub "
                                          "(the verifier key) into DIR; refuses to overwrite a key.")
    key.add_argument("--out", required=True, type=at.out_dir, metavar="DIR",
                     help="folder for audit-signing.key and audit-signing.pub (created if missing)")
    key.add_argument("--name", default=None, type=key_name,
                     help="key name in signatures, no spaces or '+' (default mcp-comply-audit@HOST)")
    ver = commands.add_parser("verify", help="verify every chain and checkpoint of an audit directory",
                              description="Verify every chain (hashes, order, seq) and every checkpoint "
                                          "(signature, Merkle root, consistency); a chain with a segment gone by the "
                                          "time it is opened (retention, on a live server) is read again, up to 3 "
                                          "times. Exit 0 intact, 1 tampering or damage (or a segment that kept "
                                          "vanishing), 2 usage or input error.")
    ver.add_argument("directory", type=at.existing_dir, metavar="AUDIT_DIR",
                     help="the audit directory (it holds chain-*/segment-*.jsonl)")
    ver.add_argument("--key", type=at.key_file("audit-public", "audit verify"), metavar="PUBKEY",
                     help="the checkpoint public key (audit-signing.pub from mcp-comply audit keygen); without "
                          "it, signatures and truncation are not checked")
    ver.add_argument("--checkpoints", type=at.existing_dir, metavar="DIR",
                     help="checkpoint folder, e.g. a copy shipped off-host (default AUDIT_DIR/checkpoints)")
    ver.add_argument("--state", type=at.state_file, metavar="FILE",
                     help="JSON file remembering the verified size of each chain (created on first use, "
                          "updated when intact); detects a rollback next time")
    ver.add_argument("--json", action="store_true",
                     help="print the report as JSON (chains, findings with file/line/seq/kind, not checked)")
    ver.add_argument("--grace", type=non_negative_seconds, default=grace, metavar="SECONDS",
                     help="with --key: an unsigned tail younger than the chain's checkpoint interval plus this "
                          "is a live writer's and only reported"
                          + (f" (default {grace:g})" if grace is not None else " (default: the verifier's)"))
    ver.add_argument("--fast", action="store_true",
                     help="skip the full JSON parse of ordinary records (about 2x faster; duplicate keys "
                          "inside them are then not looked for)")
    ver.add_argument("--jobs", type=jobs_count, default=None, metavar="N",
                     help="processes that check ordinary records, 1 to 64 (default: one per CPU, up to 8, "
                          "when the segments hold 32 MiB or more; 1: only this one); the report is the same")
    show = commands.add_parser("show", help="read and filter records",
                               description="Print the records of every chain, oldest first, optionally "
                                           "filtered (filters combine with AND). Exit 0; 1 when a segment is not a "
                                           "regular file (mcp-comply audit verify reports it) or vanished after the "
                                           "listing (retention, on a live server: run again); 2 on bad input.")
    show.add_argument("directory", type=at.existing_dir, metavar="AUDIT_DIR", help="the audit directory")
    show.add_argument("--tool", metavar="NAME", help="only calls of this tool (its exact name)")
    show.add_argument("--kind", choices=sorted(fmt.KINDS), metavar="KIND",
                      help=f"only records of this kind: {', '.join(sorted(fmt.KINDS))}")
    outcome_help = (f"only calls with this outcome: {', '.join(outcomes)}" if outcomes else
                    "only calls with this outcome: ok or an error type (see mcp-comply audit show --help)")
    show.add_argument("--outcome", choices=outcomes, metavar="OUTCOME", help=outcome_help)
    show.add_argument("--since", type=at.rfc3339, metavar="TIME",
                      help="only records at or after this RFC 3339 time, e.g. 2026-11-24T10:00:00Z (a date "
                           "alone is its midnight UTC)")
    show.add_argument("--json", action="store_true", help="print each record as one JSON line, as stored")
    prove = commands.add_parser("prove", help="inclusion proof of a record, or consistency between two sizes",
                                description="Print an RFC 6962 inclusion proof (--seq) or consistency proof "
                                            "(--old-size) over a chain's records, as JSON. Exit 0; 1 when a "
                                            "segment is not a regular file (mcp-comply audit verify reports it) or "
                                            "vanished after the listing (retention, on a live server: run again); "
                                            "2 on bad input.")
    prove.add_argument("directory", type=at.existing_dir, metavar="AUDIT_DIR", help="the audit directory")
    prove.add_argument("--chain", default="chain-0", metavar="CHAIN",
                       help="chain id: a chain-* folder of AUDIT_DIR (default chain-0)")
    which = prove.add_mutually_exclusive_group(required=True)
    which.add_argument("--seq", type=at.non_negative_int, metavar="N",
                       help="inclusion: the record's seq, 0 to size-1")
    which.add_argument("--old-size", type=at.positive_int, metavar="N",
                       help="consistency: the older tree size, 1 to size")
    prove.add_argument("--size", type=at.positive_int, metavar="N",
                       help="tree size, 1 to the number of records (default: all records)")
    prove.add_argument("--checkpoints", type=at.existing_dir, metavar="DIR",
                       help="checkpoint folder (default AUDIT_DIR/checkpoints); the Merkle tiles the writer "
                            "keeps there in CHAIN/tile/ make a proof read O(log n) hashes, else the whole "
                            "chain is read")


def _chains(directory: Path) -> list[Path]:
    """The chain folders; InputError when there are none (an empty or unrelated folder)."""
    try:
        chains = sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith("chain-")
                        and fmt.segments(p))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(directory)) from None
    if not chains:
        raise InputError("no audit chains (chain-*/segment-*.jsonl) in this folder", source=str(directory))
    return chains


def _segments(chain_dir: Path) -> list[Path]:
    """The chain's segment files; IntegrityError (exit 1) for one that is not a regular file: a
    FIFO would block show or prove for good, and ``audit verify`` reports it as a finding."""
    from mcp_comply._files import not_regular
    from mcp_comply.exceptions import IntegrityError

    paths = fmt.segments(chain_dir)
    for path in paths:
        odd = not_regular(path)
        if odd is not None:
            raise IntegrityError(_not_a_segment(path, odd))
    return paths


def _not_a_segment(path: Path, kind: str) -> str:
    return f"{path}: not a regular file ({kind}): not a segment the writer wrote (mcp-comply audit verify reports it)"


def _open_segment(path: Path, command: str) -> Any:
    """The segment open to read; IntegrityError (exit 1) when something else has been put in its place
    since :func:`_segments` listed it (a plain open of a FIFO would block), or it is gone."""
    from mcp_comply._files import NotRegularFile, open_regular

    try:
        return open_regular(path)
    except (NotRegularFile, FileNotFoundError) as exc:
        raise _unreadable_segment(path, command, exc) from None


def _unreadable_segment(path: Path, command: str, exc: OSError) -> Exception:
    """What to raise for a listed segment that could not be opened: not a regular file now (a link to
    nothing, a FIFO...), or gone. Neither is a mistake in the command line, so neither is exit 2: a
    segment that vanished was removed after the listing, by retention (which removes the oldest
    segments while the server runs) or by someone else, and is exit 1 like the rest."""
    from mcp_comply._files import not_regular
    from mcp_comply.exceptions import IntegrityError

    kind = getattr(exc, "kind", None) or not_regular(path)  # (FileNotFoundError: gone, or a link to nothing)
    if kind is not None:
        return IntegrityError(_not_a_segment(path, kind))
    return IntegrityError(f"{path}: vanished between {command}'s listing of the chain and its open (retention "
                          "removes the oldest segments while the server runs): run again; mcp-comply audit verify "
                          "checks what is left")


def _read_state(path: Path | None) -> None:
    """--state: when the file exists it must be what verify writes (chain -> size and root)."""
    if path is None or not path.exists():
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    except (UnicodeDecodeError, ValueError):
        raise InputError("not a verify state file (not JSON); give a new path or the file an earlier "
                         "--state run wrote", source=str(path)) from None
    good = isinstance(data, dict) and all(
        isinstance(v, dict) and isinstance(v.get("size"), int) and isinstance(v.get("root"), str)
        for v in data.values())
    if not good:
        raise InputError("not a verify state file (expected {chain: {size, root}}); give a new path or the file "
                         "an earlier --state run wrote", source=str(path))


def run(args: argparse.Namespace) -> int:
    command = args.audit_command
    if command == "keygen":
        from mcp_comply.audit.keys import keygen

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
    from mcp_comply.audit.keys import load_verifier
    from mcp_comply.audit.verify import DEFAULT_GRACE_S, verify_directory

    _chains(args.directory)
    _read_state(args.state)
    verifiers = [load_verifier(args.key)] if args.key else []
    grace = DEFAULT_GRACE_S if args.grace is None else args.grace
    report = verify_directory(args.directory, verifiers=verifiers, checkpoint_dir=args.checkpoints,
                              state_file=args.state, strict_json=not args.fast, grace_s=grace, jobs=args.jobs)
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
    for chain_dir in _chains(directory):
        for path in _segments(chain_dir):
            with _open_segment(path, "show") as fh:
                for raw in fmt.read_lines(fh):
                    if isinstance(raw, bytes) and raw.endswith(b"\n"):
                        try:
                            record = fmt.parse_line(raw[:-1])
                        except fmt.StrictJSONError:
                            continue
                        if isinstance(record, dict):  # a line of another shape is verify's finding
                            yield record


def _at_or_after(ts: object, since: Any) -> bool:
    try:
        return bool(at.rfc3339(str(ts)) >= since)
    except argparse.ArgumentTypeError:
        return False  # a record without a readable time cannot be placed after --since


def _show(args: argparse.Namespace) -> int:
    since = args.since
    _chains(args.directory)
    for record in _records(args.directory):
        if args.tool and record.get("tool") != args.tool:
            continue
        if args.kind and record.get("kind") != args.kind:
            continue
        if args.outcome and record.get("outcome") != args.outcome:
            continue
        if since is not None and not _at_or_after(record.get("ts"), since):
            continue
        if args.json:
            print(json.dumps(record, ensure_ascii=False))
            continue
        print(_show_line(record))
    return 0


def _show_line(record: dict[str, Any]) -> str:
    """One record as a line of text. Any field may be missing or of another type in a damaged or
    forged log (verify finds those); show prints what is there. Clients choose tool and client
    names: their control characters are printed escaped, so a name can neither start a fake line
    nor send escape sequences to the reader's terminal."""
    client = record.get("client")
    who = (client.get("name") if isinstance(client, dict) else None) or record.get("principal") or "-"
    detail = record.get("tool") or ""
    if record.get("kind") == fmt.KIND_CALL:
        detail = f"{record.get('method')} {record.get('tool') or ''} -> {record.get('outcome')}" \
                 f" ({record.get('duration_us')} µs) by {who} args={json.dumps(record.get('args'))}"
    ts, chain, seq, kind = (str(record.get(k, "?")) for k in ("ts", "chain", "seq", "kind"))
    return one_line(f"{ts} {chain}#{seq:<6} {kind:<10} {detail}")


def _prove(args: argparse.Namespace) -> int:
    chains = {p.name: p for p in _chains(args.directory)}
    if args.chain not in chains:
        raise InputError(f"no chain {args.chain!r} in {args.directory}; chains there: {', '.join(chains)}",
                         source="--chain")
    from mcp_comply._files import NotRegularFile

    chain_dir = chains[args.chain]
    segments = _segments(chain_dir)
    tile_dir = (args.checkpoints or args.directory / "checkpoints") / args.chain
    try:
        out = _prove_from_tiles(args, segments, tile_dir) if (tile_dir / "tile").is_dir() else None
        if out is None:
            out = _prove_by_scan(args, chain_dir, segments)
    except (NotRegularFile, FileNotFoundError) as exc:  # a segment changed since it was listed
        if exc.filename is None or Path(exc.filename) not in segments:
            raise
        raise _unreadable_segment(Path(exc.filename), "prove", exc) from None
    print(json.dumps(out, indent=2))
    return 0


def _tree_size(args: argparse.Namespace, records: int) -> int:
    """The tree size to prove in, after checking --size, --seq and --old-size against the chain."""
    size = args.size or records
    if size > records:
        raise InputError(f"{size} is beyond the chain: {args.chain} has {records} records", source="--size")
    if args.seq is not None and args.seq >= size:
        raise InputError(f"{args.seq} is beyond the tree: seq must be 0 to {size - 1} ({args.chain} has "
                         f"{size} records{' up to --size' if args.size else ''})", source="--seq")
    if args.old_size is not None and args.old_size > size:
        raise InputError(f"{args.old_size} is larger than the tree: give 1 to {size} ({args.chain} has {size} "
                         f"records{' up to --size' if args.size else ''})", source="--old-size")
    return size


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _prove_by_scan(args: argparse.Namespace, chain_dir: Path, segments: list[Path]) -> dict[str, Any]:
    """Every leaf hash of the chain in memory: O(n) time and memory (no tiles to read)."""
    from mcp_comply.audit import merkle
    from mcp_comply.audit.tiles import log_leaf_hashes

    _check_unpruned(args, chain_dir, segments)
    leaves = list(log_leaf_hashes(segments))
    if not leaves:
        raise InputError("has no complete records to prove", source=str(chain_dir))
    size = _tree_size(args, len(leaves))
    tree = leaves[:size]
    out: dict[str, Any] = {"chain": args.chain, "size": size, "root": _b64(merkle.root(tree))}
    if args.seq is not None:
        out.update(kind="inclusion", seq=args.seq, leaf_hash=_b64(tree[args.seq]),
                   proof=[_b64(h) for h in merkle.inclusion_proof(tree, args.seq)])
    elif args.old_size is not None:
        out.update(kind="consistency", old_size=args.old_size, old_root=_b64(merkle.root(tree[: args.old_size])),
                   proof=[_b64(h) for h in merkle.consistency_proof(tree, args.old_size)])
    else:  # pragma: no cover - argparse requires one of --seq / --old-size
        raise InputError("give --seq (inclusion) or --old-size (consistency)", source="mcp-comply audit prove")
    return out


def _check_unpruned(args: argparse.Namespace, chain_dir: Path, segments: list[Path]) -> None:
    """A proof from the segments alone needs every leaf from seq 0. Retention removes the oldest
    segments (their hashes live on in the tiles): when the chain starts later, what remains would be
    numbered from 0 and proved against a root nothing signed, so this refuses. A ``--seq`` that
    retention removed is the caller's to change (InputError); any other proof cannot be made here
    (IntegrityError, exit 1)."""
    from mcp_comply.audit._segments import first_record
    from mcp_comply.exceptions import IntegrityError

    first = first_record(segments[0]) if segments else None
    start = first.get("seq") if first is not None else None
    if type(start) is not int or start <= 0:
        return
    if args.seq is not None and args.seq < start:
        raise InputError(f"{args.seq} was removed by retention: {args.chain} starts at seq {start}", source="--seq")
    raise IntegrityError(f"{chain_dir}: {args.chain} starts at seq {start} (retention removed the records before "
                         "it) and its Merkle tiles cannot serve this proof: the leaves before it are gone, so no "
                         "proof can be computed from the segments that remain")


def _prove_from_tiles(args: argparse.Namespace, segments: list[Path], tile_dir: Path) -> dict[str, Any] | None:
    """The same proof from the Merkle tiles the writer keeps next to the checkpoints: O(log n)
    hashes read. None (and a note on stderr) when the tiles cannot serve it: a tile is missing
    (records after the newest checkpoint are not in tiles yet), the proof does not check against
    the tiles' own root, or a checkpoint note of that size states another root."""
    from mcp_comply.audit import merkle
    from mcp_comply.audit.tiles import TileMissing, TileReader, chain_size

    records = chain_size(segments)
    if records is None:
        return None
    size = _tree_size(args, records)
    reader = TileReader(tile_dir)
    out: dict[str, Any] = {"chain": args.chain, "size": size}
    try:
        root = reader.root(size)
        out["root"] = _b64(root)
        roots = {size: root}
        if args.seq is not None:
            leaf, proof = reader.leaf(args.seq), reader.inclusion_proof(args.seq, size)
            merkle.verify_inclusion(leaf, args.seq, size, proof, root)
            out.update(kind="inclusion", seq=args.seq, leaf_hash=_b64(leaf), proof=[_b64(h) for h in proof])
        else:
            old_root, proof = reader.root(args.old_size), reader.consistency_proof(args.old_size, size)
            merkle.verify_consistency(args.old_size, size, old_root, root, proof)
            roots[args.old_size] = old_root
            out.update(kind="consistency", old_size=args.old_size, old_root=_b64(old_root),
                       proof=[_b64(h) for h in proof])
        for tree_size, tree_root in roots.items():
            _check_note(tile_dir, tree_size, tree_root)
    except (TileMissing, merkle.ProofError) as exc:
        print(f"note: the Merkle tiles in {tile_dir} cannot serve this proof ({exc}); reading the whole log",
              file=sys.stderr)
        return None
    return out


def _check_note(tile_dir: Path, size: int, root: bytes) -> None:
    """ProofError when a checkpoint note of that size states another root. Its signature is the
    verifier's business (and costs importing cryptography): this only keeps damaged tiles from
    being used."""
    from mcp_comply._files import read_regular
    from mcp_comply.audit.merkle import ProofError

    try:  # the name _checkpoints.note_name gives, without importing what it imports; read_regular: a FIFO
        # there would block a plain open for good (NotRegularFile is an OSError: no note to check against)
        lines = read_regular(tile_dir / f"{size:012d}.note", 65536).decode("utf-8").split("\n")
        stated = base64.b64decode(lines[2], validate=True) if lines[1] == str(size) else None
    except (OSError, UnicodeDecodeError, IndexError, ValueError):
        return
    if stated is not None and stated != root:
        raise ProofError(f"the checkpoint of size {size} states another root")
