"""Every subcommand, every ordinary mistake: exit 2, exactly one line on stderr naming the argument
or file and the reason, nothing on stdout, never a traceback.

The cases run against real files: a real 53-record audit log written by the real writer, real key
pairs from the real keygen commands, a real project whose server module raises on import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcp_comply.cli import main
from mcp_comply.config import load_policy

from .audit.conftest import SIGNER, write_log

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class World:
    """The real files the cases point at."""

    tmp: Path
    log: Path  # one chain, chain-0
    records: int  # how many records it holds
    empty: Path  # an empty folder
    afile: Path  # a regular file
    garbage: Path  # a file of junk
    audit_pub: Path
    audit_key: Path
    prov_pub: Path
    prov_key: Path
    envelope: Path
    boom_config: Path  # a project whose server module raises on import
    src_config: Path  # a src-layout project that is not installed
    bad_policy: Path  # a policy with two errors
    fifo: Path  # a named pipe with no writer: opening it to read blocks
    latin1_policy: Path  # a policy that is not UTF-8


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("bad-input")
    log = tmp / "audit"
    write_log(log, 45, checkpoint_every=10)
    (tmp / "audit.pub").write_text(SIGNER.verifier.encode() + "\n")
    assert main(["audit", "keygen", "--out", str(tmp / "akeys"), "--name", "ops"]) == 0
    assert main(["provenance-keygen", "--out", str(tmp / "pkeys")]) == 0
    (tmp / "empty").mkdir()
    (tmp / "afile").write_text("just a file\n")
    (tmp / "garbage").write_bytes(b"\x00\xffnot json at all{")
    (tmp / "provenance.intoto.json").write_text('{"payloadType": "x", "payload": "", "signatures": []}')
    boom = tmp / "boom"
    boom.mkdir()
    (boom / "boom_server_mod.py").write_text("raise ValueError('database URL is not set')\n")
    (boom / "mcp-comply.yaml").write_text("server: boom_server_mod:server\n")
    src = tmp / "srcproj"
    (src / "src" / "srcproj_pkg").mkdir(parents=True)
    (src / "src" / "srcproj_pkg" / "__init__.py").write_text("server = None\n")
    (src / "mcp-comply.yaml").write_text("server: srcproj_pkg:server\n")
    (tmp / "bad-policy.yaml").write_text("audit:\n  fsync: sometimes\nmetrics:\n  port: 70000\n")
    os.mkfifo(tmp / "fifo")
    (tmp / "dangling").symlink_to(tmp / "nothing")
    (tmp / "new\nline").mkdir()
    (tmp / "bad\npolicy.yaml").write_text("metrics:\n  port: 70000\n")
    (tmp / "latin1.yaml").write_bytes("name: caf\u00e9\n".encode("latin-1"))
    records = sum(len(p.read_bytes().splitlines()) for p in (log / "chain-0").glob("segment-*.jsonl"))
    return World(tmp, log, records, tmp / "empty", tmp / "afile", tmp / "garbage", tmp / "audit.pub",
                 tmp / "akeys" / "audit-signing.key", tmp / "pkeys" / "provenance-signing.pub",
                 tmp / "pkeys" / "provenance-signing.key", tmp / "provenance.intoto.json",
                 boom / "mcp-comply.yaml", src / "mcp-comply.yaml", tmp / "bad-policy.yaml", tmp / "fifo",
                 tmp / "latin1.yaml")


Case = tuple[str, Callable[[World], list[str]], Callable[[World], list[str]]]

# (id, argv, what the one stderr line must contain)
CASES: list[Case] = [
    # audit prove: the README's own example (a log shorter than 100 records), and every range mistake
    ("prove-old-size-beyond", lambda w: ["audit", "prove", str(w.log), "--old-size", "100"],
     lambda w: ["--old-size", "100 is larger than the tree", f"1 to {w.records}"]),
    ("prove-seq-beyond", lambda w: ["audit", "prove", str(w.log), "--seq", "100"],
     lambda w: ["--seq", "100 is beyond the tree", f"0 to {w.records - 1}"]),
    ("prove-seq-negative", lambda w: ["audit", "prove", str(w.log), "--seq", "-1"],
     lambda w: ["argument --seq", "-1 is negative"]),
    ("prove-seq-not-a-number", lambda w: ["audit", "prove", str(w.log), "--seq", "three"],
     lambda w: ["argument --seq", "'three' is not a whole number"]),
    ("prove-old-size-zero", lambda w: ["audit", "prove", str(w.log), "--old-size", "0"],
     lambda w: ["argument --old-size", "0 is not positive"]),
    ("prove-size-beyond", lambda w: ["audit", "prove", str(w.log), "--seq", "1", "--size", str(w.records + 1)],
     lambda w: ["--size", f"{w.records} records"]),
    ("prove-chain-bogus", lambda w: ["audit", "prove", str(w.log), "--seq", "1", "--chain", "bogus"],
     lambda w: ["--chain", "no chain 'bogus'", "chain-0"]),
    ("prove-missing-folder", lambda w: ["audit", "prove", str(w.tmp / "nowhere"), "--seq", "1"],
     lambda w: ["AUDIT_DIR", "nowhere: no such folder"]),
    ("prove-empty-folder", lambda w: ["audit", "prove", str(w.empty), "--seq", "1"],
     lambda w: [str(w.empty), "no audit chains"]),
    ("prove-neither", lambda w: ["audit", "prove", str(w.log)], lambda w: ["one of the arguments --seq --old-size"]),
    ("prove-both", lambda w: ["audit", "prove", str(w.log), "--seq", "1", "--old-size", "2"],
     lambda w: ["not allowed with argument"]),
    # audit show
    ("show-missing", lambda w: ["audit", "show", str(w.tmp / "MISSING")], lambda w: ["MISSING: no such folder"]),
    ("show-a-file", lambda w: ["audit", "show", str(w.afile)], lambda w: ["afile: is a file, not a folder"]),
    ("show-empty-folder", lambda w: ["audit", "show", str(w.empty)], lambda w: [str(w.empty), "no audit chains"]),
    ("show-since-yesterday", lambda w: ["audit", "show", str(w.log), "--since", "yesterday"],
     lambda w: ["argument --since", "'yesterday' is not an RFC 3339 time"]),
    ("show-kind-unknown", lambda w: ["audit", "show", str(w.log), "--kind", "calls"],
     lambda w: ["argument --kind", "invalid choice: 'calls'"]),
    ("show-outcome-unknown", lambda w: ["audit", "show", str(w.log), "--outcome", "failed"],
     lambda w: ["argument --outcome", "invalid choice: 'failed'", "tool_error"]),
    # audit verify
    ("verify-missing", lambda w: ["audit", "verify", str(w.tmp / "nowhere")], lambda w: ["nowhere: no such folder"]),
    ("verify-empty", lambda w: ["audit", "verify", str(w.empty)], lambda w: [str(w.empty), "no audit chains"]),
    ("verify-grace-negative", lambda w: ["audit", "verify", str(w.log), "--grace", "-1"], lambda w: ["--grace"]),
    ("verify-state-garbage", lambda w: ["audit", "verify", str(w.log), "--state", str(w.garbage)],
     lambda w: [str(w.garbage), "not a verify state file"]),
    ("verify-state-folder", lambda w: ["audit", "verify", str(w.log), "--state", str(w.empty)],
     lambda w: ["argument --state", "is a folder, not a file"]),
    ("verify-checkpoints-missing",
     lambda w: ["audit", "verify", str(w.log), "--key", str(w.audit_pub), "--checkpoints", "/nonexistent"],
     lambda w: ["argument --checkpoints", "/nonexistent: no such folder"]),
    ("verify-key-missing", lambda w: ["audit", "verify", str(w.log), "--key", str(w.tmp / "missing.pub")],
     lambda w: ["argument --key", "missing.pub: no such file"]),
    ("verify-key-is-provenance", lambda w: ["audit", "verify", str(w.log), "--key", str(w.prov_pub)],
     lambda w: ["argument --key", "this is a PEM public key", "audit verify needs an audit checkpoint public key"]),
    ("verify-key-is-private", lambda w: ["audit", "verify", str(w.log), "--key", str(w.audit_key)],
     lambda w: ["argument --key", "this is an audit checkpoint signing key"]),
    # --out under a regular file, for every command that writes
    ("generate-out-under-file", lambda w: ["generate", "--out", str(w.afile / "out")],
     lambda w: ["argument --out", f"{w.afile} is a file"]),
    ("check-out-under-file", lambda w: ["check", "--out", str(w.afile / "out")],
     lambda w: ["argument --out", f"{w.afile} is a file"]),
    ("audit-keygen-out-under-file", lambda w: ["audit", "keygen", "--out", str(w.afile / "k")],
     lambda w: ["argument --out", f"{w.afile} is a file"]),
    ("provenance-keygen-out-under-file", lambda w: ["provenance-keygen", "--out", str(w.afile / "k")],
     lambda w: ["argument --out", f"{w.afile} is a file"]),
    ("demo-out-under-file", lambda w: ["demo", "--out", str(w.afile / "d")],
     lambda w: ["argument --out", f"{w.afile} is a file"]),
    ("demo-out-is-file", lambda w: ["demo", "--out", str(w.afile)], lambda w: ["argument --out", "is a file"]),
    ("demo-out-foreign-folder", lambda w: ["demo", "--out", str(w.tmp / "akeys")],
     lambda w: [str(w.tmp / "akeys"), "not a demo folder", "refusing to delete it"]),
    ("audit-keygen-bad-name", lambda w: ["audit", "keygen", "--out", str(w.tmp / "k2"), "--name", "a b"],
     lambda w: ["argument --name", "no spaces"]),
    ("audit-keygen-exists", lambda w: ["audit", "keygen", "--out", str(w.tmp / "akeys")],
     lambda w: ["audit-signing.key", "refusing to overwrite"]),
    # verify-provenance
    ("verify-provenance-empty-builder",
     lambda w: ["verify-provenance", str(w.envelope), "--key", str(w.prov_pub), "--builder-id", ""],
     lambda w: ["argument --builder-id", "an empty value; give a builder id URI"]),
    ("verify-provenance-blank-identity",
     lambda w: ["verify-provenance", str(w.envelope), "--cert-identity", " ", "--cert-oidc-issuer", "https://x"],
     lambda w: ["argument --cert-identity", "an empty value; give the certificate identity"]),
    ("generate-empty-builder", lambda w: ["generate", "--builder-id", ""],
     lambda w: ["argument --builder-id", "an empty value; give a builder id URI"]),
    ("verify-provenance-missing-artifact",
     lambda w: ["verify-provenance", str(w.envelope), "--key", str(w.prov_pub), "--artifacts", "missing.whl"],
     lambda w: ["argument --artifacts", "missing.whl: no such file"]),
    ("verify-provenance-missing-envelope", lambda w: ["verify-provenance", str(w.tmp / "nope.json")],
     lambda w: ["argument ENVELOPE", "nope.json: no such file"]),
    ("verify-provenance-audit-key", lambda w: ["verify-provenance", str(w.envelope), "--key", str(w.audit_pub)],
     lambda w: ["argument --key", "this is an audit checkpoint public key", "provenance-signing.pub"]),
    ("verify-provenance-half-sigstore",
     lambda w: ["verify-provenance", str(w.envelope), "--cert-identity", "me@example.org"],
     lambda w: ["--cert-oidc-issuer", "needs both"]),
    # generate and check
    ("generate-only-unknown", lambda w: ["generate", "--only", "dashboards,pdf"],
     lambda w: ["argument --only", "'pdf'", "ai-act"]),
    ("generate-signing-key-is-audit-key", lambda w: ["generate", "--signing-key", str(w.audit_key)],
     lambda w: ["argument --signing-key", "this is an audit checkpoint signing key", "provenance-signing.key"]),
    ("generate-signing-key-is-public", lambda w: ["generate", "--signing-key", str(w.prov_pub)],
     lambda w: ["argument --signing-key", "this is a PEM public key"]),
    ("generate-config-missing", lambda w: ["generate", "--config", str(w.tmp / "nope.yaml")],
     lambda w: ["argument --config", "nope.yaml: no such file"]),
    ("generate-config-folder", lambda w: ["generate", "--config", str(w.empty)],
     lambda w: ["argument --config", "is a folder, not a file"]),
    ("generate-policy-missing", lambda w: ["generate", "--policy", str(w.tmp / "nope.yaml")],
     lambda w: ["argument --policy", "nope.yaml: no such file"]),
    ("generate-policy-unknown-name", lambda w: ["generate", "--policy", "lenient"],
     lambda w: ["argument --policy", "'lenient'", "default, strict"]),
    ("generate-artifacts-missing", lambda w: ["generate", "--artifacts", str(w.tmp / "dist.whl")],
     lambda w: ["argument --artifacts", "dist.whl: no such file"]),
    ("generate-sbom-format", lambda w: ["generate", "--sbom-format", "yaml"],
     lambda w: ["argument --sbom-format", "invalid choice: 'yaml'"]),
    ("generate-sbom-extras-bad-name", lambda w: ["generate", "--sbom-extras", "release,a b"],
     lambda w: ["argument --sbom-extras", "not an extra name: 'a b'"]),
    ("generate-sbom-extras-not-declared",
     lambda w: ["generate", "--config", str(ROOT / "pyproject.toml"), "--only", "sbom", "--sbom-extras", "relase",
                "--out", str(w.tmp / "sbom-out"), "-q"],
     lambda w: ["--sbom-extras: relase: not an extra of mcp-comply in pyproject.toml",
                "(its extras: fastmcp, release, sigstore, test)"]),
    ("check-audit-dir-a-file", lambda w: ["check", "--audit-dir", str(w.afile)],
     lambda w: ["argument --audit-dir", "is a file, not a folder"]),
    ("check-audit-key-is-provenance", lambda w: ["check", "--audit-key", str(w.prov_pub)],
     lambda w: ["argument --audit-key", "this is a PEM public key"]),
    ("check-provenance-key-is-audit", lambda w: ["check", "--provenance-key", str(w.audit_pub)],
     lambda w: ["argument --provenance-key", "this is an audit checkpoint public key"]),
    ("check-server-raises-on-import", lambda w: ["check", "--config", str(w.boom_config), "-q"],
     lambda w: [f"{w.boom_config}: server:", "importing 'boom_server_mod' raised ValueError: database URL is not set"]),
    ("check-src-layout-not-installed",
     lambda w: ["check", "--config", str(w.src_config), "-q"],
     lambda w: [f"{w.src_config}: server:", "cannot import 'srcproj_pkg'", "src layout", "pip install -e ."]),
    # an empty path is not the current folder
    ("audit-keygen-out-empty", lambda w: ["audit", "keygen", "--out", ""], lambda w: ["argument --out", "empty path"]),
    ("provenance-keygen-out-empty", lambda w: ["provenance-keygen", "--out", ""],
     lambda w: ["argument --out", "empty path"]),
    ("generate-out-empty", lambda w: ["generate", "--out", ""], lambda w: ["argument --out", "empty path"]),
    ("generate-config-empty", lambda w: ["generate", "--config", ""], lambda w: ["argument --config", "empty path"]),
    ("generate-policy-empty", lambda w: ["generate", "--policy", ""], lambda w: ["argument --policy", "empty path"]),
    ("verify-dir-empty", lambda w: ["audit", "verify", ""], lambda w: ["argument AUDIT_DIR", "empty path"]),
    ("verify-state-empty", lambda w: ["audit", "verify", str(w.log), "--state", ""],
     lambda w: ["argument --state", "empty path"]),
    ("prove-checkpoints-empty", lambda w: ["audit", "prove", str(w.log), "--seq", "1", "--checkpoints", ""],
     lambda w: ["argument --checkpoints", "empty path"]),
    # files that are not regular files: a FIFO would block the read until a writer comes
    ("generate-config-fifo", lambda w: ["generate", "--config", str(w.fifo)],
     lambda w: ["argument --config", f"{w.fifo}: not a regular file (a FIFO)"]),
    ("verify-key-fifo", lambda w: ["audit", "verify", str(w.log), "--key", str(w.fifo)],
     lambda w: ["argument --key", "not a regular file (a FIFO)"]),
    ("verify-state-fifo", lambda w: ["audit", "verify", str(w.log), "--state", str(w.fifo)],
     lambda w: ["argument --state", "not a regular file (a FIFO)"]),
    ("verify-state-device", lambda w: ["audit", "verify", str(w.log), "--state", "/dev/full"],
     lambda w: ["argument --state", "/dev/full: not a regular file (a device)"]),
    ("verify-provenance-envelope-fifo", lambda w: ["verify-provenance", str(w.fifo)],
     lambda w: ["argument ENVELOPE", "not a regular file (a FIFO)"]),
    ("check-audit-key-fifo", lambda w: ["check", "--audit-key", str(w.fifo)],
     lambda w: ["argument --audit-key", "not a regular file (a FIFO)"]),
    ("generate-policy-fifo", lambda w: ["generate", "--policy", str(w.fifo)],
     lambda w: ["argument --policy", "not a regular file (a FIFO)"]),
    # a --state file whose folder does not exist is refused before the (long) verification
    # a --state that is a link to nothing: verify would write its state through it, wherever it points
    ("verify-state-link-to-nothing", lambda w: ["audit", "verify", str(w.log), "--state", str(w.tmp / "dangling")],
     lambda w: ["argument --state", "dangling: not a regular file (a link to nothing)"]),
    ("verify-state-no-folder", lambda w: ["audit", "verify", str(w.log), "--state", str(w.empty / "no" / "s.json")],
     lambda w: ["argument --state", f"{w.empty / 'no'}: no such folder"]),
    # numbers are ASCII digits: int() would take U+0661 (Arabic-Indic one) and '1_0' (ten)
    ("prove-seq-arabic-digit", lambda w: ["audit", "prove", str(w.log), "--seq", "\u0661"],
     lambda w: ["argument --seq", "is not a whole number"]),
    ("prove-seq-underscore", lambda w: ["audit", "prove", str(w.log), "--seq", "1_0"],
     lambda w: ["argument --seq", "'1_0' is not a whole number"]),
    # --jobs starts that many processes at once: bounded
    ("verify-jobs-too-many", lambda w: ["audit", "verify", str(w.log), "--jobs", "65"],
     lambda w: ["argument --jobs", "65 is too many; give 1 to 64"]),
    # a control character in a path cannot split the one line
    ("verify-dir-newline", lambda w: ["audit", "verify", str(w.tmp / "no\nsuch")],
     lambda w: ["argument AUDIT_DIR", "no\\nsuch: no such folder"]),
    ("show-empty-dir-newline", lambda w: ["audit", "show", str(w.tmp / "new\nline")],
     lambda w: [f"{w.tmp}/new\\nline: no audit chains"]),
    ("generate-policy-name-newline", lambda w: ["generate", "--policy", str(w.tmp / "bad\npolicy.yaml")],
     lambda w: [f"{w.tmp}/bad\\npolicy.yaml: metrics.port: Input should be less than or equal to 65535"]),
    # policy files that are not UTF-8, or give a key twice
    ("generate-policy-not-utf8", lambda w: ["generate", "--policy", str(w.latin1_policy), "--only", "dashboards"],
     lambda w: [str(w.latin1_policy), "not UTF-8 text (byte 0xe9 at offset 9)"]),
    # usage in general
    ("no-command", lambda w: [], lambda w: ["the following arguments are required: COMMAND"]),
    ("unknown-command", lambda w: ["generat"], lambda w: ["invalid choice: 'generat'"]),
    ("unknown-option", lambda w: ["generate", "--outt", "x"], lambda w: ["unrecognized arguments: --outt"]),
]


@pytest.mark.parametrize(("argv", "needles"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_bad_input_is_one_line_and_exit_2(world: World, argv: Callable[[World], list[str]],
                                          needles: Callable[[World], list[str]],
                                          capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 2; exactly one stderr line, which names the argument or file and says why; no stdout;
    nothing written in the current folder (an empty path must not stand for it)."""
    monkeypatch.chdir(tmp_path)
    assert main(argv(world)) == 2
    assert list(tmp_path.iterdir()) == []
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("mcp-comply")
    for needle in needles(world):
        assert needle in lines[0]
    assert "Traceback" not in err
    assert out == ""


def test_a_config_with_several_errors_reports_every_one(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Every validation error of one run, each on its own line naming file, path and reason."""
    assert main(["generate", "--policy", str(world.bad_policy), "--only", "dashboards", "--out",
                 str(world.tmp / "gen")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert lines[0] == (f"mcp-comply generate: error: {world.bad_policy}: metrics.port: "
                        "Input should be less than or equal to 65535")
    assert lines[1] == (f"mcp-comply generate: error: {world.bad_policy}: audit.fsync: "
                        "Input should be 'always', 'batch' or 'never'")


def test_a_bad_audit_origin_is_one_line_naming_file_path_and_reason(world: World,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    policy = world.tmp / "bad-origin.yaml"
    policy.write_text("audit:\n  origin: 'audit.example.org/payments mcp'\n")
    assert main(["generate", "--policy", str(policy), "--only", "dashboards", "--out", str(world.tmp / "gen")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"mcp-comply generate: error: {policy}: audit.origin: must be 1 to 255 printable ASCII "
        "characters without spaces or '+' (a C2SP log origin, e.g. audit.example.org/payments-mcp)"]
    longest = world.tmp / "long-origin.yaml"  # 255 characters: the longest the rule allows
    longest.write_text(f"audit:\n  origin: '{'a' * 254}/'\n")
    assert load_policy(longest).audit.origin == "a" * 254 + "/"


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    code = "import sys; from mcp_comply.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,  # type: ignore[call-overload, no-any-return]
                          timeout=60, check=False, **kwargs)


def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    """`audit show DIR | head -1`: the reader goes away; no traceback, exit 141 (SIGPIPE's code)."""
    write_log(tmp_path / "big", 600, checkpoint_every=100)  # more output than a pipe buffers (64 KiB)
    code = "import sys; from mcp_comply.cli import main; sys.exit(main())"
    with subprocess.Popen([sys.executable, "-c", code, "audit", "show", str(tmp_path / "big"), "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()  # what head does after its first line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141
    assert first.startswith(b'{"v":')
    assert err == ""


def test_a_real_subprocess_error_has_no_traceback(world: World) -> None:
    """The same contract from outside the process (what a shell sees)."""
    proc = _run(["audit", "prove", str(world.log), "--old-size", "100"])
    assert proc.returncode == 2
    assert proc.stderr == (f"mcp-comply audit prove: error: --old-size: 100 is larger than the tree: give 1 to "
                           f"{world.records} (chain-0 has {world.records} records)\n")
    assert proc.stdout == ""


def test_ctrl_c_exits_130_without_a_traceback(tmp_path: Path) -> None:
    """SIGINT while a command runs (here: the server import sleeps): one line, exit 130."""
    import signal
    import time

    (tmp_path / "slow_server_mod.py").write_text("import time\ntime.sleep(60)\n")
    (tmp_path / "mcp-comply.yaml").write_text("server: slow_server_mod:server\n")
    code = "import sys; from mcp_comply.cli import main; sys.exit(main())"
    with subprocess.Popen([sys.executable, "-c", code, "check", "--config", str(tmp_path / "mcp-comply.yaml")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the progress line: the import has started
        assert "importing the server slow_server_mod:server" in line
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == "mcp-comply check: interrupted\n"


@pytest.mark.parametrize(("argv", "prog"), [
    (["--version"], "mcp-comply"),
    (["--help"], "mcp-comply"),
    (["audit", "prove", "{log}", "--seq", "1"], "mcp-comply audit prove"),
])
def test_a_full_stdout_is_one_line_naming_stdout(world: World, argv: list[str], prog: str) -> None:
    """`> /dev/full`: the output cannot be written. Exit 2 and one line saying it was stdout, not
    a traceback (--version), not a silent exit 0 (--help), not an unnamed "input/output"."""
    code = "import sys; from mcp_comply.cli import main; sys.exit(main())"
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-c", code, *(a.format(log=world.log) for a in argv)],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    assert proc.stderr == f"{prog}: error: stdout: No space left on device\n"
    assert proc.returncode == 2
