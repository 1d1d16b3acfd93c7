"""Durations and instants of the flow language, in milliseconds.

A duration is a number of seconds (fractions allowed) or a string of one or more
``<number><unit>`` parts with units ``ms s m h d`` (``"250ms"``, ``"1h30m"``, ``"1.5s"``).
Negative, non-finite or malformed durations, and durations over 100 years, throw
``TypeError`` (spec section 7).
``Timer.until`` takes an ISO-8601 instant; one without an offset is read as UTC.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from rhythm.flowrt.protocol import FlowValue
from rhythm.flowrt.values import describe, type_error

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", re.ASCII)
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+\Z", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DURATION_MS = 100 * 365 * 86_400_000


def parse_duration_ms(value: object, what: str = "duration") -> int:
    """Milliseconds of a duration (rounded); ValueError saying what is wrong otherwise.

    The one parser of the duration format: flow code (``duration_ms``), mocks files and
    the ``@rhythm.task`` decorator all read durations through it.
    """
    t = type(value)
    if t is int or t is float:
        seconds = float(value)  # type: ignore[arg-type]
        if not math.isfinite(seconds):
            raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
        if seconds < 0:
            raise ValueError(f"{what} cannot be negative: {value!r}")
        return _bounded(seconds * 1000, what)
    if t is str:
        text = str(value)
        if not _WHOLE.match(text):
            raise ValueError(
                f'{what} "{text}" is malformed: use seconds (a number) or parts like '
                '"250ms", "30s", "5m", "48h", "7d", "1h30m"'
            )
        return _bounded(sum(float(n) * _UNIT_MS[unit] for n, unit in _PART.findall(text)), what)
    raise ValueError(f'{what} must be a number of seconds or a string like "30s", got {value!r}')


def _bounded(ms: float, what: str) -> int:
    """``ms`` rounded, if it fits: a longer wait would overflow the dates hosts compute."""
    if not ms <= MAX_DURATION_MS:  # also catches an infinite sum of parts
        raise ValueError(f"{what} is longer than the maximum of 100 years")
    return round(ms)


def duration_ms(value: FlowValue, what: str = "duration") -> int:
    """Milliseconds of a flow duration value; a bad one throws the flow's ``TypeError``."""
    t = type(value)
    if t is not int and t is not float and t is not str:
        type_error(
            f'{what} must be a number of seconds or a string like "30s", got {describe(value)}'
        )
    try:
        return parse_duration_ms(value, what)
    except ValueError as err:
        type_error(str(err))


def instant_ms(value: FlowValue) -> int:
    """Epoch milliseconds of an ISO-8601 instant (``Timer.until``)."""
    if type(value) is not str:
        type_error(f"Timer.until expects an ISO-8601 time string, got {describe(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        type_error(f'Timer.until: "{value}" is not an ISO-8601 time (e.g. "2030-01-31T09:00:00Z")')
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
