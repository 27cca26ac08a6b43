"""``mcp-comply demo``: the example weather server, instrumented, driven by the SDK's real client.

Starts ``examples/weather_server.py`` over streamable HTTP on 127.0.0.1, sends a realistic mix of
calls (successes, tool errors, bad arguments, an unknown tool, a crash), reads the server's own
``/metrics`` and prints a per-tool summary. Leaves no process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families

from mcp_comply import _progress, semconv
from mcp_comply.exceptions import InputError, MCPComplyError

_STARTUP_TIMEOUT_S = 60.0
MARKER = ".mcp-comply-demo"
"""The file that marks a folder as the demo's own, so a rerun may replace it (and nothing else)."""


def example_script() -> Path:
    """The example server: shipped inside the wheel, or the repository's ``examples/``."""
    packaged = resources.files("mcp_comply").joinpath("_examples/weather_server.py")
    if packaged.is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[2] / "examples" / "weather_server.py"
    if repo.is_file():
        return repo
    raise MCPComplyError("the example server (examples/weather_server.py) is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The traffic: (tool, arguments, what the client should see). "isError" or "ok".
def traffic() -> list[tuple[str, dict[str, Any], str]]:
    calls: list[tuple[str, dict[str, Any], str]] = []
    cities = ["paris", "berlin", "lisbon", "oslo", "rome", "madrid"]
    for i in range(24):
        calls.append(("get_forecast", {"city": cities[i % len(cities)], "days": 1 + i % 7}, "ok"))
    for unit_in, unit_out in (("C", "F"), ("F", "C"), ("K", "C"), ("C", "K")) * 3:
        calls.append(("convert_temperature", {"value": 21.5, "from_unit": unit_in, "to_unit": unit_out}, "ok"))
    for legs in ([{"city": "paris", "nights": 2}], [{"city": "rome", "nights": 3}, {"city": "oslo", "nights": 1}]):
        calls.append(("plan_trip", {"request": {"traveller": "ada", "legs": legs, "prefer": "warm"}}, "ok"))
    calls += [
        ("get_forecast", {"city": "atlantis"}, "isError"),                       # deliberate tool error
        ("get_forecast", {"city": "paris", "days": 30}, "isError"),              # deliberate tool error
        ("get_forecast", {"city": "paris", "days": "many"}, "isError"),          # fails the input schema
        ("plan_trip", {"request": {"traveller": "", "legs": []}}, "isError"),   # fails the input schema
        ("book_flight", {"to": "oslo"}, "isError"),                              # unknown tool
        ("station_status", {"station_id": "ws-7"}, "ok"),
        ("station_status", {"station_id": "ws-13"}, "isError"),                  # the tool crashes
        # a client that passes a credential: it is recorded as a keyed digest, never in clear
        ("get_forecast", {"city": "oslo", "api_key": "sk-live-" + "d3m0" * 6}, "ok"),
    ]
    return calls


@dataclass
class ToolSummary:
    calls: int = 0
    errors: int = 0
    by_error: dict[str, int] = field(default_factory=dict)
    buckets: list[tuple[float, float]] = field(default_factory=list)


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus ``histogram_quantile``: linear interpolation inside cumulative buckets."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if bound == float("inf"):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def summarise(metrics_text: str) -> dict[str, ToolSummary]:
    tools: dict[str, ToolSummary] = {}
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            tool = s.labels.get(semconv.LABEL_TOOL)
            if tool is None:
                continue
            summary = tools.setdefault(tool, ToolSummary())
            if s.name == semconv.TOOL_CALLS_TOTAL:
                summary.calls += int(s.value)
                if s.labels.get(semconv.LABEL_STATUS) == semconv.STATUS_ERROR:
                    summary.errors += int(s.value)
                    kind = s.labels.get(semconv.LABEL_ERROR_TYPE, "")
                    summary.by_error[kind] = summary.by_error.get(kind, 0) + int(s.value)
            elif s.name == semconv.TOOL_DURATION_SECONDS + "_bucket":
                bound = float(s.labels["le"])
                merged = dict(summary.buckets)
                merged[bound] = merged.get(bound, 0.0) + s.value
                summary.buckets = sorted(merged.items())
    return tools


def format_summary(tools: dict[str, ToolSummary]) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f} ms"

    header = f"{'tool':<22}{'calls':>6}{'errors':>8}{'error rate':>12}{'p50':>11}{'p95':>11}  errors by type"
    lines = [header, "-" * len(header)]
    for name in sorted(tools):
        t = tools[name]
        rate = f"{100 * t.errors / t.calls:.1f}%" if t.calls else "-"
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(t.by_error.items()))
        lines.append(f"{name:<22}{t.calls:>6}{t.errors:>8}{rate:>12}{ms(bucket_quantile(0.5, t.buckets)):>11}"
                     f"{ms(bucket_quantile(0.95, t.buckets)):>11}  {kinds}")
    total = sum(t.calls for t in tools.values())
    errors = sum(t.errors for t in tools.values())
    lines.append("-" * len(header))
    lines.append(f"{'all tools':<22}{total:>6}{errors:>8}{(f'{100 * errors / total:.1f}%' if total else '-'):>12}")
    return "\n".join(lines)


def _fetch(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
        return str(response.read().decode())


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MCPComplyError(f"the example server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            _fetch(url, timeout=1.0)
        except OSError:
            time.sleep(0.1)
        else:
            return
    raise MCPComplyError(f"the example server did not become ready within {_STARTUP_TIMEOUT_S:.0f} s")


async def _drive(url: str, calls: list[tuple[str, dict[str, Any], str]]) -> list[str]:
    from mcp import Client

    seen: list[str] = []
    async with Client(url) as client:
        half = len(calls) // 2
        for name, args, _ in calls[:half]:
            result = await client.call_tool(name, args)
            seen.append("isError" if result.is_error else "ok")
    async with Client(url, mode="legacy") as client:  # the older protocol era, with a session
        for name, args, _ in calls[half:]:
            result = await client.call_tool(name, args)
            seen.append("isError" if result.is_error else "ok")
    return seen


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """Stop a server we started: SIGINT first (uvicorn shuts down gracefully and the process exits
    normally, so the audit writer seals its chain), then SIGKILL if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _wait_port_open(port: int) -> None:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise MCPComplyError(f"the example server did not open port {port}")


def prepare_output(folder: Path) -> Path:
    """An empty folder for the demo: created, or a previous demo's folder (it has the marker file)
    replaced. Any other existing folder is refused rather than deleted."""
    folder = folder.resolve()
    if folder.exists() or folder.is_symlink():
        if not folder.is_dir():
            raise InputError("is a file, not a folder", source=str(folder))
        if (folder / MARKER).is_file() or ((folder / "server.log").is_file() and (folder / "keys").is_dir()):
            shutil.rmtree(folder)  # the demo's own folder, rewritten on every run
        elif any(folder.iterdir()):
            raise InputError(f"exists and is not a demo folder (no {MARKER} in it); refusing to delete it: "
                             "give a new or empty folder with --out", source=str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("written by mcp-comply demo; the next run replaces this folder\n",
                                 encoding="utf-8")
    return folder


def run_demo(out: TextIO | None = None, output_dir: Path | None = None) -> int:
    """Run the demo; 0 when every call was counted as expected and the audit log verifies."""
    import anyio

    from mcp_comply.audit.keys import keygen, load_verifier
    from mcp_comply.audit.verify import verify_directory

    out = out or sys.stdout
    script = example_script()
    output_dir = prepare_output(output_dir or Path("mcp-comply-demo"))
    audit_dir, key_dir = output_dir / "audit", output_dir / "keys"
    _, public_key = keygen(key_dir, "mcp-comply-demo")
    mcp_port, metrics_port = free_port(), free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    started = time.monotonic()
    log = output_dir / "server.log"
    env = dict(os.environ, MCP_COMPLY_LOG_LEVEL="warning", PYTHONUNBUFFERED="1",
               MCP_COMPLY_AUDIT_DIR=str(audit_dir), MCP_COMPLY_AUDIT_SIGNING_KEY=str(key_dir / "audit-signing.key"))
    with log.open("wb") as log_fh:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and our own example
            [sys.executable, str(script), "--transport", "http", "--port", str(mcp_port),
             "--metrics-port", str(metrics_port)],
            stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
        )
    _progress.step(f"starting the example server (pid {proc.pid})")
    try:
        print(f"mcp-comply demo: example server {script.name} (pid {proc.pid}) on "
              f"http://127.0.0.1:{mcp_port}/mcp", file=out)
        _wait_ready(metrics_url.replace("/metrics", "/healthz"), proc, log)
        _wait_port_open(mcp_port)
        calls = traffic()
        _progress.step(f"sending {len(calls)} tool calls with the MCP SDK client")
        seen = anyio.run(_drive, f"http://127.0.0.1:{mcp_port}/mcp", calls)
        expected = [want for _, _, want in calls]
        text = _fetch(metrics_url)
        ready = _fetch(metrics_url.replace("/metrics", "/readyz"))
    finally:
        _progress.step("stopping the example server")
        stop_process(proc)
    tools = summarise(text)
    counted = sum(t.calls for t in tools.values())
    print(f"\nSent {len(calls)} tools/call requests with the MCP SDK client (both protocol eras).\n", file=out)
    print(format_summary(tools), file=out)
    print(f"\nMetrics were served at {metrics_url} (also /healthz, /readyz: {ready.strip()})", file=out)

    _progress.step("verifying the audit log")
    report = verify_directory(audit_dir, verifiers=[load_verifier(public_key)])
    records = sum(c.records for c in report.chains)
    checkpoints = sum(c.checkpoints_verified for c in report.chains)
    print(f"\nAudit log: {records} records in {audit_dir}, {checkpoints} signed checkpoint(s) verified: "
          f"{'intact' if report.intact else 'NOT INTACT'}", file=out)
    for finding in report.findings:
        print(f"  finding: {finding}", file=out)
    redacted = _redacted_example(audit_dir)
    if redacted:
        print(f"  a call that passed a secret, as recorded: {redacted}", file=out)
    print(f"  verify it yourself: mcp-comply audit verify {audit_dir} --key {public_key}", file=out)
    release_ok = _release(output_dir, script, out)
    print(f"Done in {time.monotonic() - started:.1f} s; the example server was stopped.", file=out)
    ok = seen == expected and counted == len(calls) and report.intact and checkpoints > 0 and release_ok
    if not ok:
        print(f"\nMISMATCH: client saw {seen.count('isError')} errors (expected {expected.count('isError')}); "
              f"metrics counted {counted} of {len(calls)} calls; audit intact: {report.intact}; "
              f"release gate passed: {release_ok}", file=out)
        return 1
    return 0


def _redacted_example(audit_dir: Path) -> str | None:
    for path in sorted(audit_dir.glob("chain-*/segment-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if "REDACTED" in line and '"kind":"call"' in line:
                record = json.loads(line)
                return json.dumps({k: record[k] for k in ("tool", "outcome", "args", "redacted")})
    return None


_DEMO_CONFIG = """\
# The demo's project configuration (what `mcp-comply generate` and `check` read).
server: weather_server:build_server
service_name: weather
policy: policy.yaml
owners: [weather-team@example.org]
intended_purpose: Weather forecasts and trip planning tools that a travel assistant's AI agent calls.
ai_act:
  role: provider
  provider: Example Travel Ltd. (demo data)
  contact: weather-team@example.org
  human_oversight: Travellers see every suggestion before booking; the agent cannot book or pay.
  risk:
    ai_system: component
    prohibited_practice: false
    annex_iii_areas: []
    annex_i_safety_component: false
    gpai_model_provided: false
    interacts_with_people: true
    generates_synthetic_content: false
    emotion_or_biometric_categorisation: false
release:
  artifacts: [dist/*]
  provenance_key: keys/provenance-signing.pub
  audit_dir: ../audit
  audit_key: ../keys/audit-signing.pub
"""

_DEMO_POLICY = """\
# The demo's policy: the audit trail is on and signed; the gate requires every control but
# http-auth (the demo serves plain HTTP on loopback) and provenance is checked against dist/*.
version: 1
name: demo
audit:
  directory: ../audit
  signing_key: ../keys/audit-signing.key
check:
  required: [instrumentation, audit-signing, audit-chain, retention, sbom, provenance, monitoring, ai-act-docs,
             strict-schemas]
"""

_DEMO_PYPROJECT = """\
[project]
name = "weather-server"
version = "1.0.0"
description = "Weather forecasts and trip planning tools for AI agents (MCP server)."
license = "Apache-2.0"
requires-python = ">=3.11"
dependencies = ["mcp-comply"]

[project.urls]
Homepage = "https://example.org/weather-server"
"""


def _demo_project(project: Path, script: Path) -> Path:
    """A small but complete release project around the example server; returns the built archive."""
    import tarfile

    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(_DEMO_PYPROJECT, encoding="utf-8")
    (project / "mcp-comply.yaml").write_text(_DEMO_CONFIG, encoding="utf-8")
    (project / "policy.yaml").write_text(_DEMO_POLICY, encoding="utf-8")
    shutil.copyfile(script, project / "weather_server.py")
    (project / "dist").mkdir()
    archive = project / "dist" / "weather_server-1.0.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:  # the release artefact: the server's source
        for name in ("pyproject.toml", "weather_server.py"):
            info = tar.gettarinfo(str(project / name), arcname=f"weather_server-1.0.0/{name}")
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with (project / name).open("rb") as fh:
                tar.addfile(info, fh)
    return archive


def _release(output_dir: Path, script: Path, out: TextIO) -> bool:
    """Generate every release artefact for a demo project around the example server, then run the
    release gate on it. True when the gate passes."""
    from mcp_comply.check import inputs_from, run_check
    from mcp_comply.generate import Options, generate, resolve_project
    from mcp_comply.generate.provenance import KEY_FILE, keygen

    project_dir = output_dir / "project"
    archive = _demo_project(project_dir, script)
    keygen(project_dir / "keys")
    _progress.step(f"generating the release artefacts of the demo project {project_dir}")
    project = resolve_project(project_dir)
    options = Options(artifacts=(archive,), signing_key=project_dir / "keys" / KEY_FILE)
    kinds = ("dashboards", "alerts", "sbom", "provenance", "ai-act")
    result = generate(project, kinds, project_dir, options=options)
    by_kind: dict[str, list[str]] = {}
    for artifact in result.artifacts:
        by_kind.setdefault(artifact.kind, []).append(artifact.path)
    print(f"\nRelease artefacts for the demo project {project_dir} (mcp-comply generate):", file=out)
    print(f"  dashboards  {', '.join(by_kind['dashboards'][:2])}: Grafana > Dashboards > New > Import, upload the "
          "file, pick your Prometheus data source (or use dashboards/provisioning/)", file=out)
    print(f"  alerts      {', '.join(by_kind['alerts'][:2])}: add both to rule_files: in prometheus.yml; "
          "runbook in alerts/runbook.md", file=out)
    print(f"  sbom        {by_kind['sbom'][0]}", file=out)
    print(f"  provenance  {by_kind['provenance'][0]} (SLSA v1, DSSE, Ed25519) for dist/{archive.name}", file=out)
    ai_docs = by_kind["ai-act"]
    print(f"  ai-act      {ai_docs[0].rsplit('/', 1)[0]}/ ({len(ai_docs)} documents)", file=out)
    _progress.step("running the release gate (mcp-comply check)")
    report = run_check(project, inputs_from(project))
    print(f"\nRelease gate (mcp-comply check, policy {project.policy.name}):\n", file=out)
    print(report.table(), file=out)
    print(f"\nTry it: cd {project_dir} && mcp-comply check", file=out)
    return report.ok
