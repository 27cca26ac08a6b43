"""Real server processes, real signals: SIGTERM seals the chain and the server exits as it would
without us; with ``fsync: always`` no acknowledged call is missing after kill -9 under concurrent
clients; a crash-looping server still signs every life."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from mcp_comply import semconv
from mcp_comply.audit import _format as fmt
from mcp_comply.audit import verify as v
from mcp_comply.audit.keys import keygen, load_verifier
from mcp_comply.audit.verify import verify_directory
from mcp_comply.audit.writer import AuditWriter, WriterConfig

SERVERS = Path(__file__).resolve().parents[1] / "servers.py"
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, audit: bool, policy: str | None = None) -> dict[str, str]:
    env = {**os.environ, "MCP_COMPLY_LOG_LEVEL": "warning"}
    for name in ("MCP_COMPLY_AUDIT_DIR", "MCP_COMPLY_AUDIT_SIGNING_KEY", "MCP_COMPLY_POLICY"):
        env.pop(name, None)
    if audit:
        if not (tmp_path / "keys" / "audit-signing.key").exists():
            keygen(tmp_path / "keys", "lifecycle-test")
        env["MCP_COMPLY_AUDIT_DIR"] = str(tmp_path / "audit")
        env["MCP_COMPLY_AUDIT_SIGNING_KEY"] = str(tmp_path / "keys" / "audit-signing.key")
    if policy is not None:
        (tmp_path / "policy.yaml").write_text(policy)
        env["MCP_COMPLY_POLICY"] = str(tmp_path / "policy.yaml")
    return env


@contextlib.contextmanager
def _running(framework: str, transport: str, env: dict[str, str], port: int = 0,
             extra: tuple[str, ...] = ()) -> Iterator[subprocess.Popen[bytes]]:
    """The test server (``tests/servers.py``) as a process, killed on the way out if it still runs."""
    args = [sys.executable, str(SERVERS), "--framework", framework, "--transport", transport, *extra]
    if transport == "http":
        args += ["--port", str(port)]
    proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited before it listened"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def _stdio_calls(proc: subprocess.Popen[bytes], count: int) -> int:
    """Initialize and call ``add`` over the process's own stdin/stdout (the JSON-RPC wire format);
    returns how many calls were answered."""
    return len(_stdio_send(proc, [("add", {"a": i, "b": 1}) for i in range(1, count + 1)]))


def _stdio_send(proc: subprocess.Popen[bytes], calls: list[tuple[str, dict[str, Any]]]) -> set[int]:
    """Initialize, then make ``calls`` (ids 1, 2, ...) over the process's stdin/stdout, written by
    ``json.dumps`` (which writes NaN and Infinity as their names, as a sloppy client may); returns
    the ids of the calls answered."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    messages = [{"jsonrpc": "2.0", "id": 0, "method": "initialize",
                 "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                            "clientInfo": {"name": "lifecycle-test", "version": "1"}}},
                {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    messages += [{"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}}
                 for i, (name, args) in enumerate(calls, 1)]
    proc.stdin.write(b"".join(json.dumps(m).encode() + b"\n" for m in messages))
    proc.stdin.flush()
    answered: set[Any] = set()
    deadline, buffer = time.monotonic() + 30, b""
    while len(answered) < len(calls) + 1 and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, "the server closed stdout"
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            answered |= {json.loads(line, parse_int=_id_int).get("id") for line in lines if line.strip()}
    return answered - {0, None}


def _id_int(text: str) -> int | str:
    """An answer's number as an int, unless longer than Python converts (a result, never an id)."""
    return int(text) if len(text) <= 4300 else text


async def _http_calls(url: str, count: int) -> int:
    async with Client(url, mode="legacy") as client:
        for i in range(1, count + 1):
            assert (await client.call_tool("add", {"a": i, "b": 1})).is_error is False
    return count


def _run_and_terminate(framework: str, transport: str, env: dict[str, str]) -> tuple[int, int]:
    """(calls answered, exit status) of a server that served 3 calls and then got SIGTERM."""
    port = _free_port()
    with _running(framework, transport, env, port) as proc:
        if transport == "http":
            _wait_port(port, proc)
            answered = anyio.run(_http_calls, f"http://127.0.0.1:{port}/mcp", 3)
        else:
            answered = _stdio_calls(proc, 3)
        proc.send_signal(signal.SIGTERM)
        return answered, proc.wait(timeout=30)


@pytest.mark.parametrize(("framework", "transport"), [("mcpserver", "stdio"), ("mcpserver", "http"),
                                                      ("fastmcp", "stdio"), ("fastmcp", "http")])
def test_sigterm_seals_the_chain_and_the_server_exits_as_before(framework: str, transport: str,
                                                                 tmp_path: Path) -> None:
    bare = _run_and_terminate(framework, transport, _env(tmp_path, audit=False))
    audited = _run_and_terminate(framework, transport, _env(tmp_path, audit=True))
    assert bare == audited == (3, -signal.SIGTERM)  # answered all, then died by the signal, as before
    report = verify_directory(tmp_path / "audit", verifiers=[load_verifier(tmp_path / "keys" / "audit-signing.pub")])
    assert report.findings == []
    (chain,) = report.chains
    assert (chain.sealed, chain.unsigned, chain.authenticated) == (True, 0, chain.records)
    records = _chain_records(tmp_path / "audit")
    calls = [r["args"]["a"] for r in records if r["kind"] == "call" and r["method"] == "tools/call"]
    assert sorted(calls) == [1, 2, 3]  # stdio calls are sent at once and may finish in any order
    assert [r["kind"] for r in records][-2:] == ["close", "checkpoint"]


def _stdio_audited(framework: str, tmp_path: Path, calls: list[tuple[str, dict[str, Any]]]) -> set[int]:
    """An audited server over stdio makes ``calls`` and then gets SIGTERM, which it dies of as it
    would without us; returns the ids of the calls answered."""
    with _running(framework, "stdio", _env(tmp_path, audit=True)) as proc:
        answered = _stdio_send(proc, calls)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    return answered


def _chain_records(audit_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in fmt.segments(audit_dir / "chain-0") for line in p.read_text().splitlines()]


@pytest.mark.parametrize("framework", ["mcpserver", "fastmcp"])
def test_nan_and_infinity_from_a_client_lose_no_record(framework: str, tmp_path: Path) -> None:
    """The SDKs' JSON-RPC parsers take NaN and Infinity; the audit line (strict JSON) cannot hold
    them. Such a call is recorded with the values' names as strings, and the calls written in the
    same batch are kept: no gap, no placeholder, the chain verifies."""
    answered = _stdio_audited(framework, tmp_path, [("add", {"a": 1, "b": 1}),
                                                    ("fail", {"reason": float("nan"), "big": float("-inf")}),
                                                    ("add", {"a": 2, "b": 1}),
                                                    ("add", {"a": 3, "b": 1, "x": [float("inf"), 0.5]})])
    assert answered == {1, 2, 3, 4}
    report = verify_directory(tmp_path / "audit", verifiers=[load_verifier(tmp_path / "keys" / "audit-signing.pub")])
    assert report.findings == []
    records = _chain_records(tmp_path / "audit")
    calls = {r["request_id"]: r for r in records if r["kind"] == "call" and r["method"] == "tools/call"}
    assert sorted(calls) == ["1", "2", "3", "4"]
    assert calls["2"]["args"] == {"reason": "NaN", "big": "-Infinity"}
    assert calls["4"]["args"] == {"a": 3, "b": 1, "x": ["Infinity", 0.5]}
    assert [c["args"]["a"] for k, c in sorted(calls.items()) if k != "2"] == [1, 2, 3]
    assert all(c["args_digest"].startswith("hmac-sha256:") for c in calls.values())
    assert [r["kind"] for r in records if r["kind"] in ("gap", "recovery")] == []
    assert not any("unencodable" in r for r in records)


def test_a_result_json_cannot_digest_keeps_the_record(tmp_path: Path) -> None:
    """A client adds two 4300-digit numbers (the parsers take up to 4300 digits): the tool's result
    has 4301, more than Python turns into text, so the result cannot be digested. The record still
    names the call (tool, request id, client, arguments), only its result digest is a placeholder;
    the other calls of the batch are kept and the chain verifies, strict and --fast."""
    big = 10**4300 - 1
    answered = _stdio_audited("mcpserver", tmp_path, [("add", {"a": 1, "b": 1}), ("add", {"a": big, "b": big}),
                                                      ("add", {"a": 2, "b": 1})])
    assert answered == {1, 2, 3}
    verifiers = [load_verifier(tmp_path / "keys" / "audit-signing.pub")]
    assert verify_directory(tmp_path / "audit", verifiers=verifiers).findings == []
    assert verify_directory(tmp_path / "audit", verifiers=verifiers, strict_json=False).findings == []
    records = _chain_records(tmp_path / "audit")
    assert not any("unencodable" in r for r in records)
    calls = {r["request_id"]: r for r in records if r["kind"] == "call" and r["method"] == "tools/call"}
    assert sorted(calls) == ["1", "2", "3"]
    hostile = calls["2"]
    assert (hostile["tool"], hostile["outcome"], hostile["client"]["name"]) == ("add", "ok", "lifecycle-test")
    assert hostile["args"] == {"a": big, "b": big}
    assert hostile["args_digest"].startswith("hmac-sha256:")
    assert hostile["result_digest"] == "unencodable:ValueError"
    assert all(calls[k]["result_digest"].startswith("hmac-sha256:") for k in ("1", "3"))


POLICY_ALWAYS = "version: 1\nname: durable\naudit:\n  fsync: always\n"


async def _hammer(url: str, clients: int, base: int, kill: Any) -> list[int]:
    """``clients`` concurrent SDK clients calling ``add`` with unique arguments; once all of them
    have made a first call (the client's first call also lists tools and loads its schema
    validator: seconds on a busy machine), ``kill()`` is awaited while they go on. Returns the
    arguments whose calls were acknowledged."""
    acknowledged: list[int] = []
    warm = anyio.Event()
    ready = [0]

    async def one(n: int) -> None:
        i = 0
        try:
            async with Client(url, mode="legacy") as client:
                await client.call_tool("add", {"a": -1 - n, "b": 0})
                ready[0] += 1
                if ready[0] == clients:
                    warm.set()
                while True:
                    a = base + n * 100_000 + i
                    i += 1
                    result = await client.call_tool("add", {"a": a, "b": 0})
                    if not result.is_error:
                        acknowledged.append(a)
        except Exception:
            return

    async with anyio.create_task_group() as group:
        for n in range(clients):
            group.start_soon(one, n)
        with anyio.fail_after(60):
            await warm.wait()
        await kill(acknowledged)
    return acknowledged


def _recorded(audit_dir: Path) -> set[int]:
    out = set()
    for chain in audit_dir.glob("chain-*"):
        for path in fmt.segments(chain):
            for raw in path.read_bytes().splitlines():
                if b'"method":"tools/call"' in raw:
                    out.add(json.loads(raw)["args"]["a"])
    return out


@pytest.mark.parametrize("round_no", range(10))
def test_kill_9_loses_no_acknowledged_call_with_fsync_always(round_no: int, tmp_path: Path) -> None:
    """One of 10 independent rounds: 4 concurrent HTTP clients, then kill -9 while they call."""
    env = _env(tmp_path, audit=True, policy=POLICY_ALWAYS)
    port = _free_port()
    with _running("mcpserver", "http", env, port) as proc:
        _wait_port(port, proc)

        async def kill(acknowledged: list[int]) -> None:
            # at a different moment each round, once the clients are well under way
            deadline = time.monotonic() + 20
            while len(acknowledged) < 20 + 7 * round_no and time.monotonic() < deadline:  # noqa: ASYNC110 - polls a count
                await anyio.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)

        async def go() -> list[int]:
            return await _hammer(f"http://127.0.0.1:{port}/mcp", 4, round_no * 1_000_000, kill)

        acknowledged = anyio.run(go)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    assert len(acknowledged) >= 20, "the clients barely ran: the round proves nothing"
    missing = set(acknowledged) - _recorded(tmp_path / "audit")
    assert missing == set()
    # the next life recovers the tail and signs it
    verifier = load_verifier(tmp_path / "keys" / "audit-signing.pub")
    from mcp_comply.audit.keys import load_signer

    AuditWriter(WriterConfig(directory=tmp_path / "audit", chain="chain-0",
                             signer=load_signer(tmp_path / "keys" / "audit-signing.key"))).close()
    report = verify_directory(tmp_path / "audit", verifiers=[verifier])
    # the crash tail is reported as signed only at recovery (a notice), never as tampering
    assert {f.kind for f in report.findings} <= {v.TORN_TAIL, v.SIGNED_AT_RECOVERY}
    assert report.intact


def test_a_crash_looping_server_signs_every_life(tmp_path: Path) -> None:
    """Three lives killed with -9 a moment after their calls, then one stopped with SIGTERM: every
    life's records are covered by a signed checkpoint (the next life's open checkpoint covers what
    its recovery found), and the chain ends sealed."""
    env = _env(tmp_path, audit=True, policy=POLICY_ALWAYS)
    for life in range(3):
        port = _free_port()
        with _running("mcpserver", "http", env, port) as proc:
            _wait_port(port, proc)
            assert anyio.run(_http_calls, f"http://127.0.0.1:{port}/mcp", 2) == 2
            proc.kill()
            proc.wait(timeout=10)
        verifier = load_verifier(tmp_path / "keys" / "audit-signing.pub")
        report = verify_directory(tmp_path / "audit", verifiers=[verifier])
        (chain,) = report.chains
        # everything up to this life's open checkpoint is signed; only its own calls may not be yet
        assert {f.kind for f in report.findings} <= {v.YOUNG_TAIL, v.TORN_TAIL, v.SIGNED_AT_RECOVERY}, (
            life, report.findings)
        assert chain.unsigned is not None
        assert chain.unsigned <= 6
    assert _run_and_terminate("mcpserver", "http", env) == (3, -signal.SIGTERM)
    report = verify_directory(tmp_path / "audit", verifiers=[load_verifier(tmp_path / "keys" / "audit-signing.pub")])
    assert {f.kind for f in report.findings} <= {v.TORN_TAIL, v.SIGNED_AT_RECOVERY}
    (chain,) = report.chains
    assert (chain.sealed, chain.unsigned) == (True, 0)
    records: list[dict[str, Any]] = [json.loads(line) for p in fmt.segments(tmp_path / "audit" / "chain-0")
                                     for line in p.read_text().splitlines()]
    assert [r["kind"] for r in records].count("open") == 4
    # fsync: always: every acknowledged call of every life is there, in order
    assert [r["args"]["a"] for r in records if r.get("method") == "tools/call"] == [1, 2, 1, 2, 1, 2, 1, 2, 3]


HOSTILE_SECRET = "hunter2-CANARY-7f3a9"
HOSTILE_BEARER = "Bearer abcdefCANARYBEARERtoken1234567890"


def _hostile_calls() -> list[tuple[bytes, str | None]]:
    """The params of each hostile ``tools/call`` (raw JSON, some not UTF-8) with the outcome its
    record must have (None: framework-specific)."""
    def params(name: str, args: dict[str, Any]) -> bytes:
        return json.dumps({"name": name, "arguments": args}).encode()

    calls: list[tuple[bytes, str | None]] = [(params(f"nosuch{k}", {}), "unknown_tool") for k in range(20)]
    calls += [
        (params("x" * 100_000, {}), "unknown_tool"),
        (b'{"name":"fail","arguments":{"reason":"bad \xff\xfe bytes"}}', "tool_error"),
        (params("add", {"a": 10**4000, "b": 1}), "ok"),
        (params("add", {"a": float("nan"), "b": float("inf")}), "validation_error"),
        (b'{"name":"add","arguments":{"a":1,"b":2,"deep":' + b'{"n":' * 60 + b"1" + b"}" * 60 + b"}}", None),
        (params("fail", {"reason": "y" * 1_000_000}), "tool_error"),
        (params("fail", {"reason": f"password={HOSTILE_SECRET}"}), "tool_error"),
        (params("fail", {"reason": f"Authorization: {HOSTILE_BEARER}"}), "tool_error"),
        (params("add", {"a": 1, "b": 2, "password": HOSTILE_SECRET}), None),
        (params("add", {"a": 1, "b": 2, "cfg": {"db": [{"api_key": HOSTILE_SECRET}]}}), None),
        (params("fail", {"reason": f"token {HOSTILE_SECRET}", "password": HOSTILE_SECRET}), None),
        (params("crash", {"password": HOSTILE_SECRET}), None),
    ]
    return calls


@pytest.mark.parametrize("framework", ["mcpserver", "lowlevel", "fastmcp"])
def test_a_hostile_client_over_stdio_breaks_no_promise(framework: str, tmp_path: Path) -> None:
    """One client's worst over stdio: unknown, huge and odd tool names, a huge odd client name,
    bytes that are not UTF-8, a 4000-digit integer, NaN, deep nesting, a 1 MB string, 30 distinct
    non-spec methods, secrets under denylisted keys, nested, as ``password=`` and bearer text and
    echoed in errors. Stdout carries only JSON-RPC answers (one per call), the metrics keep their
    bounded labels, no audit file holds a secret, each call has exactly one record with its
    outcome, and ``mcp-comply audit verify`` passes. On the low-level Server the answers are those
    of the same server without mcp-comply, answer for answer."""
    env = _env(tmp_path, audit=True)
    ready = tmp_path / "ready.json"
    calls = _hostile_calls()
    client = {"name": "n" * 5000 + "\u0000\u202e", "version": "\ufeff" * 3}
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}
    lines = [json.dumps({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}).encode(),
             b'{"jsonrpc":"2.0","method":"notifications/initialized"}']
    lines += [b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":%s}' % (i, p)
              for i, (p, _) in enumerate(calls, 1)]
    others = range(1000, 1030)
    lines += [json.dumps({"jsonrpc": "2.0", "id": i, "method": f"x-vendor/m{i}"}).encode() for i in others]
    expected = {0, *range(1, len(calls) + 1), *others}
    with _running(framework, "stdio", env, extra=("--metrics-port", "0", "--ready-file", str(ready))) as proc:
        replies = _exchange(proc, lines, expected)
        url = json.loads(ready.read_text())["metrics_url"]
        with urllib.request.urlopen(url, timeout=5) as resp:
            exposition = resp.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
        tail = os.read(proc.stdout.fileno(), 1 << 20)
    assert tail.strip() == b"" or all(json.loads(x)["jsonrpc"] == "2.0" for x in tail.splitlines() if x.strip())
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    assert sorted(r["id"] for r in replies) == sorted(expected)  # one answer each, nothing else

    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    tools = {s.labels["tool"] for s in families["mcp_tool_calls"].samples}
    assert tools <= {"_unknown_", "add", "fail", "crash"}
    operation = families[semconv.SERVER_OPERATION_DURATION_SECONDS].samples
    assert {s.labels["mcp_method_name"] for s in operation} == {"initialize", "tools/call", "_other_"}
    other = [s.value for s in operation if s.name.endswith("_count") and s.labels["mcp_method_name"] == "_other_"]
    assert other == [30]

    raw = b"".join(p.read_bytes() for p in (tmp_path / "audit").rglob("*") if p.is_file())
    for secret in (HOSTILE_SECRET, HOSTILE_BEARER.split()[1]):
        assert secret.encode() not in raw
    records = _chain_records(tmp_path / "audit")
    tool_calls = [r for r in records if r["kind"] == "call" and r["method"] == "tools/call"]
    assert sorted(int(r["request_id"]) for r in tool_calls) == list(range(1, len(calls) + 1))
    outcomes = {int(r["request_id"]): r["outcome"] for r in tool_calls}
    assert {i: outcomes[i] for i, (_, o) in enumerate(calls, 1) if o is not None} == {
        i: o for i, (_, o) in enumerate(calls, 1) if o is not None}
    assert sorted(int(r["request_id"]) for r in records if r["kind"] == "call"
                  and r["method"].startswith("x-vendor/")) == list(others)
    assert {(r["client"]["name"], r["client"]["version"]) for r in tool_calls} == {("n" * 256, "\ufeff" * 3)}  # capped
    _verify_cli(tmp_path, env)
    if framework == "lowlevel":  # the application's own answers, its exception included, reach the client unchanged
        with _running(framework, "stdio", _env(tmp_path, audit=False), extra=("--bare",)) as proc:
            bare = _exchange(proc, lines, expected)
            proc.kill()
        assert sorted(bare, key=_by_id) == sorted(replies, key=_by_id)
        assert {"code": 0, "message": "boom"} in [r.get("error") for r in replies]  # `crash`, as the SDK says it


def _by_id(reply: dict[str, Any]) -> int:
    return int(reply["id"])


def _exchange(proc: subprocess.Popen[bytes], lines: list[bytes], expected: set[int]) -> list[dict[str, Any]]:
    """Write ``lines`` to the server's stdin and read its stdout until the ids ``expected`` are
    answered (20 s at most); every line must be JSON."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(b"\n".join(lines) + b"\n")
    proc.stdin.flush()
    replies: list[dict[str, Any]] = []
    buffer, deadline = b"", time.monotonic() + 20
    while {r.get("id") for r in replies} != expected and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.5)[0]:
            chunk = os.read(proc.stdout.fileno(), 1 << 20)
            assert chunk, "the server closed stdout"
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            replies += [json.loads(x, parse_int=_id_int) for x in done if x.strip()]  # JSON or it raises
    return replies


def _verify_cli(tmp_path: Path, env: dict[str, str]) -> None:
    """``mcp-comply audit verify`` of the test's log with its public key: exit 0."""
    verified = subprocess.run([sys.executable, "-m", "mcp_comply", "audit", "verify", str(tmp_path / "audit"),
                               "--key", str(tmp_path / "keys" / "audit-signing.pub")],
                              check=False, capture_output=True, text=True, timeout=60, env=env)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def _post(url: str, message: dict[str, Any], session: str | None = None) -> tuple[int, str | None, list[Any]]:
    """One JSON-RPC message POSTed over streamable HTTP: (status, the session id the server names,
    the JSON-RPC messages of the answer, whether JSON or an event stream)."""
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    if session is not None:
        headers |= {"mcp-session-id": session, "mcp-protocol-version": "2025-11-25"}
    request = urllib.request.Request(url, data=json.dumps(message).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, named, body, kind = resp.status, resp.headers.get("mcp-session-id"), resp.read(), resp.headers.get(
                "content-type", "")
    except urllib.error.HTTPError as exc:
        status, named, body, kind = exc.code, None, exc.read(), exc.headers.get("content-type", "")
    if kind.startswith("text/event-stream"):
        return status, named, [json.loads(x[5:]) for x in body.decode().splitlines() if x.startswith("data:")]
    return status, named, [json.loads(body)] if body else []


def test_many_sessions_and_forged_session_ids_over_http(tmp_path: Path) -> None:
    """120 sessions over streamable HTTP, each with its own long odd client name and one call, and
    120 calls under forged session ids (one of 8 KB): each real call has exactly one record naming
    its own session and client, a forged one none (the SDK answers 404 before the server sees it);
    no metric label carries a session or client; ``mcp-comply audit verify`` passes."""
    env = _env(tmp_path, audit=True)
    port = _free_port()
    ready = tmp_path / "ready.json"
    url = f"http://127.0.0.1:{port}/mcp"
    sessions: dict[str, int] = {}
    with _running("mcpserver", "http", env, port, extra=("--metrics-port", "0", "--ready-file", str(ready))) as proc:
        _wait_port(port, proc)
        for k in range(120):
            client = {"name": f"c{k}-" + "\u202e\u0000" * 100, "version": str(k) * 300}
            status, session, _ = _post(url, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client}})
            assert status == 200
            assert session is not None
            assert _post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)[0] == 202
            status, _, answer = _post(url, {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                            "params": {"name": "add", "arguments": {"a": k, "b": 1}}}, session)
            assert (status, answer[0]["result"]["content"][0]["text"]) == (200, str(k + 1))
            sessions[session] = k
        for k in range(120):
            forged = "f" * 8192 if k == 0 else f"forged-{k}"
            status, _, _ = _post(url, {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                       "params": {"name": "add", "arguments": {"a": -k, "b": 1}}}, forged)
            assert status == 404
        with urllib.request.urlopen(json.loads(ready.read_text())["metrics_url"], timeout=5) as resp:
            exposition = resp.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == -signal.SIGTERM
    calls = [r for r in _chain_records(tmp_path / "audit") if r["kind"] == "call" and r["method"] == "tools/call"]
    assert sorted(r["args"]["a"] for r in calls) == list(range(120))  # one each, no forged call
    for r in calls:
        k = sessions[r["session_id"]]
        assert (r["args"]["a"], r["outcome"]) == (k, "ok")
        assert (r["client"]["name"], r["client"]["version"]) == (
            (f"c{k}-" + "\u202e\u0000" * 100)[:256], (str(k) * 300)[:256])
    values = {v for family in text_string_to_metric_families(exposition) for s in family.samples
              for v in s.labels.values()}
    assert not any(session in values for session in sessions)
    assert not any(v.startswith(("c1", "forged", "fff")) for v in values)
    _verify_cli(tmp_path, env)
