"""The record encoder writes the bytes of the one-dict encoding it replaced, for every body, and
never lets a value the strict format cannot hold (NaN, Infinity) stop a record."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_comply.audit import _format as fmt

# What the writer wrote before the encoder was split into header text and body text: the header
# and the body merged into one dict, header names in the body renamed, one JSONEncoder pass.
_REFERENCE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=repr)


def reference(seq: Any, ts: Any, chain: Any, kind: Any, prev: Any, body: dict[Any, Any]) -> bytes:
    record = {"v": fmt.FORMAT_VERSION, "seq": seq, "ts": ts, "chain": chain, "kind": kind, "prev": prev}
    for key, value in body.items():
        record[fmt.safe_key(key, body) if key in fmt.HEADER else key] = value
    return (_REFERENCE.encode(record) + "\n").encode("utf-8", "surrogatepass")


text = st.text(st.characters(codec=None), max_size=12)  # any code point, lone surrogates included
keys = st.one_of(text, st.sampled_from(["v", "seq", "ts", "chain", "kind", "prev", "_seq", "__seq", "args"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**40), max_value=10**40),
                    st.floats(allow_nan=False, allow_infinity=False), text)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(text, inner, max_size=4)), max_leaves=12)
bodies = st.dictionaries(keys, values, max_size=8)


class Odd:
    def __repr__(self) -> str:
        return "Odd<\u00e9\"x>"


@settings(max_examples=400, deadline=None)
@given(seq=st.integers(min_value=0, max_value=2**63), ts=text, chain=text, kind=text, prev=text, body=bodies)
def test_encode_writes_the_one_dict_bytes(seq: int, ts: str, chain: str, kind: str, prev: str,
                                          body: dict[str, Any]) -> None:
    assert fmt.encode(seq, ts, chain, kind, prev, body) == reference(seq, ts, chain, kind, prev, body)


@settings(max_examples=100, deadline=None)
@given(seq=st.one_of(st.booleans(), st.floats(allow_nan=False, allow_infinity=False), text),
       body=bodies)
def test_unusual_header_types_take_the_one_dict_path(seq: Any, body: dict[str, Any]) -> None:
    assert fmt.encode(seq, "ts", "chain-0", "call", "0" * 64, body) == reference(seq, "ts", "chain-0", "call",
                                                                                  "0" * 64, body)


@settings(max_examples=200, deadline=None)
@given(body=bodies)
def test_members_splice_as_the_dict_would(body: dict[str, Any]) -> None:
    safe = {k: v for k, v in body.items() if k not in fmt.HEADER}
    members = fmt.Members(fmt.dumps(safe)[1:-1])
    assert fmt.encode(7, "t", "chain-1", "call", "p", members) == reference(7, "t", "chain-1", "call", "p", safe)


def test_values_json_lacks_are_written_as_their_repr() -> None:
    line = fmt.encode(1, "t", "c", "call", "p", {"odd": Odd(), "n": 10**30, "s": "\ud800"})
    assert line == reference(1, "t", "c", "call", "p", {"odd": Odd(), "n": 10**30, "s": "\ud800"})
    assert line.endswith(b',"odd":"Odd<\xc3\xa9\\"x>","n":1000000000000000000000000000000,"s":"\xed\xa0\x80"}\n')


@settings(max_examples=200, deadline=None)
@given(value=st.recursive(st.one_of(scalars, st.floats()), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(text, inner, max_size=4)), max_leaves=12))
def test_canonical_json_is_json_dumps_sorted(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)
    assert fmt.dumps_canonical(value) == expected


@settings(max_examples=200, deadline=None)
@given(value=st.recursive(st.one_of(scalars, st.floats()), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(text, inner, max_size=4)),
    max_leaves=12))
def test_finite_leaves_only_finite_numbers(value: Any) -> None:
    cleaned = fmt.finite(value)
    fmt.dumps(cleaned)  # raises ValueError on any NaN or Infinity left

    def same(a: Any, b: Any) -> bool:  # equal, with each non-finite float standing as its name
        if isinstance(a, float) and not math.isfinite(a):
            return b == {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(a)]
        if isinstance(a, dict):
            return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list | tuple):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        return a is b or a == b

    assert same(value, cleaned)


def test_finite_names() -> None:
    assert fmt.finite({"a": [float("nan"), float("inf"), -float("inf"), 1.5], "b": "NaN"}) == {
        "a": ["NaN", "Infinity", "-Infinity", 1.5], "b": "NaN"}
