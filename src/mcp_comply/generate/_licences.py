"""SPDX licence ids and expressions from the free text of package metadata, with license-expression.

``License-Expression`` (PEP 639) is parsed as it is. A free-text ``License`` field or a trove
classifier is tried as written, then as a licence key made from its words ("Apache 2.0" ->
``apache-2.0``, "MIT license" -> ``mit``, "3-Clause BSD License" -> ``bsd-3-clause``), each
checked against license-expression's SPDX and ScanCode licence databases. Text that names no known
licence, or names one ambiguously ("BSD", "Apache Software License" without a version), stays a
name: nothing is guessed.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# Words that say "this is a licence", not which one.
_NOISE = frozenset({"license", "licence", "licensed", "the", "version", "or-later-version"})


@cache
def _licensing() -> tuple[Any, Any, dict[str, str]]:
    from license_expression import get_license_index, get_scancode_licensing, get_spdx_licensing

    spdx_of_key = {entry["license_key"]: entry["spdx_license_key"] for entry in get_license_index()
                   if entry.get("spdx_license_key") and not entry.get("is_deprecated")}
    return get_spdx_licensing(), get_scancode_licensing(), spdx_of_key


def _official(expression: str) -> bool:
    return "LicenseRef-" not in expression


def parse_expression(text: str) -> str | None:
    """The canonical SPDX form of an SPDX expression or id (any case, known aliases), else None."""
    from license_expression import ExpressionError

    spdx, _, _ = _licensing()
    try:
        parsed = spdx.parse(text, validate=True, strict=False)
    except (ExpressionError, ValueError, TypeError, AttributeError):
        return None
    if parsed is None:
        return None
    rendered = str(parsed.render())
    return rendered if _official(rendered) else None


def _keys(text: str) -> list[str]:
    """Licence keys a licence name may stand for: its words joined by dashes, in order and with a
    leading qualifier moved last ("3-Clause BSD" -> ``bsd-3-clause``)."""
    words = [w for w in re.split(r"[\s,/_]+", text.lower().strip(" .")) if w and w not in _NOISE]
    words = [re.sub(r"^v(?=\d)", "", w) for w in words]
    if not words:
        return []
    keys = ["-".join(words)]
    if len(words) > 1:
        keys.append("-".join(words[1:] + words[:1]))
    return keys


def _one(text: str) -> str | None:
    from license_expression import ExpressionError

    found = parse_expression(text)
    if found:
        return found
    _, scancode, spdx_of_key = _licensing()
    for key in _keys(text):
        found = parse_expression(key)
        if found:
            return found
        try:
            symbols = scancode.license_symbols(scancode.parse(key, validate=True))
        except (ExpressionError, ValueError, TypeError, AttributeError):
            continue
        if len(symbols) == 1 and symbols[0].key in spdx_of_key and _official(spdx_of_key[symbols[0].key]):
            return spdx_of_key[symbols[0].key]
    return None


def spdx_of(text: str) -> str | None:
    """An SPDX id or expression for a licence name or expression; None when it names no known licence.

    A name with an abbreviation in parentheses ("Mozilla Public License 2.0 (MPL 2.0)") is tried
    whole, then by its abbreviation."""
    text = text.strip()
    if not text or text.upper() in {"UNKNOWN", "NONE", "OTHER"}:
        return None
    found = _one(text)
    if found is None and (match := re.fullmatch(r"(.+?)\s*\(([^()]+)\)", text)):
        found = _one(match.group(2)) or _one(match.group(1))
    return found
