"""The light runtime, installed for real: build this tree's wheel, install it without extras into a
fresh virtual environment, and use it there.

It downloads the runtime's dependencies from the package index and takes about a minute, so it
runs only when asked (CI sets it): ``MCP_COMPLY_INSTALL_TEST=1 python3 -m pytest tests/test_cli_install.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(os.environ.get("MCP_COMPLY_INSTALL_TEST") != "1",
                                reason="builds a wheel and installs it into a fresh venv (about a minute, "
                                       "package index); set MCP_COMPLY_INSTALL_TEST=1")


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, env=env,  # type: ignore[call-overload, no-any-return]
                          **kwargs)


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("light")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(ROOT)])
    assert built.returncode == 0, built.stderr
    wheel = next((base / "dist").glob("mcp_comply-*.whl"))
    created = _run([sys.executable, "-m", "venv", str(base / "venv")])
    assert created.returncode == 0, created.stderr
    installed = _run([str(base / "venv" / "bin" / "pip"), "install", "-q", str(wheel)])
    assert installed.returncode == 0, installed.stderr
    return base / "venv" / "bin"


def test_the_plain_install_has_the_runtime_and_not_the_pipeline(venv: Path) -> None:
    code = ("import json, sys, importlib.util as u, mcp_comply\n"
            "fn = mcp_comply.instrument\n"
            "print(json.dumps({'instrument': callable(fn), 'file': mcp_comply.__file__,\n"
            "  'absent': [m for m in ('grafanalib', 'cyclonedx', 'lxml', 'rfc3987_syntax', 'rfc3986_validator',\n"
            "             'webcolors', 'jsonpointer', 'sigstore', 'fastmcp') if u.find_spec(m) is None],\n"
            "  'loaded': sorted(m for m in sys.modules if m.split('.')[0] in ('mcp', 'jsonschema', 'grafanalib'))}))")
    proc = _run([str(venv / "python"), "-c", code])
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert facts["instrument"] is True
    assert "/site-packages/mcp_comply/" in facts["file"]
    # the release pipeline and jsonschema's format extras (which do blocking reads on first use) are absent
    assert facts["absent"] == ["grafanalib", "cyclonedx", "lxml", "rfc3987_syntax", "rfc3986_validator",
                               "webcolors", "jsonpointer", "sigstore", "fastmcp"]
    assert facts["loaded"] == []


def test_shipped_policies_are_in_the_wheel(venv: Path) -> None:
    proc = _run([str(venv / "python"), "-c",
                 "from mcp_comply.config import load_policy, named_policy; "
                 "print(load_policy('strict').name, named_policy('default').parent.name)"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["strict", "policies"]


@pytest.mark.parametrize("command", ["generate", "check", "demo"])
def test_a_pipeline_command_names_the_extra_to_install(venv: Path, command: str, tmp_path: Path) -> None:
    proc = _run([str(venv / "mcp-comply"), command], cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"mcp-comply {command}: error: mcp-comply {command} needs ")
    assert lines[0].endswith("install it with: pip install 'mcp-comply[release]'")


def test_the_audit_commands_work_on_the_plain_install(venv: Path, tmp_path: Path) -> None:
    proc = _run([str(venv / "mcp-comply"), "audit", "keygen", "--out", str(tmp_path / "keys")])
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "keys" / "audit-signing.pub").is_file()
