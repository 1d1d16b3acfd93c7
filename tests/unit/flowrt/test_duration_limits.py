"""Durations and instants whose due time would overflow a date throw ``RangeError`` at
once (every host stores due times as dates); everything up to the limit still works."""

from __future__ import annotations

from typing import Any

import pytest

from rhythm.flowrt.durations import MAX_DURATION_MS, duration_ms, instant_ms

from .helpers import error_name, thrown


@pytest.mark.parametrize("value", [1e300, 10**400, MAX_DURATION_MS // 1000 + 1,
                                   "100000000d", "9" * 400 + "d", "1" * 400 + "ms"])
def test_durations_past_1000_years_throw_range_error(value: Any) -> None:
    assert error_name(duration_ms, value) == "RangeError"
    assert "is too long: at most 1000 years" in thrown(duration_ms, value)["message"]


def test_a_duration_of_1000_years_is_fine() -> None:
    assert duration_ms(MAX_DURATION_MS // 1000) == MAX_DURATION_MS
    assert duration_ms("365000d") == MAX_DURATION_MS


def test_an_instant_after_year_9999_in_utc_throws_range_error() -> None:
    assert instant_ms("9999-12-31T23:59:59.999Z") == 253_402_300_799_999
    assert error_name(instant_ms, "9999-12-31T23:59:59-14:00") == "RangeError"
