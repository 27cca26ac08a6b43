"""The generated dashboards and rules against a real Prometheus server and real traffic.

A real Prometheus (Debian package) on 127.0.0.1 scrapes the instrumented example server every
second and evaluates the generated rules, while the MCP SDK's client drives the example server over
streamable HTTP (successes and every kind of failure). Then every dashboard query, every template
variable, every recording rule and every alert's quantity is evaluated through Prometheus's HTTP API:
none may fail, and each must return data. Every rule must report health "ok".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client

import prometheus_tools
from mcp_comply.config import Policy
from mcp_comply.demo import example_script, free_port, stop_process, traffic
from mcp_comply.generate import Project, generate, rules

pytestmark = pytest.mark.e2e
JOB = "weather"
SCRAPE_S = 1


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def _wait(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except OSError as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


class Prom:
    def __init__(self, base: str) -> None:
        self.base = base

    def query(self, expr: str) -> dict[str, Any]:
        url = f"{self.base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            return dict(_get(url))
        except urllib.error.HTTPError as exc:  # 400/422 carry the error as JSON
            return dict(json.loads(exc.read().decode()))

    def label_values(self, label: str, match: str) -> list[str]:
        url = f"{self.base}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": match})
        return list(_get(url)["data"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prom, Path]]:
    prometheus = prometheus_tools.binary("prometheus")
    tmp = tmp_path_factory.mktemp("prom")
    project = Project(tmp, None, None, Policy(), "(built-in defaults)")
    generate(project, ["dashboards", "alerts"], tmp)
    # Checkpoints every second, so the checkpoint-age panel and rule see real data.
    policy_file = tmp / "policy.yaml"
    policy_file.write_text("audit:\n  checkpoint_interval_s: 1\n")
    mcp_port, metrics_port, prom_port = free_port(), free_port(), free_port()
    config = {
        "global": {"scrape_interval": f"{SCRAPE_S}s", "evaluation_interval": f"{SCRAPE_S}s"},
        "rule_files": [str(tmp / "alerts" / rules.RECORDING_FILE), str(tmp / "alerts" / rules.ALERTS_FILE)],
        "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, MCP_COMPLY_LOG_LEVEL="warning", MCP_COMPLY_AUDIT_DIR=str(tmp / "audit"),
               MCP_COMPLY_POLICY=str(policy_file))
    server_log = (tmp / "server.log").open("wb")
    server = subprocess.Popen([sys.executable, str(example_script()), "--transport", "http", "--port", str(mcp_port),
                               "--metrics-port", str(metrics_port)], stdout=server_log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=env)
    prom_log = (tmp / "prometheus.log").open("wb")
    prom = subprocess.Popen([str(prometheus), f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=prom_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{prom_port}"
        _wait("prometheus ready", lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=2).status == 200)
        _wait("example server", lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{metrics_port}/healthz", timeout=2).status == 200)
        client = Prom(base)

        def scraped(calls: int) -> bool:
            return _scalar(client, f'sum(mcp_tool_calls_total{{job="{JOB}"}})') == calls

        async def drive() -> None:
            async with Client(f"http://127.0.0.1:{mcp_port}/mcp") as session:
                for burst in range(2):  # two bursts, scraped apart, so rates are non-zero
                    for name, args, _ in traffic():
                        await session.call_tool(name, args)
                    if burst == 0:
                        # Prometheus must have seen the first burst before the second one starts
                        # (on a busy machine a fixed sleep can miss the scrape: every rate is then 0)
                        await anyio.to_thread.run_sync(
                            lambda: _wait("the first burst scraped", lambda: scraped(len(traffic()))))
                        await anyio.sleep(SCRAPE_S)

        _wait("the example server's MCP port", lambda: _port_open(mcp_port))
        anyio.run(drive)
        total = 2 * len(traffic())
        _wait("prometheus to scrape all calls", lambda: _scalar(client, f'sum(mcp_tool_calls_total{{job="{JOB}"}})')
              == total)
        # Let the recording rules and the rules that use them evaluate a few times.
        time.sleep(4 * SCRAPE_S)
        yield client, tmp
    finally:
        stop_process(server)
        stop_process(prom)
        server_log.close()
        prom_log.close()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _scalar(client: Prom, expr: str) -> float | None:
    result = client.query(expr)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _substitute(expr: str) -> str:
    for var, value in (("$__rate_interval", "1m"), ("$__range", "5m"), ("$__interval", "15s"),
                       ("$job", JOB), ("$instance", ".*"), ("$tool", ".*")):
        expr = expr.replace(var, value)
    return expr


def _dashboard_targets(folder: Path) -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((folder / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                found.append((path.name, panel["title"], target["expr"]))
    return found


def test_every_dashboard_query_returns_data(stack: tuple[Prom, Path]) -> None:
    client, folder = stack
    targets = _dashboard_targets(folder)
    assert len(targets) >= 30
    problems = []
    for board, title, expr in targets:
        answer = client.query(_substitute(expr))
        if answer["status"] != "success":
            problems.append(f"{board} / {title}: {answer.get('error')} ({expr})")
        elif not answer["data"]["result"]:
            problems.append(f"{board} / {title}: no data ({expr})")
    assert not problems, "\n".join(problems)


def test_dashboard_variables_resolve(stack: tuple[Prom, Path]) -> None:
    client, _ = stack
    assert client.label_values("job", "mcp_comply_info") == [JOB]
    assert len(client.label_values("instance", f'mcp_comply_info{{job=~"{JOB}"}}')) == 1
    tools = client.label_values("tool", f'mcp_tool_calls_total{{job=~"{JOB}", instance=~".*"}}')
    assert tools == ["_unknown_", "convert_temperature", "get_forecast", "plan_trip", "station_status"]


def test_every_rule_evaluates_healthy_and_has_data(stack: tuple[Prom, Path]) -> None:
    client, _ = stack
    ruleset = rules.build_rules(Policy())
    groups = _get(f"{client.base}/api/v1/rules")["data"]["groups"]
    seen = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(seen) == {r.record for r in ruleset.recording} | {a.name for a in ruleset.alerts}
    unhealthy = {name: r.get("lastError") for name, r in seen.items() if r["health"] != "ok"}
    assert not unhealthy, unhealthy
    problems = []
    for rec in ruleset.recording:
        answer = client.query(rec.record)
        if answer["status"] != "success" or not answer["data"]["result"]:
            problems.append(f"recording rule {rec.record}: {answer.get('error') or 'no data'}")
    for alert in ruleset.alerts:
        for expr in (alert.expr, alert.quantity):
            answer = client.query(expr)
            if answer["status"] != "success":
                problems.append(f"alert {alert.name}: {answer.get('error')} ({expr})")
        if not client.query(alert.quantity)["data"]["result"]:
            problems.append(f"alert {alert.name}: its quantity has no data ({alert.quantity})")
    assert not problems, "\n".join(problems)


def test_the_numbers_match_the_traffic(stack: tuple[Prom, Path]) -> None:
    client, _ = stack
    calls = traffic()
    per_tool: dict[str, int] = {}
    for name, _, _ in calls:
        per_tool[name if name != "book_flight" else "_unknown_"] = per_tool.get(name, 0) + 2
    answer = client.query(f'sum by (tool) (mcp_tool_calls_total{{job="{JOB}"}})')["data"]["result"]
    assert {r["metric"]["tool"]: int(float(r["value"][1])) for r in answer} == per_tool
    by_type = f'sum by (error_type) (mcp_tool_calls_total{{job="{JOB}", status="error"}})'
    errors = client.query(by_type)["data"]["result"]
    assert {r["metric"]["error_type"]: int(float(r["value"][1])) for r in errors} == {
        "tool_error": 4, "validation_error": 4, "unknown_tool": 2, "exception": 2}
    firing = [a for a in _get(f"{client.base}/api/v1/alerts")["data"]["alerts"] if a["state"] == "firing"]
    assert firing == [], firing


def test_a_healthy_tool_reads_zero_errors_not_no_data(stack: tuple[Prom, Path]) -> None:
    """convert_temperature is only ever called successfully: its error panels say 0."""
    client, folder = stack
    board = json.loads((folder / "dashboards" / "mcp-tool.json").read_text())
    by_title = {p["title"]: p for p in board["panels"]}
    for title, ref in (("Error ratio", 0), ("Errors by type", 1)):
        # a window that still holds the traffic however long the tests before this one took
        expr = by_title[title]["targets"][ref]["expr"].replace("$tool", "convert_temperature")
        assert _scalar(client, _substitute(expr.replace("$__rate_interval", "10m"))) == 0.0, title
    # ... and the server-side error ratio the alert reads is 0 for the pseudo-tool of unknown names.
    assert _scalar(client, f'{rules.SERVER_ERROR_RATIO}{{tool="_unknown_"}}') == 0.0
    assert _scalar(client, f'{rules.CLIENT_ERROR_RATIO}{{tool="_unknown_"}}') == 1.0
