"""Redaction before anything leaves the request path: schema hints, a key denylist (also for
header pairs and ``key=value`` text), value detectors and size caps. Redacted values become keyed
digests (HMAC-SHA256), so equal values stay searchable across records without being recoverable. Pure."""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus


def _builtin_sha256() -> Callable[[bytes], Any]:
    """CPython's own SHA-256 (``_sha2`` from 3.12, ``_sha256`` before), else hashlib's (OpenSSL)."""
    for name in ("_sha2", "_sha256"):
        try:
            constructor: Callable[[bytes], Any] = importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
        return constructor
    return hashlib.sha256


_SHORT_SHA256 = _builtin_sha256()
_SHORT = 256
"""Messages up to this many bytes are hashed by CPython's own SHA-256: no OpenSSL context to make
and copy per call, which costs more than the hashing for short input (and, in a server whose caches
hold its own code, several times more); longer ones by OpenSSL's, faster per byte."""
_BLOCK = 64


class KeyedDigest:
    """HMAC-SHA256 (RFC 2104) of a message, the first 32 hex characters: what every keyed digest in
    a record is (``hmac-sha256:<hex>``). The same value as ``hmac.new(key, msg, "sha256")``
    (tests/audit/test_redact.py compares them), built from two SHA-256 passes over the padded key and
    the message, so a short message needs no OpenSSL HMAC state copied per digest."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = bytes(b ^ 0x36 for b in key)
        self._outer = bytes(b ^ 0x5C for b in key)

    def hexdigest(self, message: bytes) -> str:
        if len(message) <= _SHORT:
            inner = _SHORT_SHA256(self._inner + message).digest()
        else:
            state = hashlib.sha256(self._inner)
            state.update(message)
            inner = state.digest()
        return str(_SHORT_SHA256(self._outer + inner).hexdigest())[:32]

Capture = Literal["none", "digest", "redacted", "full"]

# Each denylisted key pattern, with a lowercase literal that every match of it contains: the
# literals are the cheap pre-filter for the free-text ``key=value`` detector below.
_DEFAULT_KEY_LITERALS: dict[str, str] = {
    r"pass(word|wd|phrase)?": "pass", r"pwd": "pw", r"(?<![a-z])pw(?![a-z])": "pw", r"secret": "secret",
    r"token": "token", r"api[_-]?key": "api", r"auth(orization)?": "auth", r"cookies?": "cookie",
    r"session": "session", r"private[_-]?key": "private", r"credentials?": "credential", r"bearer": "bearer",
    r"signature": "signature", r"access[_-]?key": "access",
}
# Searched (case-insensitive) anywhere in a key; ``pw`` only as a word of its own (not ``pwm``).
DEFAULT_DENY_KEYS = tuple(_DEFAULT_KEY_LITERALS)

# Value detectors: each matched span is replaced by its keyed digest.
SECRET_PATTERNS: dict[str, str] = {
    "pem": r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
    "jwt": r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
    "bearer": r"\b(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}",
    "aws_access_key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "github_token": r"\bgh[pousr]_[A-Za-z0-9]{20,}\b",
    "openai_key": r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}\b",
    "slack_token": r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b",
    "google_api_key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "stripe_key": r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}\b",
    "url_credentials": r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)",
}
# Every secret pattern contains one of these literals: a cheap search for them decides whether the
# full (slow) alternation runs at all. (Not a credential: ruff S105 is a false positive here.)
_SECRET_ANCHORS = r"-----BEGIN|eyJ|(?i:bearer)|AKIA|ASIA|gh[pousr]_|sk-|xox|AIza|_live_|_test_|://"  # noqa: S105 - regex anchors, not a password
# Free text ``KEY=value``, ``key: value``, ``"key": "value"``, ``Authorization: Basic ...``, URL query
# parameters: the value after a key naming a denylisted word is replaced, the key kept. A key is the
# denylisted word (ASCII case-insensitive) plus an optional rest that starts with a digit, a
# separator, a capital or key/id/hash: ``DB_PASSWORD``, ``accessToken``, ``secretkey``, but not
# ``author``, ``tokens``, ``passport``. Every value group's name starts with ``_kv``.
_KV_SCHEMES = r"(?ai:basic|bearer|digest|token|negotiate|ntlm)[ \t]+"
_KV_VALUE = (
    rf"(?!(?:{_KV_SCHEMES})?\\?[\"']?\[REDACTED:)"  # already a digest tag (an echoed known secret)
    r"(?:\\\"(?P<_kve>[^\"\\\r\n]+)"  # \"value\" inside a JSON-encoded string
    r"|\"(?P<_kvd>(?:[^\"\\\r\n]|\\.)+)"  # "value" (JSON string escapes)
    r"|'(?P<_kvs>(?:[^'\\\r\n]|\\.)+)"  # 'value'
    rf"|(?P<_kvt>(?:{_KV_SCHEMES})?[^\s\"'&]+))"  # bare value up to a space, quote or '&'; may carry a scheme
)
_KV_KEY_REST = r"(?:(?:[0-9_.\-A-Z]|key|id|hash)[\w.\-]{0,63})?(?:\\?[\"'])?[ \t]{0,8}(?:=>?|:)[ \t]{0,8}"
# What the pre-filter allows between a key word's first letters and its separator: the rest of the
# word and of the key (at most 76 characters; lowercasing U+0130 gives two, the second U+0307), a
# quote, blanks.
_KV_GATE_REST = r"[\w.\-\\\u0307]{0,160}[\"']?[ \t]{0,8}[=:]"
# A Cookie / Set-Cookie header line: its whole value (every cookie in it) is one secret.
_COOKIE_HEADER = r"(?ai:(?:set-)?cookie)[ \t]{0,8}:[ \t]{0,8}(?!\[REDACTED:)(?P<_kvc>[^\s\"'][^\r\n\"']*)"


def key_value_pattern(deny_keys: Iterable[str]) -> str:
    """The free-text detector for ``key=value`` shapes whose key matches one of ``deny_keys``."""
    keys = "|".join(deny_keys)
    generic = f"|(?ai:{keys}){_KV_KEY_REST}{_KV_VALUE}" if keys else ""
    return _COOKIE_HEADER + generic


PII_PATTERNS: dict[str, str] = {
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b",
    "phone": r"(?<![\w+])\+?\d[\d ()-]{7,}\d(?!\w)",
}


@dataclass(frozen=True)
class RedactionRules:
    capture: Capture = "redacted"
    deny_keys: tuple[str, ...] = DEFAULT_DENY_KEYS
    pii: bool = False
    max_string: int = 4096
    max_items: int = 256
    max_depth: int = 16
    extra_patterns: Mapping[str, str] = field(default_factory=dict)


class Redactor:
    """Compiled rules plus the digest key; :meth:`arguments` and :meth:`text` are the entry points."""

    def __init__(self, rules: RedactionRules, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the redaction key must be at least 16 bytes")
        self.rules = rules
        self.key = key
        self.mac = KeyedDigest(key)
        self._deny = re.compile(r"(?i)(" + "|".join(rules.deny_keys) + r")") if rules.deny_keys else None
        patterns = dict(SECRET_PATTERNS)
        if rules.pii:
            patterns.update(PII_PATTERNS)
        patterns.update(rules.extra_patterns)
        self._values = re.compile("|".join(f"(?:{p})" for p in patterns.values()))
        # PII and custom patterns have no anchor literal: then every long-enough string is scanned.
        self._anchors = None if (rules.pii or rules.extra_patterns) else re.compile(_SECRET_ANCHORS)
        self._secrets: set[str] = set()
        # No value detector matches fewer characters than this: shorter strings skip that regex.
        self._min_match = 6 if (rules.pii or rules.extra_patterns) else 15
        self._key_cache: dict[str, tuple[str, bool, str]] = {}
        # Second pass, key=value shapes. Its pre-filter: a '=' or ':' in the text, then the literal
        # each key word starts with followed by what may follow a key up to its separator, searched
        # in the lowercased text (a literal-first, case-sensitive pattern is several times cheaper
        # than the case-insensitive detector). Keys added by the policy have no known literal: their
        # own pattern, case-insensitive, on the text as is.
        self._kv = re.compile(key_value_pattern(rules.deny_keys))
        literals = {"cookie"} | {_DEFAULT_KEY_LITERALS[k] for k in rules.deny_keys if k in _DEFAULT_KEY_LITERALS}
        self._kv_words = re.compile(f"(?:{'|'.join(sorted(literals))}){_KV_GATE_REST}")
        own = [k for k in rules.deny_keys if k not in _DEFAULT_KEY_LITERALS]
        self._kv_own = re.compile(f"(?ai:{'|'.join(own)}){_KV_GATE_REST}") if own else None

    def digest(self, value: object) -> str:
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
        return "hmac-sha256:" + self.mac.hexdigest(data)

    def _tag(self, value: object) -> str:
        return f"[REDACTED:{self.digest(value)}]"

    def text(self, value: str, known: Iterable[str] = ()) -> str:
        """A free text (error message, string argument) with every detected secret replaced, and
        every ``known`` secret (argument values redacted by name or schema) too: frameworks echo
        rejected argument values in their validation messages. Value detectors replace the whole
        match; ``key=value`` shapes keep the key and replace the value."""
        if known:
            value = self._known(value, sorted(known, key=len, reverse=True))
        out = value
        if len(out) >= self._min_match and (self._anchors is None or self._anchors.search(out) is not None):
            out = self._values.sub(self._whole, out)
        if self._kv_possible(out):
            out = self._kv.sub(self._keep_key, out)
        cap = self.rules.max_string
        if len(out) > cap:
            out = out[:cap] + f"...[TRUNCATED {len(value)} chars {self.digest(value)}]"
        return out

    def _known(self, value: str, known: list[str]) -> str:
        """``value`` with each of ``known`` (longest first) of 4 characters or more replaced by its tag."""
        for secret in known:
            if len(secret) >= 4 and secret in value:
                value = value.replace(secret, self._tag(secret))
        return value

    def uri(self, value: str, known: Iterable[str] = ()) -> str:
        """A URI (a resource read, a URL argument) for the record: :meth:`text`, and then every query
        or fragment parameter whose name the key denylist matches (after percent-decoding, like an
        argument's key) has its value replaced: ``https://[REDACTED:…]@host/p?api_key=[REDACTED:…]&q=1``."""
        out = self.text(value, known)
        cut = min((i for i in (out.find("?"), out.find("#")) if i >= 0), default=-1)
        if cut < 0 or self._deny is None:
            return out
        return out[:cut] + _URI_PARAM.sub(self._param, out[cut:])

    def _param(self, m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        if not value or value.startswith("[REDACTED:") or self._deny is None:
            return m.group(0)
        if self._deny.search(unquote_plus(name)) is None:
            return m.group(0)
        return f"{name}={self._tag(value)}"

    def _whole(self, m: re.Match[str]) -> str:
        return self._tag(m.group(0))

    def _keep_key(self, m: re.Match[str]) -> str:
        group = m.lastgroup  # the value group: the last one a key=value alternative closes
        if group is None:
            return self._tag(m.group(0))
        whole, base = m.group(0), m.start()
        start, end = m.span(group)
        return whole[: start - base] + self._tag(m.group(group)) + whole[end - base:]

    def _kv_possible(self, value: str) -> bool:
        """False only when the key=value pass cannot match (it needs a separator and a key word)."""
        return ("=" in value or ":" in value) and (
            self._kv_words.search(value.lower()) is not None
            or (self._kv_own is not None and self._kv_own.search(value) is not None))

    def _untouched(self, value: str) -> bool:
        """True when no detector of :meth:`text` can match ``value`` (cheap checks only)."""
        if len(value) >= self._min_match and (self._anchors is None or self._anchors.search(value) is not None):
            return False
        return not self._kv_possible(value)

    def arguments(self, args: Mapping[str, Any] | None, schema: Mapping[str, Any] | None = None,
                  secrets: set[str] | None = None) -> tuple[Any, list[str]]:
        """(what to record, JSON pointers that were redacted) under the capture level; the raw
        strings redacted by name or schema are added to ``secrets`` (for :meth:`text`)."""
        capture = self.rules.capture
        if args is None or capture == "none":
            return None, []
        if capture == "digest":
            return self.digest(_stable(args)), ["/"]
        if capture == "full":
            return _plain(args, self.rules.max_depth), []
        redacted: list[str] = []
        self._secrets = secrets if secrets is not None else set()
        value = self._walk(args, "", schema, redacted, 0)
        known = sorted((s for s in self._secrets if len(s) >= 4), key=len, reverse=True)
        if known:
            # A value redacted by its name may be repeated in another argument, walked before the
            # name made it known or after: each copy is replaced there too, as in the error text.
            value = self._scrub(value, "", known, redacted)
        return value, redacted

    def _scrub(self, value: Any, pointer: str, known: list[str], redacted: list[str]) -> Any:
        """The walked arguments with every ``known`` secret in a string (value or key) replaced."""
        if type(value) is str:
            if _TAG.fullmatch(value) is not None or not any(s in value for s in known):
                return value
            if (pointer or "/") not in redacted:
                redacted.append(pointer or "/")
            return self._known(value, known)
        if type(value) is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                safe = key
                if _TAG.fullmatch(key) is None and any(s in key for s in known):
                    safe = self._known(key, known)
                    if f"{pointer}/{_escape(safe)}" not in redacted:
                        redacted.append(f"{pointer}/{_escape(safe)}")
                out[safe] = self._scrub(item, f"{pointer}/{_escape(safe)}", known, redacted)
            return out
        if type(value) is list:
            return [self._scrub(item, f"{pointer}/{i}", known, redacted) for i, item in enumerate(value)]
        return value

    def _secret(self, value: Any) -> str:
        """The digest tag of a value redacted wholesale; remembers its strings for :meth:`text`."""
        if type(value) is str:
            self._secrets.add(value)
            return self._tag(value)
        _collect_strings(value, self._secrets)
        return self._tag(_stable(value))

    def _walk(  # noqa: PLR0911 - one return per JSON type and schema hint
        self, value: Any, pointer: str, schema: Mapping[str, Any] | None, redacted: list[str], depth: int,
    ) -> Any:
        if schema is not None and isinstance(schema, Mapping):
            hint = schema.get("x-audit")
            if hint == "drop":
                redacted.append(pointer or "/")
                return "[DROPPED]"
            if hint in ("redact", "hash") or schema.get("format") == "password":
                redacted.append(pointer or "/")
                return self._secret(value)
            if hint == "keep":
                return _plain(value, self.rules.max_depth - depth)
        else:
            schema = None
        if depth >= self.rules.max_depth:
            redacted.append(pointer or "/")
            return self._tag(_stable(value))
        kind = type(value)
        if kind is str:
            if len(value) <= self.rules.max_string and self._untouched(value):
                return value
            cleaned = self.text(value)
            if cleaned != value:
                redacted.append(pointer or "/")
            return cleaned
        if kind is int or kind is bool or kind is float or value is None:
            return value
        if kind is dict or isinstance(value, Mapping):
            props = schema.get("properties") if schema is not None else None
            out: dict[str, Any] = {}
            # A header as a {"name": ..., "value": ...} object (HAR, Postman): the name decides.
            named = "value" in value and self._pair_denied(value.get("name", value.get("key")))
            for i, (key, item) in enumerate(value.items()):
                if i >= self.rules.max_items:
                    out["[TRUNCATED]"] = f"{len(value) - i} more keys"
                    break
                skey = key if type(key) is str else str(key)
                safe_key, denied, escaped = self._key(skey)
                if safe_key != skey:
                    redacted.append(f"{pointer}/{escaped}")
                if denied or (named and skey == "value"):
                    redacted.append(f"{pointer}/{escaped}")
                    out[safe_key] = self._secret(item)
                    continue
                sub = props.get(skey) if props is not None and isinstance(props, Mapping) else None
                leaf = type(item)
                # Leaves inline (no call, no pointer string) unless a schema hint or a detector applies.
                if sub is None and (leaf is int or leaf is bool or leaf is float or item is None
                                    or (leaf is str and len(item) <= self.rules.max_string
                                        and self._untouched(item))):
                    out[safe_key] = item
                else:
                    out[safe_key] = self._walk(item, f"{pointer}/{escaped}", sub, redacted, depth + 1)
            return out
        if kind is list or isinstance(value, list | tuple):
            items_schema = schema.get("items") if schema is not None else None
            out_list: list[Any] = []
            for i, item in enumerate(value[: self.rules.max_items]):
                if (type(item) is list or type(item) is tuple) and len(item) == 2 and self._pair_denied(item[0]):
                    # A list of header pairs, [["Authorization", "Basic ..."], ("Cookie", "...")]:
                    # the name decides, as a key would. (Only inside a list, so a lone
                    # ["password", "email"] of field names stays readable.)
                    redacted.append(f"{pointer}/{i}/1")
                    out_list.append([self._key(item[0])[0], self._secret(item[1])])
                else:
                    out_list.append(self._walk(item, f"{pointer}/{i}", items_schema, redacted, depth + 1))
            if len(value) > self.rules.max_items:
                out_list.append(f"[TRUNCATED {len(value) - self.rules.max_items} more items]")
            return out_list
        if isinstance(value, str):
            return self._walk(str(value), pointer, schema, redacted, depth)
        redacted.append(pointer or "/")
        return self._tag(repr(value))

    def _pair_denied(self, name: object) -> bool:
        """Whether ``name`` (the first of a pair, or a header object's name) is a denylisted key."""
        return (type(name) is str and len(name) <= _MAX_PAIR_NAME and not any(c.isspace() for c in name)
                and self._key(name)[1])

    def _key(self, key: str) -> tuple[str, bool, str]:
        """(the key as recorded, whether its value is always redacted, its JSON-pointer form);
        cached, because keys repeat from call to call."""
        cached = self._key_cache.get(key)
        if cached is None:
            cached = (self.text(key), self._deny is not None and self._deny.search(key) is not None, _escape(key))
            if len(self._key_cache) < 4096:
                self._key_cache[key] = cached
        return cached


_MAX_PAIR_NAME = 128
# A whole value redacted by name or schema: a digest tag, nothing of the value in it.
_TAG = re.compile(r"\[REDACTED:hmac-sha256:[0-9a-f]{32}\]")
# A query or fragment parameter (after '?', '&', ';' or '#'): name and raw value.
_URI_PARAM = re.compile(r"(?<=[?&;#])([^=&;#]+)=([^&;#]*)")


def _collect_strings(value: Any, into: set[str]) -> None:
    if isinstance(value, str):
        into.add(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect_strings(item, into)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_strings(item, into)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _stable(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)


def _plain(value: Any, depth: int) -> Any:
    """JSON-safe copy with a depth bound (full capture still must not explode the writer)."""
    if depth <= 0:
        return "[TRUNCATED depth]"
    if isinstance(value, Mapping):
        return {str(k): _plain(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, depth - 1) for v in value]
    if isinstance(value, str | bool | int | float) or value is None:
        return value
    return repr(value)
