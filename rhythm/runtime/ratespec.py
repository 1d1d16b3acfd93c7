"""Rate limit specs: ``"100/s"``, ``"1000/min"``, ``"5/h"`` (also ``second``, ``minute``,
``hour`` and their plurals). N is a positive integer. A limit is a token bucket of
capacity N (a burst of up to the per-period amount) refilled at N per period.

Standard library only: the settings (:mod:`rhythm.config`) and the task decorator read
specs too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PERIODS = {
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
}
_SPEC = re.compile(r"^\s*(?P<count>[+-]?\d+)\s*/\s*(?P<period>[A-Za-z]+)\s*$")
MAX_COUNT = 1_000_000_000


@dataclass(frozen=True)
class RateLimit:
    """``count`` per ``period`` seconds, as written (``spec``)."""

    spec: str
    count: int
    period: float

    @property
    def per_second(self) -> float:
        return self.count / self.period

    @property
    def burst(self) -> int:
        return self.count

    def bucket(self, partitions: int) -> tuple[float, float]:
        """(capacity, refill rate per second) of each of ``partitions`` buckets: 1/P of
        the limit each (with P = 1 exact), at least one token of capacity (a bucket that
        can never hold a whole token would never let a claim through)."""
        return max(self.count / partitions, 1.0), self.per_second / partitions


def parse_rate_limit(value: object, option: str = "rate_limit") -> RateLimit:
    """The limit ``value`` means; ValueError (one line, naming ``option``) otherwise."""
    if isinstance(value, RateLimit):
        return value
    expected = "expected N/s, N/min or N/h with N a positive integer"
    if not isinstance(value, str):
        raise ValueError(f"{option}: {expected}, got {value!r}")
    match = _SPEC.match(value)
    if match is None:
        raise ValueError(f"{option}: {expected}, got {value!r}")
    count = int(match["count"])
    period = PERIODS.get(match["period"].lower())
    if period is None:
        raise ValueError(f"{option}: unknown period {match['period']!r} in {value!r} "
                         f"({expected})")
    if count <= 0:
        raise ValueError(f"{option}: the count must be a positive integer, got {value!r}")
    if count > MAX_COUNT:
        raise ValueError(f"{option}: at most {MAX_COUNT} per period, got {value!r}")
    return RateLimit(value.strip(), count, period)


def optional_rate_limit(value: object, option: str = "rate_limit") -> RateLimit | None:
    """``None`` (or ``"none"``) clears a limit; anything else is parsed."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    return parse_rate_limit(value, option)
