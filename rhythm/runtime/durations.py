"""Durations as users write them: seconds (int/float) or "250ms", "30s", "5m", "1h30m", "7d"."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(value: float | int | str | None, what: str = "duration") -> float | None:
    """Seconds as a float (None stays None); ValueError with a clear message otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{what} must be seconds or a string like '30s', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{what} must not be negative, got {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text and _PART.sub("", text) == "":
            return sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    raise ValueError(f"{what} must be seconds or a string like '30s' or '1h30m', got {value!r}")
