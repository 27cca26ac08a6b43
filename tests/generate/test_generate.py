"""`mcp-comply generate`: config discovery, atomic deterministic writes, --only, --check, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_comply.cli import main
from mcp_comply.exceptions import InputError
from mcp_comply.generate import KINDS, parse_only, resolve_project

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = [
    "dashboards/mcp-overview.json", "dashboards/mcp-overview.svg", "dashboards/mcp-tool.json",
    "dashboards/mcp-tool.svg", "dashboards/provisioning/dashboards.yaml",
    "dashboards/provisioning/datasource.yaml", "alerts/mcp-comply-recording.rules.yaml",
    "alerts/mcp-comply-alerts.rules.yaml", "alerts/mcp-comply.rules.test.yaml", "alerts/runbook.md",
]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_writes_every_file_and_check_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--out", "out"]) == 0
    assert sorted(files(tmp_path / "out")) == sorted(EXPECTED)
    assert "policy: (built-in defaults)" in capsys.readouterr().out
    assert main(["generate", "--out", "out", "--check"]) == 0
    assert "up to date: 10 files (dashboards, alerts)" in capsys.readouterr().out


def test_check_names_every_drifted_file_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "--out", "out"]) == 0
    capsys.readouterr()
    (tmp_path / "out/alerts/runbook.md").write_text("edited by hand\n")
    (tmp_path / "out/dashboards/mcp-tool.json").unlink()
    assert main(["generate", "--out", "out", "--check"]) == 1
    err = capsys.readouterr().err
    assert f"drift: {Path('out/dashboards/mcp-tool.json')}: missing" in err
    assert f"drift: {Path('out/alerts/runbook.md')}: differs" in err
    assert "2 of 10 generated files are out of date" in err
    assert (tmp_path / "out/alerts/runbook.md").read_text() == "edited by hand\n"  # --check writes nothing


def test_output_is_byte_identical_across_runs_and_processes(tmp_path: Path) -> None:
    for name in ("a", "b"):
        subprocess.run([sys.executable, "-m", "mcp_comply.cli", "generate", "--out", str(tmp_path / name)],
                       cwd=tmp_path, check=True, capture_output=True, env={**os.environ, "PYTHONHASHSEED": (name == "a"
                                                                           and "1") or "2"})
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert not list(tmp_path.rglob("*.tmp"))


def test_unchanged_files_are_not_rewritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["generate", "--out", str(out), "--only", "alerts"]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["generate", "--out", str(out), "--only", "alerts"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[:4]] == ["unchanged"] * 4
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_only_selects_kinds_and_rejects_unknown_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_only("alerts, dashboards") == ("dashboards", "alerts")
    assert parse_only(None) == KINDS
    assert main(["generate", "--out", str(tmp_path), "--only", "alerts"]) == 0
    assert sorted(files(tmp_path)) == sorted(p for p in EXPECTED if p.startswith("alerts/"))
    capsys.readouterr()
    assert main(["generate", "--out", str(tmp_path), "--only", "alerts,grafana"]) == 2
    err = capsys.readouterr().err
    assert err == ("mcp-comply generate: error: argument --only: unknown kind(s) 'grafana'; choose from "
                   "dashboards,alerts,sbom,provenance,ai-act (see mcp-comply generate --help)\n")


def test_project_config_and_its_policy_are_used(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies/mine.yaml").write_text("alerts:\n  error_ratio: 0.2\n  selector: 'job=\"weather\"'\n")
    (tmp_path / "mcp-comply.yaml").write_text("server: app:server\npolicy: policies/mine.yaml\nout_dir: build\n")
    project = resolve_project(tmp_path)
    assert project.policy.alerts.error_ratio == 0.2
    assert main(["generate", "--config", str(tmp_path / "mcp-comply.yaml"), "--only", "dashboards,alerts"]) == 0
    alerts = (tmp_path / "build/alerts/mcp-comply-alerts.rules.yaml").read_text()
    assert "job_tool:mcp_tool_server_errors:ratio_rate5m > 0.2 and" in alerts
    assert 'mcp_audit_write_errors_total{job="weather"}' in alerts


@pytest.mark.parametrize(("files_", "source", "path", "reason"), [
    ({"mcp-comply.yaml": "server: app:server\npolicy: p.yaml\n", "p.yaml": "slo:\n  availability: 1.5\n"},
     "p.yaml", "slo.availability", "Input should be less than 1"),
    ({"mcp-comply.yaml": "server: app:server\npolicy: p.yaml\n", "p.yaml": "alerts:\n  latency_for: soon\n"},
     "p.yaml", "alerts.latency_for", "String should match pattern"),
    ({"mcp-comply.yaml": "server: app:server\npolicy: p.yaml\n", "p.yaml": "metrics:\n  tool_buckets: [0.5, 2]\n"},
     "p.yaml", "", "metrics.tool_buckets must include slo.latency_threshold_s (1); got 0.5, 2"),
    ({"mcp-comply.yaml": "server: app:server\npolicy: p.yaml\n", "p.yaml": "metrics:\n  tool_buckets: [2, 1]\n"},
     "p.yaml", "metrics.tool_buckets", "bucket bounds must be positive, finite and strictly increasing"),
    ({"mcp-comply.yaml": "server: app:server\npolicy: p.yaml\n", "p.yaml": "alerts:\n  selector: job=weather\n"},
     "p.yaml", "alerts.selector", "must be Prometheus label matchers"),
    ({"mcp-comply.yaml": "server: app:server\npolicy: p.yaml\n",
      "p.yaml": "slo:\n  availability_error_types: [exception, timeout]\n"},
     "p.yaml", "slo.availability_error_types", "unknown: timeout"),
    ({"mcp-comply.yaml": "server: 12\n"}, "mcp-comply.yaml", "server", "Input should be a valid string"),
    ({"mcp-comply.yaml": "server: app:server\npolicy: missing.yaml\n"}, "missing.yaml", "",
     "cannot read policy file"),
])
def test_invalid_configuration_exits_2_naming_file_path_and_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], files_: dict[str, str], source: str, path: str,
        reason: str) -> None:
    for name, text in files_.items():
        (tmp_path / name).write_text(text)
    assert main(["generate", "--config", str(tmp_path / "mcp-comply.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    where = f"{tmp_path / source}: {path}: " if path else f"{tmp_path / source}: "
    assert err.startswith(f"mcp-comply generate: error: {where}")
    assert reason in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing is written on a configuration error


def test_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        resolve_project(config=tmp_path / "nope.yaml")


def test_committed_dashboards_and_alerts_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    """The repository's dashboards/ and alerts/ are what the default policy generates (CI drift gate)."""
    code = main(["generate", "--config", str(ROOT / "pyproject.toml"), "--only", "dashboards,alerts", "--check"])
    assert code == 0, capsys.readouterr().err


def test_default_kinds_follow_the_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mcp_comply.generate import Options, default_kinds

    bare = resolve_project(tmp_path)
    assert default_kinds(bare, Options()) == ("dashboards", "alerts")
    (tmp_path / "mcp-comply.yaml").write_text("server: no_such_module:server\n")
    configured = resolve_project(tmp_path)
    assert default_kinds(configured, Options()) == ("dashboards", "alerts", "sbom", "ai-act")
    assert default_kinds(configured, Options(artifacts=(tmp_path / "x.whl",))) == (
        "dashboards", "alerts", "sbom", "provenance", "ai-act")
    # The SBOM introspects the server: a bad import path is a configuration error naming it.
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo-server"\nversion = "1.0"\n')
    assert main(["generate", "--config", str(tmp_path / "mcp-comply.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith(f"mcp-comply generate: error: {tmp_path / 'mcp-comply.yaml'}: server: "
                              "cannot import 'no_such_module'")


def test_sbom_output_says_how_many_components_have_hashes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--config", str(ROOT / "pyproject.toml"), "--only", "sbom", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "release" / "sbom.cdx.json").read_text())
    assert f"{len(data['components'])} components, 0 with artefact hashes" in out
    assert "--report hashes.json -r installed.txt`, then pass --hashes-from hashes.json" in out
