"""instrument(audit_dir=...): every request audited, secrets never on disk, fail-closed refusal,
readiness and metrics fed by the writer."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from prometheus_client import CollectorRegistry

import servers
from mcp_comply import instrument
from mcp_comply.audit.keys import keygen, load_verifier
from mcp_comply.audit.verify import verify_directory
from mcp_comply.config import AuditPolicy, Policy

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version

CANARIES = {
    "key": "sk-proj-CANARY0123456789abcdefXYZ",
    "aws": "AKIACANARY0123456789",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlQ0FOQVJZ",
    "password": "hunter2-CANARY-password",
    "pem": "-----BEGIN PRIVATE KEY-----\nMIICANARYPEMBODYxyz\n-----END PRIVATE KEY-----",
    "email": "canary.person@example.org",
    "bearer": "Bearer CANARYbearertokenvalue123",
}


def _all_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())


def test_secrets_never_reach_disk(framework: str, tmp_path: Path, registry: CollectorRegistry) -> None:
    """Canary secrets in argument values, names, nested lists and error messages: no file written
    under the audit directory contains any of them, yet every call is recorded."""
    audit_dir = tmp_path / "audit"
    server = servers.BUILDERS[framework]()
    policy = Policy(audit=AuditPolicy(pii=True))
    handle = instrument(server, registry=registry, audit_dir=audit_dir, policy=policy)

    async def go() -> None:
        async with Client(servers.lowlevel_of(server), mode="legacy") as client:
            await client.call_tool("fail", {"reason": f"token {CANARIES['key']} mail {CANARIES['email']}"})
            await client.call_tool("add", {"a": 1, "b": 2, "password": CANARIES["password"]})
            await client.call_tool("nope", {"nested": [{"api_key": CANARIES["aws"]}, CANARIES["jwt"]],
                                            "headers": {"Authorization": CANARIES["bearer"]},
                                            "pem": CANARIES["pem"]})

    anyio.run(go)
    handle.close()
    raw = _all_bytes(audit_dir)
    for name, canary in CANARIES.items():
        for piece in (canary, canary.split()[-1], canary.split("\n")[1] if "\n" in canary else canary):
            assert piece.encode() not in raw, name
    calls = [json.loads(x) for x in (audit_dir / "chain-0" / "segment-000001.jsonl").read_text().splitlines()
             if '"kind":"call"' in x and '"tools/call"' in x]
    assert [c["tool"] for c in calls] == ["fail", "add", "nope"]
    # MCPServer ignores an extra argument; the others' schemas forbid it
    extra = "ok" if framework == "mcpserver" else "validation_error"
    assert [c["outcome"] for c in calls] == ["tool_error", extra, "unknown_tool"]
    assert "[REDACTED:hmac-sha256:" in calls[0]["args"]["reason"]
    assert calls[0]["redacted"] == ["/reason"]
    assert calls[0]["error_message"] is not None
    assert CANARIES["key"] not in calls[0]["error_message"]
    assert calls[1]["args"]["a"] == 1
    assert calls[1]["args"]["password"].startswith("[REDACTED:hmac-sha256:")
    assert calls[1]["args_digest"].startswith("hmac-sha256:")
    assert calls[1]["result_digest"].startswith("hmac-sha256:")
    assert calls[2]["args"]["nested"][0]["api_key"].startswith("[REDACTED")
    assert calls[0]["client"] == {"name": "mcp", "version": "0.1.0", "claimed": True}
    for path in audit_dir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert verify_directory(audit_dir).intact


def test_equal_values_have_equal_digests_across_restarts(tmp_path: Path) -> None:
    audit_dir = tmp_path / "audit"
    digests = []
    for _ in range(2):
        server = servers.build_mcpserver()
        handle = instrument(server, registry=CollectorRegistry(), audit_dir=audit_dir)

        async def go(srv: Any = server) -> None:
            async with Client(srv) as client:
                await client.call_tool("add", {"a": 1, "b": 2, "token": "same-secret-value-123"})

        anyio.run(go)
        handle.uninstrument()
    for chain in sorted(audit_dir.glob("chain-*")):
        for line in (chain / "segment-000001.jsonl").read_text().splitlines():
            if '"tool":"add"' in line:
                digests.append(json.loads(line)["args"]["token"])
    assert len(digests) == 2
    assert digests[0] == digests[1]


def test_signed_checkpoints_metrics_and_readiness(tmp_path: Path, registry: CollectorRegistry,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _, public = keygen(tmp_path / "keys", "test-key")
    assert stat.S_IMODE((tmp_path / "keys" / "audit-signing.key").stat().st_mode) == 0o600
    monkeypatch.setenv("MCP_COMPLY_AUDIT_SIGNING_KEY", str(tmp_path / "keys" / "audit-signing.key"))
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, audit_dir=tmp_path / "audit")
    assert handle.health.readiness()[0] is True
    assert handle.audit is not None

    async def go() -> None:
        async with Client(server) as client:
            for i in range(5):
                await client.call_tool("add", {"a": i, "b": 1})

    anyio.run(go)
    assert handle.audit.writer.flush()
    # server/discover, 5 calls and the one tools/list the client sends after its first call
    assert registry.get_sample_value("mcp_audit_records_total") == 7
    handle.close()
    assert registry.get_sample_value("mcp_audit_write_errors_total") == 0
    assert (registry.get_sample_value("mcp_audit_last_checkpoint_timestamp_seconds") or 0) > 1.7e9
    report = verify_directory(tmp_path / "audit", verifiers=[load_verifier(public)])
    assert report.intact
    assert report.chains[0].checkpoints_verified >= 1


def test_the_policy_names_the_log_in_its_checkpoints(tmp_path: Path, registry: CollectorRegistry) -> None:
    """``audit.origin`` names the log in every signed note (``<origin>/<chain>``) and in the chain's
    own records, and the log verifies under it."""
    _, public = keygen(tmp_path / "keys", "test-key")
    policy = Policy(audit=AuditPolicy(origin="audit.example.org/payments-mcp",
                                      signing_key=str(tmp_path / "keys" / "audit-signing.key")))
    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, audit_dir=tmp_path / "audit", policy=policy)

    async def go() -> None:
        async with Client(server) as client:
            await client.call_tool("add", {"a": 1, "b": 1})

    anyio.run(go)
    handle.close()
    notes = sorted((tmp_path / "audit" / "checkpoints" / "chain-0").glob("*.note"))  # latest.note too
    assert len(notes) >= 3  # after open, and at close
    assert {n.read_text().splitlines()[0] for n in notes} == {"audit.example.org/payments-mcp/chain-0"}
    segment = tmp_path / "audit" / "chain-0" / "segment-000001.jsonl"
    records = [json.loads(x) for x in segment.read_text().splitlines()]
    assert {r["origin"] for r in records if r["kind"] in ("open", "checkpoint")} == {
        "audit.example.org/payments-mcp/chain-0"}
    report = verify_directory(tmp_path / "audit", verifiers=[load_verifier(public)])
    assert report.findings == []
    assert report.chains[0].checkpoints_verified == len(notes) - 1


FAIL_CLOSED = textwrap.dedent("""
    import json, resource, signal, sys
    sys.path.insert(0, sys.argv[1])
    import anyio
    from mcp import Client, MCPError
    from prometheus_client import CollectorRegistry
    from mcp.server.mcpserver import MCPServer
    from mcp_comply import instrument
    from mcp_comply.config import AuditPolicy, Policy
    ran = []
    server = MCPServer("guarded")
    @server.tool()
    def transfer(amount: int) -> str:
        ran.append(amount)
        return "sent"
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    handle = instrument(server, registry=CollectorRegistry(), audit_dir=sys.argv[2],
                        policy=Policy(audit=AuditPolicy(on_failure="fail-closed", checkpoint_every=100000)))
    resource.setrlimit(resource.RLIMIT_FSIZE, (30_000, 30_000))   # the disk fills up
    outcomes = []
    async def go():
        async with Client(server) as client:
            for i in range(200):
                try:
                    result = await client.call_tool("transfer", {"amount": i})
                    outcomes.append("ok" if not result.is_error else "isError")
                except MCPError as exc:
                    outcomes.append(exc.error.code)
    anyio.run(go)
    ready = handle.health.readiness()
    handle.close()
    print(json.dumps({"outcomes": outcomes, "ran": ran, "ready": ready[0]}))
""")


@pytest.mark.e2e
def test_fail_closed_refuses_calls_it_cannot_audit(tmp_path: Path) -> None:
    tests_dir = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", FAIL_CLOSED, tests_dir, str(tmp_path / "audit")],
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    outcomes, ran = result["outcomes"], result["ran"]
    refused = [i for i, o in enumerate(outcomes) if o == -32603]
    assert refused, "the disk never filled up"
    assert outcomes.count("ok") == len(ran)  # every call that ran was answered normally
    assert not set(refused) & set(ran)  # no refused call ran the tool
    assert outcomes[: len(ran)] == ["ok"] * len(ran)
    assert result["ready"] is False
    assert verify_directory(tmp_path / "audit").intact


def test_user_processors_enrich_records_after_redaction(tmp_path: Path, registry: CollectorRegistry) -> None:
    """structlog processors run on every request record, in the request's context (so
    merge_contextvars sees what the application bound); they see redacted values only, and one
    that raises costs its change, not the record."""
    import structlog

    server = servers.build_mcpserver()

    @server.tool()
    async def bound(order: str) -> str:
        structlog.contextvars.bind_contextvars(order_id=order)
        return "ok"

    handle = instrument(server, registry=registry, audit_dir=tmp_path / "audit")
    assert handle.audit is not None
    seen: list[str] = []

    def add_tenant(_logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        seen.append(json.dumps(event.get("args")))
        event["tenant"] = "acme"
        return event

    def broken(_logger: Any, _method: str, _event: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("nope")

    handle.audit.add_processor(add_tenant)
    handle.audit.add_processor(structlog.contextvars.merge_contextvars)
    handle.audit.add_processor(broken)

    async def go() -> None:
        async with Client(server) as client:
            await client.call_tool("add", {"a": 1, "b": 2, "secret": "s3cr3t-value-xyz"})
            await client.call_tool("bound", {"order": "A-17"})

    anyio.run(go)
    assert registry.get_sample_value("mcp_audit_queue_depth") is not None
    handle.close()
    calls = [json.loads(x) for x in (tmp_path / "audit" / "chain-0" / "segment-000001.jsonl").read_text().splitlines()
             if '"tools/call"' in x]
    assert [c["tenant"] for c in calls] == ["acme", "acme"]
    assert "order_id" not in calls[0]
    assert calls[1]["order_id"] == "A-17"  # bound by the tool, merged from the request's context
    assert calls[0]["processor_error"] == "KeyError: 'nope'"
    assert all("s3cr3t-value-xyz" not in s for s in seen)
    assert verify_directory(tmp_path / "audit").intact


def test_resource_reads_name_the_uri_and_prompt_gets_their_arguments(tmp_path: Path,
                                                                     registry: CollectorRegistry) -> None:
    """The trail says which resource was read (a secret in its URI redacted, also in the error
    message that echoes it) and which prompt was asked for with which (redacted) arguments."""
    server = servers.build_mcpserver()

    @server.resource("files://{name}", name="file", description="A file.")
    def read_file(name: str) -> str:
        return f"contents of {name}"

    @server.prompt(name="greet", description="Greet someone.")
    def greet(person: str, api_key: str) -> str:
        return f"Say hello to {person}."

    handle = instrument(server, registry=registry, audit_dir=tmp_path / "audit")
    secret = "s3cr3t-resource-token-value"

    async def go() -> None:
        async with Client(server) as client:
            await client.read_resource("files://notes.txt")
            with pytest.raises(Exception, match="Unknown resource"):
                await client.read_resource(f"nowhere://x?token={secret}")
            await client.get_prompt("greet", {"person": "Ada", "api_key": "sk-live-CANARYpromptkey1234567"})

    anyio.run(go)
    handle.close()
    raw = _all_bytes(tmp_path / "audit")
    assert secret.encode() not in raw
    assert b"CANARYpromptkey" not in raw
    segment = tmp_path / "audit" / "chain-0" / "segment-000001.jsonl"
    records = [json.loads(x) for x in segment.read_text().splitlines()]
    reads = [r for r in records if r.get("method") == "resources/read"]
    assert reads[0]["uri"] == "files://notes.txt"
    assert reads[1]["uri"].startswith("nowhere://x?token=[REDACTED:hmac-sha256:")
    assert [r["outcome"] for r in reads] == ["ok", "protocol_error"]
    assert secret not in (reads[1]["error_message"] or "")
    (prompt,) = [r for r in records if r.get("method") == "prompts/get"]
    assert prompt["tool"] == "greet"
    assert prompt["args"]["person"] == "Ada"
    assert prompt["args"]["api_key"].startswith("[REDACTED:hmac-sha256:")
    assert prompt["redacted"] == ["/api_key"]


def test_fsync_always_outside_an_event_loop_still_records(tmp_path: Path, registry: CollectorRegistry) -> None:
    """A sink called with no running event loop (nothing to hold) records the call anyway."""
    from mcp_comply._record import CallRecord

    server = servers.build_mcpserver()
    handle = instrument(server, registry=registry, audit_dir=tmp_path / "audit",
                        policy=Policy(audit=AuditPolicy(fsync="always")))
    assert handle.audit is not None
    record = CallRecord("tools/call", "add", "add", "ok", None, None, 0.0, 0.001, "7", None, "proc:x", None, None,
                        None, None, None, None, None, None, None, False, {"a": 1, "b": 2}, "test")
    assert handle.audit(record) is None
    handle.close()
    segment = tmp_path / "audit" / "chain-0" / "segment-000001.jsonl"
    calls = [json.loads(x) for x in segment.read_text().splitlines() if '"kind":"call"' in x]
    assert [(c["request_id"], c["args"]) for c in calls] == [("7", {"a": 1, "b": 2})]
