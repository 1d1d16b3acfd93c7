"""Schedules without a database (issue 19, item 1): ticks across daylight-saving
changes, which ticks a firing starts under each catch-up policy, and the one-line errors
of bad definitions (rhythm/lifecycle/schedules.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rhythm.lifecycle.schedules import (
    MAX_CATCH_UP,
    PER_FIRING,
    Cron,
    ScheduleError,
    iso_tick,
    make_spec,
    plan_firing,
)

NOW = datetime(2026, 12, 2, 16, 45, tzinfo=UTC)


def _ticks(cron: Cron, start: datetime, count: int) -> list[str]:
    out = []
    tick: datetime | None = start
    for _ in range(count):
        assert tick is not None
        tick = cron.after(tick)
        assert tick is not None
        out.append(iso_tick(tick))
    return out


def test_a_daily_time_in_berlin_across_both_dst_changes() -> None:
    cron = Cron("30 2 * * *", "Europe/Berlin")
    # 2027-03-28: 02:30 does not exist (02:00 -> 03:00 CEST): it fires at 03:00 CEST
    assert _ticks(cron, datetime(2027, 3, 26, tzinfo=UTC), 4) == [
        "2027-03-26T01:30:00Z", "2027-03-27T01:30:00Z",
        "2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"]
    # 2027-10-31: 02:30 happens twice (CEST, then CET): it fires once, the first time
    assert _ticks(cron, datetime(2027, 10, 30, tzinfo=UTC), 3) == [
        "2027-10-30T00:30:00Z", "2027-10-31T00:30:00Z", "2027-11-01T01:30:00Z"]


def test_an_hourly_schedule_fires_every_real_hour_across_the_fall_back() -> None:
    cron = Cron("0 * * * *", "Europe/Berlin")
    # 02:00 CEST, then 02:00 CET an hour later: one tick per hour, none twice or lost
    assert _ticks(cron, datetime(2027, 10, 30, 22, 30, tzinfo=UTC), 5) == [
        "2027-10-30T23:00:00Z", "2027-10-31T00:00:00Z", "2027-10-31T01:00:00Z",
        "2027-10-31T02:00:00Z", "2027-10-31T03:00:00Z"]
    local = [datetime.fromisoformat(t).astimezone(cron.zone).strftime("%H:%M%z")
             for t in _ticks(cron, datetime(2027, 10, 30, 23, 30, tzinfo=UTC), 3)]
    assert local == ["02:00+0200", "02:00+0100", "03:00+0100"]


def test_tick_lookups_are_inclusive_or_strict_as_named() -> None:
    cron = Cron("* * * * *", "UTC")
    at = datetime(2026, 1, 1, 12, 10, tzinfo=UTC)
    assert cron.after(at) == at + timedelta(minutes=1)
    assert cron.at_or_after(at) == at
    assert cron.at_or_before(at) == at
    assert cron.before(at) == at - timedelta(minutes=1)
    assert cron.at_or_before(at + timedelta(seconds=59.5)) == at


@pytest.mark.parametrize(("policy", "started"), [
    ("skip", ["12:00:06"]),
    ("once", ["12:00:05", "12:00:06"]),
    ("all", ["12:00:02", "12:00:03", "12:00:04", "12:00:05", "12:00:06"]),
])
def test_catch_up_after_missed_ticks(policy: str, started: list[str]) -> None:
    """Due since 12:00:02, fired at 12:00:06.2: 02..05 were missed (more than a period
    late), 06 is on time and starts under every policy."""
    cron = Cron("* * * * * *", "UTC")
    due = datetime(2026, 1, 1, 12, 0, 2, tzinfo=UTC)
    firing = plan_firing(cron, due, due + timedelta(seconds=4.2), policy)
    assert [t.strftime("%H:%M:%S") for t in firing.starts] == started
    assert firing.last_tick == due + timedelta(seconds=4)
    assert firing.next_fire_at == due + timedelta(seconds=5)


def test_a_long_outage_under_once_starts_one_and_under_all_at_most_the_cap() -> None:
    cron = Cron("* * * * * *", "UTC")
    due = datetime(2026, 1, 1, tzinfo=UTC)
    now = due + timedelta(days=2, seconds=0.5)  # 172,800 missed ticks
    once = plan_firing(cron, due, now, "once")
    assert [iso_tick(t) for t in once.starts] == ["2026-01-02T23:59:59Z",
                                                  "2026-01-03T00:00:00Z"]
    assert plan_firing(cron, due, now, "skip").starts == [now.replace(microsecond=0)]
    every = plan_firing(cron, due, now, "all")  # the latest 1,000, 100 per firing
    oldest = now.replace(microsecond=0) - timedelta(seconds=MAX_CATCH_UP - 1)
    assert every.starts == [oldest + timedelta(seconds=i) for i in range(PER_FIRING)]
    assert every.next_fire_at == oldest + timedelta(seconds=PER_FIRING)  # still due
    assert every.last_tick == every.starts[-1]
    rest = plan_firing(cron, every.next_fire_at, now, "all")  # (the next firing)
    assert rest.starts[0] == every.next_fire_at
    recent = now.replace(microsecond=0) - timedelta(seconds=150)  # fewer than the cap
    assert plan_firing(cron, recent, now, "all").starts[0] == recent


def test_a_daily_tick_hours_late_is_missed() -> None:
    cron = Cron("0 3 * * *", "UTC")
    due = datetime(2026, 1, 1, 3, tzinfo=UTC)
    now = due + timedelta(hours=5)
    assert plan_firing(cron, due, now, "skip").starts == []
    assert plan_firing(cron, due, now, "once").starts == [due]
    assert plan_firing(cron, due, due + timedelta(seconds=30), "skip").starts == [due]


@pytest.mark.parametrize(("fields", "message"), [
    ({"cron": "* * *"}, "cron '* * *' is not a valid cron expression: wrong number of "
                        "fields (5 fields 'min hour day month weekday', or 6 with seconds "
                        "first)"),
    ({"cron": "61 * * * *"}, "cron '61 * * * *' is not a valid cron expression: bad minute"),
    ({"cron": 5}, "cron must be a string, got 5"),
    ({"timezone": "Europe/Berlinn"},
     "timezone 'Europe/Berlinn' is not a known IANA time zone (did you mean 'Europe/Berlin'?)"),
    ({"timezone": "../etc/passwd"}, "timezone '../etc/passwd' is not a known IANA time zone"),
    ({"catch_up": "sometimes"}, "catch_up must be one of skip, once, all, got 'sometimes'"),
    ({"task": "t"}, "give exactly one of workflow or task"),
    ({"workflow": None}, "give exactly one of workflow or task"),
    ({"inputs": [1]}, "inputs must be a JSON object, got list"),
    ({"queue": ""}, "queue must be a non-empty name, got ''"),
])
def test_bad_definitions_are_one_line_naming_the_option(fields: dict[str, object],
                                                        message: str) -> None:
    given: dict[str, object] = {"cron": "* * * * *", "workflow": "w", **fields}
    with pytest.raises(ScheduleError) as caught:
        make_spec("nightly", now=NOW, **given)  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert caught.value.exit_code == 2


def test_names_that_cannot_make_an_execution_id_are_refused() -> None:
    for name in ("", " padded", "x" * 151):
        with pytest.raises(ScheduleError, match=r"^name must be 1 to 150 characters"):
            make_spec(name, cron="* * * * *", workflow="w", now=NOW)


def _inserted(row: dict[str, object]) -> dict[str, object]:
    """The params of the insert that ``start_tick`` makes (no database: the reads it
    makes before find nothing)."""
    from rhythm.lifecycle.scheduler import start_tick

    op = start_tick(row, datetime(2026, 3, 1, 9, tzinfo=UTC), NOW)
    query, params = next(op)
    while query != "insert_execution":
        query, params = op.send([])
    return params


def test_a_tick_reaches_a_workflow_in_its_inputs_unless_it_has_scheduled_at() -> None:
    row = {"name": "r", "target_kind": "workflow", "target": "report", "queue": None,
           "inputs": {"region": "eu"}}
    params = _inserted(row)
    assert params["id"] == "r@2026-03-01T09:00:00Z"
    assert params["inputs"] == '{"region":"eu","scheduledAt":"2026-03-01T09:00:00Z"}'
    assert params["options"] == '{"schedule":"r","scheduledAt":"2026-03-01T09:00:00Z"}'
    mine = _inserted({**row, "inputs": {"scheduledAt": "mine"}})
    assert mine["inputs"] == '{"scheduledAt":"mine"}'
    task = _inserted({**row, "target_kind": "task", "target": "tidy"})
    assert (task["kind"], task["inputs"]) == ("task", '{"region":"eu"}')
