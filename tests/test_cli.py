"""The command line's shape: help on every option, cheap start-up, the import graph of
``import mcp_comply``, the release extra, progress lines, exit codes by error type."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mcp_comply import cli, exceptions
from mcp_comply.cli import main

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ("grafanalib", "cyclonedx", "jsonschema", "sigstore", "mcp", "fastmcp", "lxml", "packaging",
            "rfc3987_syntax", "mcp_comply.generate", "mcp_comply.check", "mcp_comply.demo")


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout


def _loaded(code: str) -> set[str]:
    return set(json.loads(_python(code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))")))


def _top(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for n in names if m == n or m.startswith(n + "."))


def test_import_mcp_comply_loads_only_the_error_classes() -> None:
    """`import mcp_comply` is cheap: no framework, no pipeline, not even the runtime until used."""
    loaded = _loaded("import mcp_comply")
    assert sorted(m for m in loaded if m.startswith("mcp_comply")) == ["mcp_comply", "mcp_comply.exceptions"]
    assert _top(loaded, (*PIPELINE, "pydantic", "opentelemetry", "prometheus_client", "yaml", "structlog")) == []


def test_instrument_loads_the_runtime_and_nothing_of_the_pipeline() -> None:
    """Touching `mcp_comply.instrument` loads what instrument() needs (metrics, spans, config) and
    still no MCP framework, no release pipeline, no jsonschema."""
    loaded = _loaded("import mcp_comply; mcp_comply.instrument")
    assert {"prometheus_client", "opentelemetry.trace", "mcp_comply.instrument", "mcp_comply.config"} <= loaded
    assert _top(loaded, PIPELINE) == []


def test_the_command_line_parser_imports_only_the_standard_library() -> None:
    """`mcp-comply --help` and usage errors build the parser without the runtime or the pipeline."""
    loaded = _loaded("from mcp_comply import cli\ncli._parser(['generate'])")
    assert _top(loaded, (*PIPELINE, "pydantic", "opentelemetry", "prometheus_client", "yaml", "structlog",
                         "cryptography", "mcp_comply.config", "mcp_comply.instrument")) == []


def test_instrument_is_the_function_in_every_import_order() -> None:
    """The subpackage `mcp_comply.instrument` never shadows the function of the same name."""
    out = _python(textwrap.dedent("""
        import importlib, types
        import mcp_comply.instrument._core        # the subpackage first
        import mcp_comply.audit.sink              # which imports mcp_comply.instrument._record
        import mcp_comply
        from mcp_comply import instrument
        sub = importlib.import_module("mcp_comply.instrument")
        print(callable(mcp_comply.instrument), instrument is sub.instrument,
              isinstance(sub, types.ModuleType), mcp_comply.Instrumentation is sub.Instrumentation)
    """))
    assert out.split() == ["True", "True", "True", "True"]


def _walk(parser: argparse.ArgumentParser, path: str = "mcp-comply") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _walk(child, f"{path} {name}")
    return found


def test_every_command_has_a_description_and_every_option_help() -> None:
    parsers = _walk(cli._parser(["audit", "show"]))
    assert len(parsers) == 11  # the root, 6 commands (audit among them) and audit's 4 subcommands
    for path, parser in parsers:
        assert parser.description, path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{path} {action.option_strings or action.dest}"
            if action.choices is not None and not isinstance(action.choices, dict):
                for choice in action.choices:
                    assert choice in action.help, f"{path} {action.option_strings}: {choice} not in the help"


def test_generate_only_help_names_every_kind() -> None:
    from mcp_comply.generate import KINDS

    assert cli.KINDS == KINDS
    help_text = dict(_walk(cli._parser(["generate"])))["mcp-comply generate"].format_help()
    assert "dashboards,alerts,sbom,provenance,ai-act" in help_text.replace("\n", "").replace(" ", "")


def test_exit_codes_follow_the_error_type() -> None:
    e = exceptions
    assert cli.exit_code(e.IntegrityError("x")) == 1
    assert cli.exit_code(e.GenerationError("x")) == 1
    assert cli.exit_code(e.InputError("x", source="--seq")) == 2
    assert cli.exit_code(e.ConfigError("x", source="f.yaml")) == 2
    assert cli.exit_code(e.MissingExtraError("grafanalib", "release")) == 2
    assert cli.exit_code(e.InstrumentationError("x")) == 2
    assert cli.exit_code(e.MCPComplyError("x")) == 1

    class Custom(e.IntegrityError):
        pass

    assert cli.exit_code(Custom("a subclass keeps its parent's code")) == 1


_BLOCK_RELEASE = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class Absent(MetaPathFinder):
        # what a light install looks like: the release pipeline's packages are not there
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in {"grafanalib", "cyclonedx", "packageurl", "lxml", "rfc3987_syntax",
                                          "packaging"}:
                raise ModuleNotFoundError(name)
            return None

    sys.meta_path.insert(0, Absent())
    from mcp_comply.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("command", [["generate"], ["check"], ["demo"]])
def test_a_pipeline_command_without_the_release_extra_says_what_to_install(command: list[str],
                                                                             tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _BLOCK_RELEASE, *command], capture_output=True, text=True,
                          timeout=60, check=False, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == (f"mcp-comply {command[0]}: error: mcp-comply {command[0]} needs cyclonedx-python-lib, "
                           "grafanalib, jsonschema[format-nongpl], lxml, packageurl-python, packaging "
                           "(not installed); install it with: pip install 'mcp-comply[release]'\n")
    assert not (tmp_path / "mcp-comply-demo").exists()


def test_the_runtime_commands_work_without_the_release_extra(tmp_path: Path) -> None:
    """audit keygen (and the rest of `audit`) need only the runtime."""
    proc = subprocess.run([sys.executable, "-c", _BLOCK_RELEASE, "audit", "keygen", "--out", str(tmp_path / "k")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "k" / "audit-signing.pub").is_file()


def test_runtime_dependencies_are_only_what_instrument_and_audit_need() -> None:
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = sorted(Requirement(r).name for r in project["dependencies"])
    assert runtime == ["cryptography", "mcp", "opentelemetry-api", "opentelemetry-exporter-otlp",
                       "opentelemetry-sdk", "prometheus-client", "pydantic", "pyyaml", "structlog"]
    release = sorted(Requirement(r).name for r in project["optional-dependencies"]["release"])
    assert release == ["cyclonedx-python-lib", "grafanalib", "license-expression", "packaging"]
    assert "mcp-comply[release]" in project["optional-dependencies"]["test"]
    # every module the command line checks for comes from the release extra (or its dependencies)
    assert set(cli.RELEASE_MODULES) == {"grafanalib", "cyclonedx", "packageurl", "lxml", "rfc3987_syntax",
                                        "packaging"}


def test_generate_prints_progress_on_stderr_and_quiet_silences_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no project config here: the built-in default policy
    argv = ["generate", "--only", "dashboards,alerts", "--out", str(tmp_path)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    steps = [line.split("] ", 1)[1] for line in err.splitlines()]
    assert steps == ["building the Grafana dashboards", "building the alert and recording rules"]
    assert all(line.startswith("mcp-comply generate: [") for line in err.splitlines())
    assert "policy: (built-in defaults)" in out
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_a_named_policy_is_the_shipped_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--policy", "strict", "--only", "alerts", "--out", str(tmp_path), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"policy: {ROOT / 'policies' / 'strict.yaml'}" in out
    rules = (tmp_path / "alerts" / "mcp-comply-alerts.rules.yaml").read_text()
    assert "0.02" in rules  # strict.yaml's alerts.error_ratio


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    from mcp_comply import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mcp-comply {__version__}\n"
    assert main(["audit", "show", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "tool_error" in help_text
    assert "checkpoint" in help_text


def test_verify_provenance_takes_the_envelope_after_the_artifacts(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`--artifacts A B ENVELOPE` keeps ENVELOPE; notes are labelled notes, and --json has them too."""
    from mcp_comply.generate import provenance as pv

    private, public = pv.keygen(tmp_path / "keys")
    dist = tmp_path / "dist"
    dist.mkdir()
    files = [dist / "a-1.0.whl", dist / "a-1.0.tar.gz"]
    for f in files:
        f.write_bytes(f.name.encode())
    ctx = pv.build_context({}, tmp_path, "urn:test:builder")
    statement = pv.build_statement(files, ctx, sbom=None, byproducts=[], started=None)
    envelope = tmp_path / "provenance.intoto.json"
    envelope.write_bytes(pv.sign_envelope(pv.statement_bytes(statement), pv.load_private_key(private)))
    assert main(["verify-provenance", "--key", str(public), "--artifacts", *map(str, files), str(envelope)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"ok       DSSE signature verifies with {public}"
    assert lines[1:3] == [f"ok       {f.name}: sha256 matches subject {f.name}" for f in files]
    assert lines[3] == "note     builder not checked (it is 'urn:test:builder'); pass --builder-id"
    assert lines[4] == "verified"
    assert main(["verify-provenance", str(envelope), "--key", str(public), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checked"] == [f"DSSE signature verifies with {public}"]
    assert report["notes"] == ["builder not checked (it is 'urn:test:builder'); pass --builder-id",
                               "no files given (--artifacts): subject digests were not compared with any file"]


def test_python_dash_m_runs_the_command() -> None:
    """``python -m mcp_comply`` is ``mcp-comply``: same output, same exit codes."""
    from mcp_comply import __version__

    ok = subprocess.run([sys.executable, "-m", "mcp_comply", "--version"], check=False, capture_output=True,
                        text=True, timeout=60)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"mcp-comply {__version__}\n", "")
    bad = subprocess.run([sys.executable, "-m", "mcp_comply", "bogus"], check=False, capture_output=True, text=True,
                         timeout=60)
    assert (bad.returncode, bad.stdout, bad.stderr.count("\n")) == (2, "", 1)
    assert "invalid choice: 'bogus'" in bad.stderr
