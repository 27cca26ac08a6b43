"""Redaction rules: schema hints, key denylist, value detectors, caps, capture levels."""

from __future__ import annotations

import pytest

from mcp_comply.audit.redact import RedactionRules, Redactor

KEY = b"k" * 32


def test_denylisted_keys_and_detected_values_become_keyed_digests() -> None:
    r = Redactor(RedactionRules(), KEY)
    args = {"city": "oslo", "api_key": "abc123456", "note": "use ghp_" + "a" * 36 + " please",
            "nested": {"Password": ["x", "y"]}, "count": 3}
    out, pointers = r.arguments(args)
    assert out["city"] == "oslo"
    assert out["count"] == 3
    assert out["api_key"].startswith("[REDACTED:hmac-sha256:")
    assert out["note"].startswith("use [REDACTED:hmac-sha256:")
    assert out["note"].endswith("] please")
    assert out["nested"]["Password"].startswith("[REDACTED:")
    assert pointers == ["/api_key", "/note", "/nested/Password"]
    again, _ = Redactor(RedactionRules(), KEY).arguments(args)
    assert again == out  # same key, same digests
    other, _ = Redactor(RedactionRules(), b"o" * 32).arguments(args)
    assert other["api_key"] != out["api_key"]


def test_schema_hints_and_pii() -> None:
    schema = {"properties": {"card": {"type": "string", "x-audit": "redact"},
                             "blob": {"x-audit": "drop"}, "raw": {"x-audit": "keep"},
                             "pin": {"type": "string", "format": "password"}}}
    r = Redactor(RedactionRules(pii=True), KEY)
    out, pointers = r.arguments({"card": "4111", "blob": "x" * 10, "raw": {"token": "t"}, "pin": "1234",
                                 "contact": "mail me at a.b@example.com or +44 20 7946 0958"}, schema)
    assert out["blob"] == "[DROPPED]"
    assert out["raw"] == {"token": "t"}  # "keep" wins over the key denylist
    assert out["card"].startswith("[REDACTED")
    assert out["pin"].startswith("[REDACTED")
    assert "example.com" not in out["contact"]
    assert "7946" not in out["contact"]
    assert pointers == ["/card", "/blob", "/pin", "/contact"]


@pytest.mark.parametrize(("capture", "expected"), [("none", None), ("full", {"token": "t"})])
def test_capture_levels(capture: str, expected: object) -> None:
    r = Redactor(RedactionRules(capture=capture), KEY)  # type: ignore[arg-type]
    assert r.arguments({"token": "t"})[0] == expected
    digest_only, pointers = Redactor(RedactionRules(capture="digest"), KEY).arguments({"token": "t"})
    assert str(digest_only).startswith("hmac-sha256:")
    assert pointers == ["/"]


def test_size_caps_and_known_secrets_in_text() -> None:
    r = Redactor(RedactionRules(max_string=64, max_items=3), KEY)
    out, _ = r.arguments({"long": "a" * 1000, "items": list(range(10))})
    assert len(out["long"]) < 200
    assert "TRUNCATED 1000 chars" in out["long"]
    assert out["items"][:3] == [0, 1, 2]
    assert out["items"][3] == "[TRUNCATED 7 more items]"
    secrets: set[str] = set()
    r.arguments({"password": "hunter2xyz"}, secrets=secrets)
    assert "hunter2xyz" not in r.text("input_value='hunter2xyz' is not valid", secrets)
