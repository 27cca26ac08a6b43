"""The sink writes a request record straight to its JSON text; the bytes are those of the body dict
it builds when processors need one, for every record, NaN and odd values included."""

from __future__ import annotations

import enum
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from mcp_comply import semconv
from mcp_comply._record import CallRecord
from mcp_comply.audit import _format as fmt
from mcp_comply.audit.sink import AuditSink
from mcp_comply.config import AuditPolicy
from mcp_comply.instrument._metrics import metrics_for


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditSink]:
    made = AuditSink(AuditPolicy(), tmp_path_factory.mktemp("sink") / "audit", server_name="srv \u00e9\"",
                     policy_name="p\\1", metrics=metrics_for(CollectorRegistry()), env={})
    yield made
    made.close()


text = st.text(st.characters(codec=None), max_size=10)
maybe = st.none() | text
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8)

records = st.builds(
    CallRecord,
    method=st.sampled_from([semconv.METHOD_TOOLS_CALL, "resources/read", "initialize", "tools/list"]) | text,
    tool=maybe, tool_label=text,
    outcome=st.sampled_from([semconv.OUTCOME_OK, *sorted(semconv.ERROR_TYPES)]),
    error_code=st.none() | st.integers(min_value=-(2**40), max_value=2**40),
    exception_type=maybe, start_unix=st.floats(0, 2e9), duration_s=st.floats(0, 1e5),
    request_id=maybe, session_id=maybe, correlation_id=text, transport=maybe, protocol_version=maybe,
    client_name=maybe, client_version=maybe, principal=maybe, client_address=maybe,
    client_port=st.none() | st.integers(0, 65535), trace_id=maybe, span_id=maybe, error_result=st.booleans(),
    arguments=st.none() | st.dictionaries(text, json_values, max_size=4), framework=text,
    result=st.none() | json_values, error_message=maybe)


def _identity(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    return event


@settings(max_examples=300, deadline=None)
@given(record=records, args=json_values, pointers=st.lists(text, max_size=3), error=maybe, uri=maybe)
def test_direct_text_is_the_dict_encoded(sink: AuditSink, record: CallRecord, args: Any, pointers: list[str],
                                         error: str | None, uri: str | None) -> None:
    direct = sink._body(record, args, pointers, error, uri)
    assert isinstance(direct, fmt.Members)
    sink.processors.append(_identity)  # a processor needs the dict: the general path
    try:
        as_dict = sink._body(record, args, pointers, error, uri)
    finally:
        sink.processors.remove(_identity)
    assert isinstance(as_dict, dict)
    encode = sink.writer._encode  # what the writer thread does with either (NaN included)
    assert encode("call", direct, 1.5, 9, "0" * 64) == encode("call", as_dict, 1.5, 9, "0" * 64)


@settings(max_examples=200, deadline=None)
@given(record=records, others=st.lists(st.tuples(maybe, st.floats(0, 1e5), maybe), min_size=1, max_size=3),
       args=json_values)
def test_text_shared_between_calls_is_reused_only_where_it_is_the_same(
        sink: AuditSink, record: CallRecord, others: list[tuple[str | None, float, str | None]], args: Any) -> None:
    """Calls that share method, tool, outcome, session, client and framework reuse that text
    (:meth:`AuditSink._fragment`); each still has the bytes of its own dict, and a field that differs
    (here the session, and an error code that equals another number) gets its own text."""
    variants = [record, *(record._replace(request_id=request_id, duration_s=duration, session_id=session)
                          for request_id, duration, session in others)]
    if record.error_code in (0, 1):
        variants.append(record._replace(error_code=bool(record.error_code)))
    for variant in variants:
        direct = sink._body(variant, args, [], None, None)
        sink.processors.append(_identity)
        try:
            as_dict = sink._body(variant, args, [], None, None)
        finally:
            sink.processors.remove(_identity)
        encode = sink.writer._encode
        assert encode("call", direct, 1.5, 9, "0" * 64) == encode("call", as_dict, 1.5, 9, "0" * 64)


def test_shared_text_stays_bounded(sink: AuditSink) -> None:
    """A client that changes its session and name on every call cannot make the cache large: at most
    1024 entries, and a text longer than 512 characters is not kept."""
    base = CallRecord("tools/call", "add", "add", "ok", None, None, 0.0, 0.0005, "7", None, "conn:1", None,
                      "2025-11-25", "mcp", "1.0", None, None, None, None, None, False, {}, "mcp.MCPServer", None, None)
    for i in range(3000):
        sink._body(base._replace(session_id=f"s{i}", client_name="n" * (i % 700)), {}, [], None, None)
        assert len(sink._fragments) <= 1024
    assert max(len(text) for text in sink._fragments.values()) <= 512


def test_direct_text_of_a_tool_call(sink: AuditSink) -> None:
    record = CallRecord("tools/call", "add", "add", "ok", None, None, 0.0, 0.0005, "7", None, "conn:1", None,
                        "2025-11-25", "mcp", "1.0", None, None, None, "ab" * 16, "cd" * 8, False,
                        {"a": 1, "b": float("nan")}, "mcp.MCPServer", {"content": []}, None)
    line = sink.writer._encode("call", sink._body(record, {"a": 1, "b": float("nan")}, [], None, None),
                               0.0, 3, "0" * 64)
    parsed = fmt.parse_line(line.rstrip(b"\n"))  # strict: no NaN token, no duplicate key
    assert list(parsed)[:8] == ["v", "seq", "ts", "chain", "kind", "prev", "method", "tool"]
    assert parsed["args"] == {"a": 1, "b": "NaN"}
    assert parsed["server"] == "srv \u00e9\""
    assert parsed["policy"] == "p\\1"
    assert parsed["client"] == {"name": "mcp", "version": "1.0", "claimed": True}
    assert parsed["duration_us"] == 500
    assert parsed["error_type"] is None
    assert parsed["redacted"] == []
    assert parsed["args_digest"] == sink._digest({"a": 1, "b": float("nan")})
    assert parsed["args_digest"] != sink._digest({"a": 1, "b": "NaN"})  # the digest sees the raw value
    assert json.loads(line)["result_digest"].startswith("hmac-sha256:")


def test_an_unencodable_body_keeps_its_place(sink: AuditSink) -> None:
    """A body the encoder cannot write (a key type JSON lacks) becomes a placeholder naming only the
    exception type: the record keeps its seq and the chain its link."""
    line = sink.writer._encode("call", {("tuple", "key"): "secret-value"}, 0.0, 4, "f" * 64)
    assert json.loads(line) == {"v": 1, "seq": 4, "ts": "1970-01-01T00:00:00.000000Z", "chain": sink.writer.chain,
                                "kind": "call", "prev": "f" * 64, "unencodable": "TypeError"}
    assert b"secret" not in line


class _Name(str):
    pass


class _Code(enum.IntEnum):
    INVALID = -32602


class _Odd:
    def __repr__(self) -> str:
        return "Odd<\u00e9\"\\x>"


class _Sorted(dict):  # type: ignore[type-arg]
    pass


ODD_VALUES: list[Any] = [
    "plain", _Name("sub\"\u2028"), "\ud800\U0001f600", _Code.INVALID, True, 0, -0.0, 1e400, -1e400,
    float("nan"), 10**4300 - 1, (1, "a", None), {"b": 1, "a": [_Name("x"), _Code.INVALID]},
    _Sorted(z=1, a=2), {10: "int keys", 2: "sort as ints"}, {2.5: "float key", -1e400: "inf key"},
    {float("nan"): 1}, {"set": {1}, "bytes": b"\x00\xff", "odd": _Odd()}, [[[[[]]]]], {"": ""},
]


def _contract(key: bytes, value: Any) -> str:
    """The digest recipe the records promise: json.dumps (sorted, compact, non-ASCII kept, repr
    for what JSON lacks, NaN tokens), HMAC-SHA256 with the redaction key, hex, first 32 characters."""
    data = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
    return "hmac-sha256:" + hmac.new(key, data.encode("utf-8", "surrogatepass"), "sha256").hexdigest()[:32]


@pytest.mark.parametrize("value", ODD_VALUES, ids=range(len(ODD_VALUES)))
def test_digests_follow_the_recipe_for_odd_values(sink: AuditSink, value: Any) -> None:
    assert sink._digest(value) == _contract(sink.redactor.key, value)


@pytest.mark.parametrize(("value", "error"), [({"n": 10**4300}, ValueError), ({1: "a", "b": 2}, TypeError)])
def test_a_value_json_cannot_write_fails_both_ways(sink: AuditSink, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        _contract(sink.redactor.key, value)
    with pytest.raises(error):
        sink._digest(value)


def test_a_result_too_long_to_digest_keeps_the_record(sink: AuditSink) -> None:
    """The result digest is a placeholder, every other field stays (the direct text and the dict
    path alike); before, the whole record became one."""
    big = 10**4300 - 1
    record = CallRecord("tools/call", "add", "add", "ok", None, None, 0.0, 0.001, "9", "sess", "conn:1", "pipe",
                        "2025-11-25", "evil", "1", "alice", None, None, None, None, False, {"a": big, "b": big},
                        "mcp.MCPServer", {"structuredContent": {"result": big + big}}, None)
    direct = sink.writer._encode("call", sink._body(record, {"a": big, "b": big}, [], None, None), 0.0, 5, "0" * 64)
    sink.processors.append(_identity)
    try:
        as_dict = sink.writer._encode("call", sink._body(record, {"a": big, "b": big}, [], None, None), 0.0, 5,
                                      "0" * 64)
    finally:
        sink.processors.remove(_identity)
    assert direct == as_dict
    parsed = fmt.parse_line(direct.rstrip(b"\n"))
    assert "unencodable" not in parsed
    assert (parsed["tool"], parsed["principal"], parsed["session_id"], parsed["request_id"]) == (
        "add", "alice", "sess", "9")
    assert parsed["args_digest"] == sink._digest({"a": big, "b": big})
    assert parsed["result_digest"] == "unencodable:ValueError"
