"""YAML output: libyaml's emitter is used only where it writes exactly the Python emitter's bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mcp_comply.config import load_policy
from mcp_comply.generate import _output, dashboards, rules
from mcp_comply.generate._output import emit_yaml, to_yaml

ROOT = Path(__file__).resolve().parents[2]
needs_libyaml = pytest.mark.skipif(_output._CDumper is None, reason="PyYAML without libyaml")


def python_yaml(data: Any, header: str = "") -> bytes:
    """What the pure-Python emitter writes (the reference)."""
    return (header + emit_yaml(data, _output._Dumper)).encode()


def libyaml(data: Any) -> str:
    assert _output._CDumper is not None
    return emit_yaml(data, _output._CDumper)


_KEYS = st.builds(str.__add__, st.sampled_from("aZ_"), st.text(st.sampled_from("az_09AZ"), max_size=63))
# Strings YAML treats specially (types, indicators, blank lines, edges of block scalars) plus
# arbitrary printable ASCII with line breaks.
_TRICKY = st.sampled_from([
    "", " ", "a ", " a", "true", "False", "null", "~", "yes", "on", "1", "1.0", "-1e3", "0x1F", ".inf", "2024-01-01",
    "-", "- a", "a: b", "a:b", "#x", "a #x", "'", '"', "?", ":", "|", ">", "&a", "*a", "!a", "%a", "@", "`", "{}",
    "[]", "<<", "=", "a\n", "a\nb", "a\nb\n", "\na", " a\nb", "a\n b\n", "a \nb", "a\n\nb\n", "a\n\n\nb",
])
_TEXT = _TRICKY | st.text(st.sampled_from(list(" \n-:#'\"|>?&*!%@`{}[],.=~aZ19")), max_size=40) \
    | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
_SCALARS = _TEXT | st.integers() | st.floats() | st.booleans() | st.none()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
                       max_leaves=20)
_DOCUMENTS = st.dictionaries(_KEYS, _VALUES, max_size=6)


@needs_libyaml
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_DOCUMENTS)
def test_libyaml_writes_the_python_emitters_bytes_inside_the_subset(data: dict[str, Any]) -> None:
    assume(_output._libyaml_alike(data))  # false for a string ending in an empty line (a `|+` block)
    assert libyaml(data) == emit_yaml(data, _output._Dumper)
    assert to_yaml(data) == python_yaml(data)


# Data on which the two emitters differ: each is outside the subset, so to_yaml uses the Python one.
_DIFFERENT = {
    "a keep-chomped literal block before the end": {"a": ["x\n\n", 1], "b": None},
    "a lone line break": {"a": "\n", "b": 2},
    "a character outside the Basic Multilingual Plane": {"a": "\U0001f600 ok"},
    "a key with a control character": {"a\rb": 1},
    "an empty key": {"a": {"": [1]}},
}


@needs_libyaml
@pytest.mark.parametrize("data", list(_DIFFERENT.values()), ids=list(_DIFFERENT))
def test_data_the_emitters_write_differently_goes_to_the_python_emitter(data: dict[str, Any]) -> None:
    assert libyaml(data) != emit_yaml(data, _output._Dumper)  # why the subset exists
    assert not _output._libyaml_alike(data)
    assert to_yaml(data, "# h\n") == python_yaml(data, "# h\n")


def test_outside_the_subset() -> None:
    assert _output._libyaml_alike({"a": ["x\ny", 1.5, True, None, {"b_2": "c\n"}]})
    for data in ({"a": ("tuple",)}, {1: "int key"}, {"": 1}, {"a-b": 1}, {"a": "tab\t"}, {"a": "é"},
                 {"a": "x" * 4001}, {"a": b"bytes"}):
        assert not _output._libyaml_alike(data), data


def _generated_yaml(policy_file: str) -> dict[str, Any]:
    policy = load_policy(ROOT / "policies" / policy_file)
    ruleset = rules.build_rules(policy)
    recording, alerting = rules.rule_groups(ruleset)
    return {rules.RECORDING_FILE: recording, rules.ALERTS_FILE: alerting, rules.TESTS_FILE: rules.test_file(ruleset),
            **dashboards.provisioning()}


@needs_libyaml
@pytest.mark.parametrize("policy_file", ["default.yaml", "strict.yaml"])
def test_every_generated_yaml_file_takes_the_libyaml_path_with_identical_bytes(policy_file: str) -> None:
    for name, data in _generated_yaml(policy_file).items():
        assert _output._libyaml_alike(data), name
        assert libyaml(data) == emit_yaml(data, _output._Dumper), name


def test_bytes_do_not_depend_on_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    documents = _generated_yaml("default.yaml")
    with_c = {name: to_yaml(data, "# h\n") for name, data in documents.items()}
    monkeypatch.setattr(_output, "_CDumper", None)
    assert {name: to_yaml(data, "# h\n") for name, data in documents.items()} == with_c
    assert with_c[rules.ALERTS_FILE].startswith(b"# h\ngroups:\n")


def test_committed_alert_files_match_both_emitters() -> None:
    """The drift gate compares these bytes; both emitters reproduce them."""
    documents = _generated_yaml("default.yaml")
    for name in (rules.RECORDING_FILE, rules.ALERTS_FILE):
        committed = (ROOT / "alerts" / name).read_bytes()
        body = committed.split(b"\n", 1)[1]  # after the "generated by" header line
        assert python_yaml(documents[name]) == body, name
        assert yaml.safe_load(body) == documents[name]
