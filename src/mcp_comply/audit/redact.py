"""Redaction before anything leaves the request path: schema hints, a key denylist, value
detectors and size caps. Redacted values become keyed digests (HMAC-SHA256), so equal values stay
searchable across records without being recoverable. Pure."""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

try:
    from _hashlib import hmac_new as _hmac_new
except ImportError:  # pragma: no cover - CPython without OpenSSL
    _hmac_new = None  # type: ignore[assignment]

Capture = Literal["none", "digest", "redacted", "full"]

DEFAULT_DENY_KEYS = (
    r"pass(word|wd|phrase)?", r"secret", r"token", r"api[_-]?key", r"auth(orization)?", r"cookie",
    r"session", r"private[_-]?key", r"credential", r"bearer", r"signature", r"access[_-]?key",
)

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
        # OpenSSL's HMAC object (hmac.new wraps it); copying its keyed state costs half of hmac.new.
        self._mac: Any = (_hmac_new(key, digestmod="sha256") if _hmac_new is not None
                          else hmac.new(key, digestmod="sha256"))
        self._deny = re.compile(r"(?i)(" + "|".join(rules.deny_keys) + r")") if rules.deny_keys else None
        patterns = dict(SECRET_PATTERNS)
        if rules.pii:
            patterns.update(PII_PATTERNS)
        patterns.update(rules.extra_patterns)
        self._values = re.compile("|".join(f"(?:{p})" for p in patterns.values()))
        # PII and custom patterns have no anchor literal: then every long-enough string is scanned.
        self._anchors = None if (rules.pii or rules.extra_patterns) else re.compile(_SECRET_ANCHORS)
        self._secrets: set[str] = set()
        # No detector matches fewer characters than this: shorter strings skip the regex.
        self._min_match = 6 if (rules.pii or rules.extra_patterns) else 15
        self._key_cache: dict[str, tuple[str, bool, str]] = {}

    def digest(self, value: object) -> str:
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
        # Copying a keyed HMAC state is cheaper than keying a new one per value.
        mac = self._mac.copy()
        mac.update(data)
        return "hmac-sha256:" + str(mac.hexdigest())[:32]

    def _tag(self, value: object) -> str:
        return f"[REDACTED:{self.digest(value)}]"

    def text(self, value: str, known: Iterable[str] = ()) -> str:
        """A free text (error message, string argument) with every detected secret replaced, and
        every ``known`` secret (argument values redacted by name or schema) too: frameworks echo
        rejected argument values in their validation messages."""
        if known:
            for secret in sorted(known, key=len, reverse=True):
                if len(secret) >= 4 and secret in value:
                    value = value.replace(secret, self._tag(secret))
        if len(value) < self._min_match or (self._anchors is not None and self._anchors.search(value) is None):
            out = value
        else:
            out = self._values.sub(lambda m: self._tag(m.group(0)), value)
        cap = self.rules.max_string
        if len(out) > cap:
            out = out[:cap] + f"...[TRUNCATED {len(value)} chars {self.digest(value)}]"
        return out

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
        return value, redacted

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
            if len(value) < self._min_match:
                return value  # shorter than max_string too (it is at least 64)
            cleaned = self.text(value)
            if cleaned != value:
                redacted.append(pointer or "/")
            return cleaned
        if kind is int or kind is bool or kind is float or value is None:
            return value
        if kind is dict or isinstance(value, Mapping):
            props = schema.get("properties") if schema is not None else None
            out: dict[str, Any] = {}
            for i, (key, item) in enumerate(value.items()):
                if i >= self.rules.max_items:
                    out["[TRUNCATED]"] = f"{len(value) - i} more keys"
                    break
                skey = key if type(key) is str else str(key)
                safe_key, denied, escaped = self._key(skey)
                if safe_key != skey:
                    redacted.append(f"{pointer}/{escaped}")
                if denied:
                    redacted.append(f"{pointer}/{escaped}")
                    out[safe_key] = self._secret(item)
                    continue
                sub = props.get(skey) if props is not None and isinstance(props, Mapping) else None
                leaf = type(item)
                # Leaves inline (no call, no pointer string) unless a schema hint or a detector applies.
                if sub is None and (leaf is int or leaf is bool or leaf is float or item is None
                                    or (leaf is str and len(item) <= self.rules.max_string and (
                                        len(item) < self._min_match or (
                                            self._anchors is not None and self._anchors.search(item) is None)))):
                    out[safe_key] = item
                else:
                    out[safe_key] = self._walk(item, f"{pointer}/{escaped}", sub, redacted, depth + 1)
            return out
        if kind is list or isinstance(value, list | tuple):
            items_schema = schema.get("items") if schema is not None else None
            out_list = [self._walk(item, f"{pointer}/{i}", items_schema, redacted, depth + 1)
                        for i, item in enumerate(value[: self.rules.max_items])]
            if len(value) > self.rules.max_items:
                out_list.append(f"[TRUNCATED {len(value) - self.rules.max_items} more items]")
            return out_list
        if isinstance(value, str):
            return self._walk(str(value), pointer, schema, redacted, depth)
        redacted.append(pointer or "/")
        return self._tag(repr(value))

    def _key(self, key: str) -> tuple[str, bool, str]:
        """(the key as recorded, whether its value is always redacted, its JSON-pointer form);
        cached, because keys repeat from call to call."""
        cached = self._key_cache.get(key)
        if cached is None:
            cached = (self.text(key), self._deny is not None and self._deny.search(key) is not None, _escape(key))
            if len(self._key_cache) < 4096:
                self._key_cache[key] = cached
        return cached


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
