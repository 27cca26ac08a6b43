"""Small PromQL helpers shared by the dashboard and rule generators, and Python twins of the
Prometheus template functions the alert annotations use (so generated unit tests can state the
exact text Prometheus must render)."""

from __future__ import annotations

import math


def selector(metric: str, *matchers: str, base: str = "") -> str:
    """``metric{base,matchers...}``; empty parts are left out (``metric`` alone when none)."""
    parts = [m for m in (base, *matchers) if m]
    return f"{metric}{{{', '.join(parts)}}}" if parts else metric


def number(value: float) -> str:
    """A threshold as PromQL and humans want it: ``0.05``, ``2.5``, ``52428`` (no float noise)."""
    return f"{value:.10g}"


def percent(value: float) -> str:
    """``0.05`` -> ``5%``; ``0.001`` -> ``0.1%`` (for annotation text written at generation time)."""
    return f"{value * 100:.10g}%"


def seconds(value: float) -> str:
    """A duration in seconds as an annotation would say it: ``2.5s``, ``300s``."""
    return f"{value:.10g}s"


def _go_g4(value: float) -> str:
    """Go's ``fmt.Sprintf("%.4g", v)`` for the finite values the annotations show."""
    text = f"{value:.4g}"
    if "e" in text:  # Go writes e+06 like Python, but keeps at least two exponent digits
        mantissa, exp = text.split("e")
        sign, digits = exp[0], exp[1:]
        text = f"{mantissa}e{sign}{digits.zfill(2)}"
    return text


def humanize(value: float) -> str:
    """Prometheus's ``humanize``: SI prefixes, four significant digits."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    if abs(value) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(value) < 1000:
                break
            prefix = p
            value /= 1000
        return f"{_go_g4(value)}{prefix}"
    return _small(value)


def _small(value: float, unit: str = "") -> str:
    """Below 1: scale by 1000 per SI prefix (m, u, n, ...) until the value reaches 1, as Go's template funcs do."""
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return f"{_go_g4(value)}{prefix}{unit}"


def humanize_percentage(value: float) -> str:
    """Prometheus's ``humanizePercentage``: ``0.0909`` -> ``9.091%``."""
    return f"{_go_g4(value * 100)}%"


def humanize_duration(value: float) -> str:  # noqa: PLR0911 - mirrors Prometheus's branches
    """Prometheus's ``humanizeDuration``: ``4.875`` -> ``4.875s``, ``1200`` -> ``20m 0s``."""
    if math.isnan(value) or math.isinf(value):
        return _go_g4(value)
    if value == 0:
        return "0s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        value = abs(value)
        whole = int(value)
        secs, mins, hours, days = whole % 60, (whole // 60) % 60, (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {mins}m {secs}s"
        if hours:
            return f"{sign}{hours}h {mins}m {secs}s"
        if mins:
            return f"{sign}{mins}m {secs}s"
        return f"{sign}{_go_g4(value)}s"
    return _small(value, "s")


def duration_seconds(text: str) -> int:
    """``5m`` -> 300 (the ``[1-9][0-9]*[smhd]`` durations policies use)."""
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
    return int(text[:-1]) * unit


def window(seconds_: int) -> str:
    """300 -> ``5m``; 86400 -> ``1d`` (the largest unit that divides evenly)."""
    for suffix, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds_ % size == 0:
            return f"{seconds_ // size}{suffix}"
    return f"{seconds_}s"
