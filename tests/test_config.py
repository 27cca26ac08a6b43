"""Policy files: valid ones load; every error names file, path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_comply.config import Policy, load_policy
from mcp_comply.exceptions import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_policy_loads(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, "version: 1\nname: strict\nmetrics:\n  port: 9464\n"))
    assert policy == Policy(name="strict", metrics={"port": 9464})  # type: ignore[arg-type]
    assert policy.metrics.host == "127.0.0.1"


@pytest.mark.parametrize(("text", "path", "reason"), [
    ("metrics:\n  port: 70000\n", "metrics.port", "less than or equal to 65535"),
    ("metrics:\n  prot: 1\n", "metrics.prot", "Extra inputs are not permitted"),
    ("version: 2\n", "version", "Input should be 1"),
    ("tracing: yes-please\n", "tracing", "valid dictionary"),
    ("- a\n- b\n", "", "expected a mapping at the top level, found list"),
    ("metrics: [\n", "line 2, column 1", "not valid YAML"),
])
def test_errors_name_file_path_and_reason(tmp_path: Path, text: str, path: str, reason: str) -> None:
    file = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_policy(file)
    err = info.value
    assert err.source == str(file)
    assert err.path == path
    assert reason in err.reason
    assert str(file) in err.diagnostics()


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read policy file: No such file or directory"):
        load_policy(tmp_path / "absent.yaml")


def test_empty_file_is_the_default_policy(tmp_path: Path) -> None:
    assert load_policy(_write(tmp_path, "")) == Policy()
