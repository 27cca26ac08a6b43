"""stdio, both protocol eras, every framework, in a real subprocess: metrics over the endpoint,
spans from the child, and a protocol channel that carries nothing but JSON-RPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.adapter  # the framework matrix runs it in every supported version

SERVERS = Path(__file__).resolve().parents[1] / "servers.py"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def _wait_file(path: Path, timeout: float = 30.0) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return dict(json.loads(path.read_text()))
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_stdio_end_to_end(framework: str, mode: str, tmp_path: Path) -> None:
    ready, spans_file = tmp_path / "ready.json", tmp_path / "spans.jsonl"
    params = StdioServerParameters(
        command=sys.executable,
        args=[str(SERVERS), "--framework", framework, "--transport", "stdio", "--metrics-port", "0",
              "--spans-file", str(spans_file), "--ready-file", str(ready)],
        env={**os.environ, "MCP_COMPLY_LOG_LEVEL": "warning"},
    )

    async def go() -> str:
        async with Client(params, mode=mode) as client:
            assert (await client.call_tool("add", {"a": 2, "b": 2})).is_error is False
            assert (await client.call_tool("fail", {"reason": "x"})).is_error is True
            assert (await client.call_tool("nope", {})).is_error is True
            url = _wait_file(ready)["metrics_url"]
            return await anyio.to_thread.run_sync(_scrape, url)

    samples = _samples(anyio.run(go))
    assert samples[("mcp_tool_calls_total", (("error_type", ""), ("status", "ok"), ("tool", "add")))] == 1
    assert samples[("mcp_tool_calls_total",
                    (("error_type", "tool_error"), ("status", "error"), ("tool", "fail")))] == 1
    assert samples[("mcp_tool_calls_total",
                    (("error_type", "unknown_tool"), ("status", "error"), ("tool", "_unknown_")))] == 1
    key = ("mcp_server_operation_duration_seconds_count",
           (("error_type", ""), ("mcp_method_name", "tools/call"), ("network_transport", "pipe")))
    assert samples[key] == 1

    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    tool_spans = [s for s in spans if s["kind"] == "SERVER" and s["name"].startswith("tools/call")]
    assert [s["name"] for s in tool_spans] == ["tools/call add", "tools/call fail", "tools/call nope"]
    assert all(s["attributes"]["network.transport"] == "pipe" for s in tool_spans)
    assert [s["attributes"]["mcp_comply.outcome"] for s in tool_spans] == ["ok", "tool_error", "unknown_tool"]


@pytest.mark.e2e
def test_stdout_carries_only_json_rpc(framework: str, tmp_path: Path) -> None:
    """Every byte on stdout is a JSON-RPC message; the toolkit's logs are JSON lines on stderr."""
    env = {**os.environ, "MCP_COMPLY_LOG_LEVEL": "debug"}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "raw-test", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "crash", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 4, "method": "no/such"},
    ]
    proc = subprocess.Popen([sys.executable, str(SERVERS), "--framework", framework, "--transport", "stdio",
                             "--metrics-port", "0"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    assert proc.stdin is not None
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        # Keep stdin open until every request is answered: EOF makes the server stop at once.
        deadline = time.monotonic() + 60
        answered: set[int] = set()
        while answered != {1, 2, 3, 4} and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            reply = json.loads(line)
            if "id" in reply:
                answered.add(reply["id"])
        out, err = proc.communicate("", timeout=30)
        lines += out.splitlines()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    replies = [json.loads(line) for line in lines if line.strip()]  # raises if anything else reached stdout
    assert all(r["jsonrpc"] == "2.0" for r in replies)
    assert sorted(r["id"] for r in replies if "id" in r) == [1, 2, 3, 4]
    by_id = {r["id"]: r for r in replies if "id" in r}
    assert by_id[2]["result"]["content"][0]["text"] == "3"
    assert by_id[4]["error"]["code"] == -32601
    ours = [json.loads(x) for x in err.splitlines() if x.startswith("{") and '"mcp_comply' in x]
    assert any(entry["event"] == "mcp_comply_instrumented" for entry in ours)
