"""Policy files: valid ones load; every error names file, path and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_comply.config import Policy, ProjectConfig, load_policy, load_project, load_server
from mcp_comply.exceptions import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_policy_loads(tmp_path: Path) -> None:
    policy = load_policy(_write(tmp_path, "version: 1\nname: strict\nmetrics:\n  port: 9464\n"))
    assert policy == Policy(name="strict", metrics={"port": 9464})  # type: ignore[arg-type]
    assert policy.metrics.host == "127.0.0.1"


_ORIGIN_REASON = ("must be 1 to 255 printable ASCII characters without spaces or '+' (a C2SP log origin, "
                  "e.g. audit.example.org/payments-mcp)")


@pytest.mark.parametrize(("text", "path", "reason"), [
    ("metrics:\n  port: 70000\n", "metrics.port", "less than or equal to 65535"),
    ("metrics:\n  prot: 1\n", "metrics.prot", "Extra inputs are not permitted"),
    ("version: 2\n", "version", "Input should be 1"),
    ("tracing: yes-please\n", "tracing", "valid dictionary"),
    ("- a\n- b\n", "", "expected a mapping at the top level, found list"),
    ("metrics: [\n", "line 2, column 1", "not valid YAML"),
    ("audit:\n  origin: 'audit.example.org/a b'\n", "audit.origin", _ORIGIN_REASON),
    ("audit:\n  origin: 'a+b'\n", "audit.origin", _ORIGIN_REASON),
    ("audit:\n  origin: \"a\\nb\"\n", "audit.origin", _ORIGIN_REASON),
    ("audit:\n  origin: ''\n", "audit.origin", _ORIGIN_REASON),
    ("audit:\n  origin: 'audit.example.org/\u00e9'\n", "audit.origin", _ORIGIN_REASON),
    (f"audit:\n  origin: '{'a' * 256}'\n", "audit.origin", _ORIGIN_REASON),
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


# --- project configuration (mcp-comply.yaml / [tool.mcp-comply]) --------------------------------


def test_project_from_yaml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.mcp-comply]\nserver = "other:app"\n')
    (tmp_path / "mcp-comply.yaml").write_text(
        "server: weather_server:build_server\nservice_name: weather\nowners: [sre@example.org]\n")
    config, source = load_project(tmp_path)
    assert source == str(tmp_path / "mcp-comply.yaml")
    assert config == ProjectConfig(server="weather_server:build_server", service_name="weather",
                                   owners=("sre@example.org",))


def test_project_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.mcp-comply]\nserver = "pkg.mod:server"\nintended_purpose = "weather"\n')
    config, source = load_project(tmp_path)
    assert source.endswith("pyproject.toml [tool.mcp-comply]")
    assert (config.server, config.intended_purpose, config.out_dir) == ("pkg.mod:server", "weather", ".")


@pytest.mark.parametrize(("files", "path", "reason"), [
    ({}, "", "no mcp-comply.yaml and no [tool.mcp-comply] table"),
    ({"mcp-comply.yaml": "server: nocolon\n"}, "server", "String should match pattern"),
    ({"mcp-comply.yaml": "server: a:b\nownerz: []\n"}, "ownerz", "Extra inputs are not permitted"),
    ({"mcp-comply.yaml": "- a\n"}, "", "expected a mapping at the top level"),
    ({"pyproject.toml": "[tool.mcp-comply\n"}, "", "not valid TOML"),
])
def test_project_errors_name_file_path_and_reason(tmp_path: Path, files: dict[str, str], path: str,
                                                  reason: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert info.value.path == path
    assert reason in info.value.reason


def test_load_server_imports_module_attr(tmp_path: Path) -> None:
    (tmp_path / "my_srv_mod.py").write_text("class Holder:\n    server = 'the-server'\n")
    assert load_server("my_srv_mod:Holder.server", tmp_path) == "the-server"
    with pytest.raises(ConfigError, match=r"has no attribute 'Holder\.nope'"):
        load_server("my_srv_mod:Holder.nope", tmp_path)
    with pytest.raises(ConfigError, match="cannot import 'no_such_module_xyz'"):
        load_server("no_such_module_xyz:app", tmp_path)


# --- every error in one run; empty files; the file named; shipped policies by name -------------


def test_every_validation_error_is_reported_in_one_run(tmp_path: Path) -> None:
    file = _write(tmp_path, "metrics:\n  port: 70000\naudit:\n  fsync: sometimes\n  capture: all\nslo:\n  nope: 1\n")
    with pytest.raises(ConfigError) as info:
        load_policy(file)
    assert [(p.source, p.path) for p in info.value.problems] == [
        (str(file), "metrics.port"), (str(file), "audit.fsync"), (str(file), "audit.capture"),
        (str(file), "slo.nope")]
    assert info.value.diagnostics().splitlines() == [
        f"{file}: metrics.port: Input should be less than or equal to 65535",
        f"{file}: audit.fsync: Input should be 'always', 'batch' or 'never'",
        f"{file}: audit.capture: Input should be 'none', 'digest', 'redacted' or 'full'",
        f"{file}: slo.nope: Extra inputs are not permitted",
    ]


def test_an_empty_config_file_is_read_like_an_empty_policy_file(tmp_path: Path) -> None:
    """Both are an empty mapping: the policy takes every default, the config misses `server`."""
    assert load_policy(_write(tmp_path, "")) == Policy()
    assert load_policy(_write(tmp_path, "# only a comment\n")) == Policy()
    (tmp_path / "mcp-comply.yaml").write_text("")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert (info.value.source, info.value.path, info.value.reason) == (
        str(tmp_path / "mcp-comply.yaml"), "server", "Field required")


def test_shipped_policies_load_by_name() -> None:
    root = Path(__file__).resolve().parents[1]
    assert load_policy("strict") == load_policy(root / "policies" / "strict.yaml")
    assert load_policy("strict").name == "strict"
    assert load_policy("default") == load_policy(root / "policies" / "default.yaml")
    with pytest.raises(ConfigError, match="cannot read policy file"):
        load_policy("lenient")


def test_a_file_named_like_a_shipped_policy_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "strict").write_text("name: mine\n")
    assert load_policy("strict").name == "mine"


def test_a_server_module_that_raises_on_import_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "raising_srv_mod.py").write_text("raise RuntimeError('no database')\n")
    with pytest.raises(ConfigError) as info:
        load_server("raising_srv_mod:server", tmp_path, source="proj/mcp-comply.yaml")
    assert (info.value.source, info.value.path) == ("proj/mcp-comply.yaml", "server")
    assert info.value.reason == "importing 'raising_srv_mod' raised RuntimeError: no database"
    (tmp_path / "exiting_srv_mod.py").write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(ConfigError, match="importing 'exiting_srv_mod' raised SystemExit: 3"):
        load_server("exiting_srv_mod:server", tmp_path)


def test_a_src_layout_project_that_is_not_installed_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "src" / "hinted_pkg").mkdir(parents=True)
    (tmp_path / "src" / "hinted_pkg" / "__init__.py").write_text("server = 1\n")
    with pytest.raises(ConfigError) as info:
        load_server("hinted_pkg.app:server", tmp_path)
    assert info.value.reason == (
        "cannot import 'hinted_pkg.app': No module named 'hinted_pkg'; the project has a src layout "
        f"({tmp_path / 'src' / 'hinted_pkg'}) and is not installed: run `pip install -e .` in {tmp_path} "
        f"(or set PYTHONPATH={tmp_path / 'src'})")
    with pytest.raises(ConfigError) as plain:
        load_server("not_there_either_mod:server", tmp_path)
    assert "src layout" not in plain.value.reason


def _nested(depth: int) -> str:
    return "a: " + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize(("data", "path", "reason"), [
    pytest.param(b"\xff\xfeaudit: {}\n", "", "not UTF-8 text (byte 0xff at offset 0)", id="utf16-bom"),
    pytest.param(b"name: caf\xe9\n", "", "not UTF-8 text (byte 0xe9 at offset 9)", id="latin-1"),
    pytest.param(b"audit:\n  fsync: always\naudit:\n  fsync: never\n", "line 3, column 1",
                 "duplicate key 'audit' (first at line 1)", id="duplicate-section"),
    pytest.param(b"metrics:\n  port: 1\n  port: 2\n", "line 3, column 3", "duplicate key 'port' (first at line 2)",
                 id="duplicate-nested-key"),
    pytest.param(b"audit: {fsync: always, fsync: never}\n", "line 1, column 24",
                 "duplicate key 'fsync' (first at line 1)", id="duplicate-flow-key"),
    pytest.param(_nested(20_000).encode(), "line 1, column 103", "nested more than 100 levels deep",
                 id="20000-nested-lists"),
    pytest.param(b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 3000)), "line 100, column 100",
                 "nested more than 100 levels deep", id="3000-nested-mappings"),
])
def test_unreadable_yaml_is_one_config_error_naming_the_file(tmp_path: Path, data: bytes, path: str,
                                                            reason: str) -> None:
    """Bytes that are not UTF-8, a key given twice (YAML keeps the last one silently) and nesting
    deep enough to exhaust the parser's recursion are each a ConfigError naming the file, never a
    UnicodeDecodeError or RecursionError, and never a silently overridden setting."""
    file = tmp_path / "policy.yaml"
    file.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_policy(file)
    assert (info.value.source, info.value.path) == (str(file), path)
    assert info.value.reason.endswith(reason), info.value.reason


def test_a_key_given_twice_in_a_project_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mcp-comply.yaml").write_text("server: a:b\nout_dir: x\nout_dir: y\n")
    with pytest.raises(ConfigError,
                       match=r"line 3, column 1: not valid YAML: duplicate key 'out_dir' \(first at line 2\)"):
        load_project(tmp_path)


def test_yaml_at_the_nesting_limit_and_aliases_still_load(tmp_path: Path) -> None:
    """The limit is on depth, not on size: 99 levels of lists under a key load (and fail validation
    as an unknown key); a document reusing an anchor many times is read once per alias, not
    expanded; a merge key's defaults may be overridden (that is no duplicate)."""
    file = tmp_path / "policy.yaml"
    file.write_text("x: " + "[" * 99 + "]" * 99 + "\n")
    with pytest.raises(ConfigError, match="x: Extra inputs are not permitted"):
        load_policy(file)
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 9**9 leaves if expanded; YAML shares the nodes, so this is cheap
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 9) + "]")
    file.write_text("\n".join(lines) + "\ncheck:\n  required: *i\n")
    with pytest.raises(ConfigError) as info:
        load_policy(file)
    # the 9 unknown top-level keys, and the 9 lists in check.required that are not control names
    assert len(info.value.problems) == 18
    file.write_text("audit: {<<: {fsync: always, queue_max: 32}, fsync: never}\n")
    assert (load_policy(file).audit.fsync, load_policy(file).audit.queue_max) == ("never", 32)


def test_a_policy_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO (what $MCP_COMPLY_POLICY might name by mistake) would block open() until a writer
    comes; it is refused at once."""
    import os

    fifo = tmp_path / "policy.fifo"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"policy\.fifo: cannot read policy file: not a regular file \(a FIFO\)"):
        load_policy(fifo)
