"""`mcp-comply demo` end to end, and the pieces of its summary."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_comply import __version__
from mcp_comply.cli import main
from mcp_comply.demo import bucket_quantile, summarise, traffic


@pytest.mark.e2e
def test_demo_runs_end_to_end_and_leaves_no_process(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    from mcp_comply.demo import run_demo

    assert run_demo(out, output_dir=tmp_path / "demo") == 0
    text = out.getvalue()
    pid = int(re.search(r"\(pid (\d+)\)", text).group(1))  # type: ignore[union-attr]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    calls = traffic()
    assert f"Sent {len(calls)} tools/call requests" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines()
            if line.split() and line.split()[0] in {"get_forecast", "convert_temperature", "plan_trip",
                                                      "station_status", "_unknown_", "all"}}
    assert rows["get_forecast"][1:3] == ["28", "3"]
    assert rows["convert_temperature"][1:3] == ["12", "0"]
    assert rows["plan_trip"][1:3] == ["3", "1"]
    assert rows["station_status"][1:3] == ["2", "1"]
    assert rows["_unknown_"][1:3] == ["1", "1"]
    assert "exception=1" in " ".join(rows["station_status"])
    assert "validation_error=1" in " ".join(rows["get_forecast"])
    assert rows["all"][2:4] == [str(len(calls)), "6"]
    assert "/metrics" in text
    assert re.search(r"Audit log: \d+ records in .*, [1-9]\d* signed checkpoint\(s\) verified: intact", text)
    assert '"api_key": "[REDACTED:hmac-sha256:' in text
    assert b"d3m0d3m0" not in b"".join(p.read_bytes() for p in (tmp_path / "demo" / "audit").rglob("*")
                                      if p.is_file())
    # The release part: a project around the example server, every artefact, and the gate.
    project = tmp_path / "demo" / "project"
    root = Path(__file__).resolve().parents[1]
    for rel in ("dashboards/mcp-overview.json", "dashboards/mcp-tool.json", "alerts/mcp-comply-alerts.rules.yaml",
                "alerts/mcp-comply-recording.rules.yaml", "alerts/mcp-comply.rules.test.yaml"):
        assert (project / rel).read_bytes() == (root / rel).read_bytes(), rel  # same default monitoring policy
    assert "## MCPAuditWriteErrors" in (project / "alerts/runbook.md").read_text()
    for rel in ("release/sbom.cdx.json", "release/provenance.intoto.json", "ai-act/1.0.0/README.md",
                "ai-act/1.0.0/annex-iv-technical-documentation.md", "dist/weather_server-1.0.0.tar.gz"):
        assert (project / rel).is_file(), rel
    assert "Grafana > Dashboards > New > Import" in text
    gate = text.split("Release gate (mcp-comply check, policy demo):", 1)[1]
    statuses = {line.split()[0]: line.split()[2] for line in gate.splitlines()
                if line.split() and line.split()[0] in {"instrumentation", "audit-signing", "audit-chain", "retention",
                                                       "sbom", "provenance", "monitoring", "ai-act-docs",
                                                       "strict-schemas", "http-auth"}}
    assert statuses == {"instrumentation": "PASS", "audit-signing": "PASS", "audit-chain": "PASS", "retention": "PASS",
                        "sbom": "PASS", "provenance": "PASS", "monitoring": "PASS", "ai-act-docs": "PASS",
                        "strict-schemas": "PASS", "http-auth": "FAIL"}
    assert "PASS: every required control passes" in gate
    # Importing the example server to introspect it instruments it: that start-up line stays quiet.
    assert "mcp_comply_instrumented" not in capfd.readouterr().err


def test_cli_demo_exit_code_and_usage() -> None:
    assert main(["--version"]) == 0
    assert main(["no-such-command"]) == 2
    assert main([]) == 2


def test_console_script_is_installed() -> None:
    script = shutil.which("mcp-comply") or str(Path(sys.executable).with_name("mcp-comply"))
    out = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"mcp-comply {__version__}"


def test_bucket_quantile_matches_prometheus() -> None:
    buckets = [(0.1, 10.0), (0.5, 50.0), (1.0, 100.0), (float("inf"), 100.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.5)
    assert bucket_quantile(0.95, buckets) == pytest.approx(0.95)
    assert bucket_quantile(0.05, buckets) == pytest.approx(0.05)
    assert bucket_quantile(0.5, [(float("inf"), 0.0)]) is None
    assert bucket_quantile(0.99, [(0.1, 1.0), (float("inf"), 2.0)]) == pytest.approx(0.1)


@given(st.lists(st.floats(min_value=0.0, max_value=400.0), min_size=1, max_size=200),
       st.floats(min_value=0.01, max_value=0.99))
def test_bucket_quantile_lies_in_the_bucket_of_the_true_quantile(values: list[float], q: float) -> None:
    """The interpolated quantile lies within the bucket that holds the exact rank."""
    bounds = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, float("inf")]
    buckets = [(b, float(sum(v <= b for v in values))) for b in bounds]
    got = bucket_quantile(q, buckets)
    assert got is not None
    ordered = sorted(values)
    rank = q * len(values)
    true_value = ordered[max(0, min(len(ordered) - 1, int(rank + 0.999999) - 1))]
    upper = next(b for b in bounds if true_value <= b)
    lower = max([0.0] + [b for b in bounds if b < upper])
    assert lower <= got <= (upper if upper != float("inf") else 100.0)


def test_summary_reads_exposition_text() -> None:
    text = (
        '# TYPE mcp_tool_calls_total counter\n'
        'mcp_tool_calls_total{error_type="",status="ok",tool="a"} 3\n'
        'mcp_tool_calls_total{error_type="tool_error",status="error",tool="a"} 1\n'
        '# TYPE mcp_tool_duration_seconds histogram\n'
        'mcp_tool_duration_seconds_bucket{le="0.1",status="ok",tool="a"} 3\n'
        'mcp_tool_duration_seconds_bucket{le="+Inf",status="ok",tool="a"} 3\n'
        'mcp_tool_duration_seconds_bucket{le="0.1",status="error",tool="a"} 0\n'
        'mcp_tool_duration_seconds_bucket{le="+Inf",status="error",tool="a"} 1\n'
        'mcp_tool_duration_seconds_count{status="ok",tool="a"} 3\n'
        'mcp_tool_duration_seconds_sum{status="ok",tool="a"} 0.1\n'
    )
    (summary,) = summarise(text).values()
    assert (summary.calls, summary.errors, summary.by_error) == (4, 1, {"tool_error": 1})
    assert summary.buckets == [(0.1, 3.0), (float("inf"), 4.0)]
