"""Redaction rules: schema hints, key denylist, value detectors, caps, capture levels."""

from __future__ import annotations

import hmac
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_comply.audit.redact import DEFAULT_DENY_KEYS, KeyedDigest, RedactionRules, Redactor

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


def _tag(r: Redactor, value: str) -> str:
    return f"[REDACTED:{r.digest(value)}]"


def test_short_password_keys_are_denied_but_lookalikes_are_kept() -> None:
    """``pwd``, ``passwd`` and ``pw`` as a word of its own are password keys; ``pwm`` is not."""
    r = Redactor(RedactionRules(), KEY)
    args = {"pwd": "a", "PWD": "b", "passwd": "c", "db_pw": "d", "PW": "e", "userPwd": "f", "pw2": "g",
            "pwm": 1, "npw": 2, "pwr_level": 3, "cwd": "/srv", "power": 4}
    out, pointers = r.arguments(args)
    assert out == {"pwd": _tag(r, "a"), "PWD": _tag(r, "b"), "passwd": _tag(r, "c"), "db_pw": _tag(r, "d"),
                   "PW": _tag(r, "e"), "userPwd": _tag(r, "f"), "pw2": _tag(r, "g"),
                   "pwm": 1, "npw": 2, "pwr_level": 3, "cwd": "/srv", "power": 4}
    assert pointers == ["/pwd", "/PWD", "/passwd", "/db_pw", "/PW", "/userPwd", "/pw2"]


def test_header_pairs_and_header_objects_redact_the_value_their_name_denies() -> None:
    """Headers as a list of [name, value] pairs (or tuples) or of {"name", "value"} objects: the
    name is judged like a key; a lone two-item list of field names is not a header."""
    r = Redactor(RedactionRules(), KEY)
    args = {"headers": [["Authorization", "Basic dXNlcjpwYXNz"], ("Cookie", "sid=1"), ["Accept", "application/json"]],
            "har": [{"name": "X-Api-Key", "value": "k-1"}, {"name": "Accept", "value": "text/plain"},
                    {"key": "Proxy-Authorization", "value": {"scheme": "Basic", "v": "abc"}}],
            "fields": ["password", "email"]}
    out, pointers = r.arguments(args)
    assert out == {
        "headers": [["Authorization", _tag(r, "Basic dXNlcjpwYXNz")], ["Cookie", _tag(r, "sid=1")],
                    ["Accept", "application/json"]],
        "har": [{"name": "X-Api-Key", "value": _tag(r, "k-1")}, {"name": "Accept", "value": "text/plain"},
                {"key": "Proxy-Authorization", "value": _tag(r, '{"scheme":"Basic","v":"abc"}')}],
        "fields": ["password", "email"]}
    assert pointers == ["/headers/0/1", "/headers/1/1", "/har/0/value", "/har/2/value"]
    secrets: set[str] = set()
    r.arguments(args, secrets=secrets)
    assert {"Basic dXNlcjpwYXNz", "sid=1", "k-1", "abc"} <= secrets  # echoes in error text are caught too


@pytest.mark.parametrize(("text", "prefix", "secret", "suffix"), [
    ("Authorization: token abc123def", "Authorization: ", "token abc123def", ""),
    ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ", "Basic dXNlcjpwYXNz", ""),
    ("Authorization: Bearer abc", "Authorization: ", "Bearer abc", ""),
    ("connect failed: DB_PASSWORD=hunter2 rejected", "connect failed: DB_PASSWORD=", "hunter2", " rejected"),
    ("password=hunter2", "password=", "hunter2", ""),
    ("pw=xy", "pw=", "xy", ""),
    ('bad config api_key: "xk-123 456"', 'bad config api_key: "', "xk-123 456", '"'),
    ("GET https://api.example/v1?token=abc&x=1 failed", "GET https://api.example/v1?token=", "abc", "&x=1 failed"),
    ("secret='s3 cr3t' given", "secret='", "s3 cr3t", "' given"),
    ('{"client_secret": "a\\"b", "user": "bob"}', '{"client_secret": "', 'a\\"b', '", "user": "bob"}'),
    ('{\\"password\\": \\"hunter2\\", \\"x\\": 1}', '{\\"password\\": \\"', "hunter2", '\\", \\"x\\": 1}'),
    ("Set-Cookie: sid=abc; Path=/\nnext line", "Set-Cookie: ", "sid=abc; Path=/", "\nnext line"),
    ("X-Auth-Token:abc", "X-Auth-Token:", "abc", ""),
    ("accessToken => q1", "accessToken => ", "q1", ""),
    ("secretkey=AAA", "secretkey=", "AAA", ""),
    ("SESSION_ID: 77f", "SESSION_ID: ", "77f", ""),
])
def test_free_text_key_value_secrets_keep_the_key(text: str, prefix: str, secret: str, suffix: str) -> None:
    """``KEY=value`` / ``key: value`` shapes in error messages and string arguments: the value
    becomes its digest tag, the key stays readable; the same value gets the same tag."""
    r = Redactor(RedactionRules(), KEY)
    assert r.text(text) == prefix + _tag(r, secret) + suffix
    out, pointers = r.arguments({"msg": text})
    assert out == {"msg": prefix + _tag(r, secret) + suffix}
    assert pointers == ["/msg"]


@pytest.mark.parametrize("text", [
    "the author: John", "max_tokens=1000", "passport: X123", "tokenizer=bpe", "pwm=3", "sessions: 4",
    "meet at 12:30 in Oslo", "a secret recipe", "token budget exceeded", "password is required",
])
def test_lookalike_keys_and_bare_words_stay_readable(text: str) -> None:
    r = Redactor(RedactionRules(), KEY)
    assert r.text(text) == text
    assert r.arguments({"msg": text}) == ({"msg": text}, [])


def test_value_detectors_keep_their_digests_inside_key_value_text() -> None:
    """A value a value detector recognises is tagged exactly as before (the whole match), so
    digests stay comparable with records written before key=value detection."""
    r = Redactor(RedactionRules(), KEY)
    ghp = "ghp_" + "a" * 36
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIabc\n-----END RSA PRIVATE KEY-----"
    assert r.text("Authorization: Bearer abcdefgh123") == "Authorization: " + _tag(r, "Bearer abcdefgh123")
    assert r.text(f"token={ghp}&a=1") == f"token={_tag(r, ghp)}&a=1"
    assert r.text(f"private_key={pem}") == "private_key=" + _tag(r, pem)


def test_echoed_known_secrets_are_tagged_once() -> None:
    r = Redactor(RedactionRules(), KEY)
    known = {"abc12345", "hunter2xyz"}
    assert r.text("Authorization: token abc12345", known) == "Authorization: token " + _tag(r, "abc12345")
    assert r.text('{"password": "hunter2xyz"}', known) == '{"password": "' + _tag(r, "hunter2xyz") + '"}'
    assert r.text("password=hunter2xyz", known) == "password=" + _tag(r, "hunter2xyz")


def test_a_secret_redacted_by_name_is_redacted_everywhere_in_the_arguments() -> None:
    """A value redacted by its key is a known secret in every other argument too, before or after
    it, nested or as a key, as it is in the error message: no copy of it is written raw."""
    r = Redactor(RedactionRules(), KEY)
    secret = "hunter2-CANARY-7f3a9"
    args = {"reason": f"token {secret}", "list": [{"note": f"again {secret}!"}], secret: 1,
            "password": secret, "after": f"{secret} twice {secret}", "short": "abc", "pw": "abc"}
    out, pointers = r.arguments(args)
    tag = _tag(r, secret)
    assert secret not in repr(out)
    assert out["reason"] == f"token {tag}"
    assert out["list"] == [{"note": f"again {tag}!"}]
    assert out[tag] == 1
    assert out["password"] == tag
    assert out["after"] == f"{tag} twice {tag}"
    assert out["short"] == "abc"  # a known secret under 4 characters is not searched for (as in text)
    assert pointers == ["/password", "/pw", "/reason", "/list/0/note", f"/{tag}", "/after"]


def test_arguments_that_are_one_string_list_its_pointer_once() -> None:
    """A bare string argument in which a detector and a known secret both replace something: the
    root pointer was listed twice (once by each pass)."""
    r = Redactor(RedactionRules(), KEY)
    secret = "hunter2-CANARY-7f3a9"
    out, pointers = r.arguments(f"key AKIAIOSFODNN7EXAMPLE and {secret}", secrets={secret})  # type: ignore[arg-type]
    assert out == f"key {_tag(r, 'AKIAIOSFODNN7EXAMPLE')} and {_tag(r, secret)}"
    assert pointers == ["/"]


def test_policy_deny_keys_also_apply_to_free_text() -> None:
    text = "lookup failed for SSN=123-45-6789"
    assert Redactor(RedactionRules(), KEY).text(text) == text
    r = Redactor(RedactionRules(deny_keys=(*RedactionRules().deny_keys, "ssn")), KEY)
    assert r.text(text) == "lookup failed for SSN=" + _tag(r, "123-45-6789")
    no_keys = Redactor(RedactionRules(deny_keys=()), KEY)
    assert no_keys.text("password=hunter2") == "password=hunter2"
    assert no_keys.text("Cookie: a=1") == "Cookie: " + _tag(no_keys, "a=1")  # a header line, not a key


@pytest.mark.parametrize(("uri", "expected"), [
    ("file:///x?token=abc", "file:///x?token={abc}"),
    ("https://user:pw@host/p?api_key=K&q=1", "https://{user:pw}@host/p?api_key={K}&q=1"),
    ("db://host/?password=p", "db://host/?password={p}"),
    # parameter names are judged like argument keys: percent-decoded, denylist searched anywhere
    ("https://h/p?api%5Fkey=K&authkey=Z&q=1#access_token=T&state=s",
     "https://h/p?api%5Fkey={K}&authkey={Z}&q=1#access_token={T}&state=s"),
    ("resource://weather/oslo?days=3", "resource://weather/oslo?days=3"),
    ("file:///etc/hosts", "file:///etc/hosts"),
])
def test_uri_redacts_credentials_and_secret_parameters(uri: str, expected: str) -> None:
    r = Redactor(RedactionRules(), KEY)
    want = expected
    for secret in ("abc", "user:pw", "K", "p", "Z", "T"):
        want = want.replace("{" + secret + "}", _tag(r, secret))
    assert r.uri(uri) == want
    if "%5F" not in uri and "authkey" not in uri:
        assert r.text(uri) == want  # the same shapes in an error message are caught too


class _Unfiltered(Redactor):
    """The same detectors with every pre-filter switched off: each regex runs on every string."""

    def __init__(self, rules: RedactionRules, key: bytes) -> None:
        super().__init__(rules, key)
        self._anchors = None
        self._min_match = 0

    def _kv_possible(self, value: str) -> bool:
        return True

    def _untouched(self, value: str) -> bool:
        return False


# Pieces of every detector: key words (mixed case, lookalikes, characters that fold to ASCII
# letters under Unicode case rules), separators, quotes, schemes, URL parts, value-detector prefixes.
_VOCABULARY = [
    "password", "PASSWORD", "Passwd", "passphrase", "pwd", "PW", "pw", "secret", "Token", "api_key", "API-KEY",
    "apikey", "Authorization", "auth", "author", "cookie", "Set-Cookie", "session", "private_key", "credentials",
    "bearer", "Bearer ", "Signature", "access-key", "ssn", "tokens", "key", "id", "hash", "Id", "DB_", "user",
    "_", "-", ".", "A", "x", "=", ":", "=>", " ", "\t", '"', "'", "\\", '\\"', "&", "?", "#", "/", "://", "@",
    "\n", "Basic ", "token ", "[REDACTED:hmac-sha256:00ff]", "eyJhbGciOi", ".eyJzdWIi", "AKIA", "ASIA", "ghp_",
    "sk-", "sk_live_", "xoxb-", "AIza", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
    "abcdefghij0123456789", "ABCDEFGHIJKLMNOP", "12345678", "a.b@example.com", "+44 20 7946 0958",
    "\u017f", "\u212a", "\u0130", "\u0131",
]
_KEY_WORDS = [
    "password", "PassWord", "passwd", "pwd", "PW", "pw", "pwm", "secret", "Token", "api_key", "API-KEY", "auth",
    "Authorization", "author", "cookie", "Set-Cookie", "session", "private_key", "credentials", "bearer",
    "signature", "AccessKey", "ssn", "IBAN2", "tokens", "user", "x", "p\u017f\u017fword", "\u212aey", "ap\u0131_key",
]
_KEY_RESTS = ["", "_id", "Id", "key", "hash", "s", "or", "2", "-x", ".a", "\u0130"]
_SEPARATORS = ["=", ":", "=>", " : ", "  \t  =  ", '": "', "':'", '\\": \\"', "= ", "\t=\t", " ", "", ":\n",
               "=[", ":=", "://"]
_VALUES = ["x", "hunter2", "a b", "abc&d=1", '"q"', "'q'", 'a\\"b"', "\\", "Basic dXNl", "token abc", "Bearer ",
           "[REDACTED:hmac-sha256:00ff]", "token [REDACTED:hmac-sha256:00ff]", "-----BEGIN RSA PRIVATE KEY-----\nMII",
           "ghp_" + "a" * 20, "", " ", "\n"]
_NOISE = st.lists(st.sampled_from(_VOCABULARY) | st.text(max_size=2), max_size=3).map("".join)
_SHAPE = st.tuples(_NOISE, st.sampled_from(_KEY_WORDS), st.just("") | st.sampled_from(_KEY_RESTS),
                   st.sampled_from(["=", ":"]) | st.sampled_from(_SEPARATORS), st.sampled_from(_VALUES)).map("".join)
# Key-value shapes in noise, and free mixtures of the vocabulary.
_TEXTS = st.one_of(st.tuples(st.lists(_SHAPE, min_size=1, max_size=4).map("".join), _NOISE).map("".join),
                   st.lists(st.sampled_from(_VOCABULARY) | st.text(max_size=3), max_size=16).map("".join))
_RULES = {
    "default": RedactionRules(),
    "policy-keys": RedactionRules(deny_keys=(*DEFAULT_DENY_KEYS, "ssn", r"iban\d?")),
    "pii": RedactionRules(pii=True),
    "no-keys": RedactionRules(deny_keys=()),
}


@pytest.mark.parametrize("rules", list(_RULES.values()), ids=list(_RULES))
@settings(max_examples=600, deadline=None)
@given(text=_TEXTS)
def test_pre_filters_never_skip_a_string_a_detector_would_change(rules: RedactionRules, text: str) -> None:
    """The cheap checks (length, anchor literals, separator plus key literal) only ever skip
    strings no detector matches: with and without them, text() and arguments() agree exactly."""
    fast, slow = Redactor(rules, KEY), _Unfiltered(rules, KEY)
    if fast._untouched(text):
        assert fast._values.search(text) is None
        assert fast._kv.search(text) is None
    if not fast._kv_possible(text):
        assert fast._kv.search(text) is None
    anchored = len(text) >= fast._min_match and (fast._anchors is None or fast._anchors.search(text) is not None)
    if not anchored:
        assert fast._values.search(text) is None
    assert fast.text(text) == slow.text(text)
    args: dict[str, Any] = {"s": text, "l": [text, ["Authorization", text]], text[:40]: 1}
    assert fast.arguments(args) == slow.arguments(args)


def test_every_default_key_literal_is_in_every_match_of_its_key() -> None:
    """The literal pre-filter is derived from the default denylist: each literal really is part
    of what its key pattern matches."""
    from mcp_comply.audit.redact import _DEFAULT_KEY_LITERALS

    samples = ["password", "passwd", "passphrase", "pass", "pwd", "pw", "secret", "token", "api_key", "api-key",
               "apikey", "authorization", "auth", "cookie", "cookies", "session", "private_key", "privatekey",
               "credential", "credentials", "bearer", "signature", "access_key", "accesskey"]
    for pattern, literal in _DEFAULT_KEY_LITERALS.items():
        hits = [m.group(0) for word in samples for m in [re.search(f"(?ai:{pattern})", word.upper())] if m]
        assert hits, pattern
        assert all(literal in hit.lower() for hit in hits), pattern


@pytest.mark.parametrize("rules", list(_RULES.values()), ids=list(_RULES))
def test_key_value_pre_filter_over_every_key_separator_and_value_shape(rules: RedactionRules) -> None:
    """Exhaustively over the vocabulary's key words, key rests, separators and values (some shapes
    are too rare for random draws): the key=value pre-filter lets every matching string through."""
    r = Redactor(rules, KEY)
    matched = 0
    for word in _KEY_WORDS:
        for rest in _KEY_RESTS:
            for sep in _SEPARATORS:
                for value in _VALUES:
                    text = word + rest + sep + value
                    if r._kv.search(text) is not None:
                        matched += 1
                        assert r._kv_possible(text), text
    assert matched > (20_000 if rules.deny_keys else 100)  # the check above really ran on matching strings


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), message=st.binary(max_size=1200))
def test_the_keyed_digest_is_hmac_sha256(key: bytes, message: bytes) -> None:
    """Keys longer and shorter than SHA-256's block, messages on both sides of the short-input path."""
    expected = hmac.new(key, message, "sha256").hexdigest()[:32]
    assert KeyedDigest(key).hexdigest(message) == expected
    assert Redactor(RedactionRules(), key).digest(message) == "hmac-sha256:" + expected


def test_the_keyed_digest_at_the_short_input_boundary() -> None:
    key = b"k" * 64
    for size in (255, 256, 257):
        message = bytes(range(256))[:size] if size <= 256 else bytes(range(256)) + b"!"
        assert KeyedDigest(key).hexdigest(message) == hmac.new(key, message, "sha256").hexdigest()[:32]
