"""Rate limit specs, the project file's [queues.NAME] tables and what workers derive
from the queue controls (issue 18); no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhythm.config import load_settings, read_queue_tables
from rhythm.errors import ConfigError
from rhythm.runtime.limits import controls_from_rows
from rhythm.runtime.ratespec import RateLimit, optional_rate_limit, parse_rate_limit


@pytest.mark.parametrize("spec, count, period", [
    ("100/s", 100, 1.0), ("1000/min", 1000, 60.0), ("5/h", 5, 3600.0),
    ("3/second", 3, 1.0), ("7 / minutes", 7, 60.0), ("2/HOUR", 2, 3600.0),
])
def test_specs(spec: str, count: int, period: float) -> None:
    limit = parse_rate_limit(spec)
    assert (limit.count, limit.period, limit.burst) == (count, period, count)
    assert limit.per_second == count / period


@pytest.mark.parametrize("spec, message", [
    ("100/fortnight", "rate_limit: unknown period 'fortnight'"),
    ("0/s", "rate_limit: the count must be a positive integer"),
    ("-1/s", "rate_limit: the count must be a positive integer"),
    ("1.5/s", "rate_limit: expected N/s"),
    ("", "rate_limit: expected N/s"),
    (None, "rate_limit: expected N/s"),
    ("10000000000/s", "rate_limit: at most"),
])
def test_bad_specs_name_the_option(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
        parse_rate_limit(spec)


def test_none_clears() -> None:
    assert optional_rate_limit(None) is None and optional_rate_limit(" None ") is None


def test_buckets_share_the_limit_between_partitions() -> None:
    assert parse_rate_limit("20/s").bucket(1) == (20.0, 20.0)
    assert parse_rate_limit("20/s").bucket(4) == (5.0, 5.0)
    # never below one token of capacity: it could never let a claim through
    assert parse_rate_limit("2/min").bucket(4) == (1.0, 2 / 60 / 4)


def test_controls_say_which_queues_claim_with_tokens() -> None:
    controls = controls_from_rows(
        [{"name": "mail", "paused": False, "rate_limit": "10/s"},
         {"name": "reports", "paused": True, "rate_limit": None}],
        [{"name": "sms", "queue": "default", "rate_limit": "5/s"}])
    assert controls.limited("mail") and controls.limited("default")
    assert not controls.limited("reports") and not controls.limited("other")
    assert controls.task_names("default") == ["sms"] and controls.task_names("mail") == []
    queues = ["default", "mail", "reports", "other"]
    assert controls.claimable(queues) == ["default", "mail", "other"]
    assert controls.takeable(queues) == ["default", "other"]
    assert controls.local_tasks(["sms", "add"]) == frozenset({"add"})
    assert controls.buckets(2) == [
        {"scope": "queue", "name": "mail", "capacity": 5.0, "rate": 5.0},
        {"scope": "task", "name": "sms", "capacity": 2.5, "rate": 2.5}]
    assert isinstance(controls.task_limits["sms"], RateLimit)


def test_queue_tables_are_not_settings(tmp_path: Path) -> None:
    (tmp_path / "rhythm.toml").write_text(
        'embedded_port = 6543\n[queues.mail]\nrate_limit = "10/s"\npaused = false\n')
    assert load_settings(cwd=tmp_path, environ={}).embedded_port == 6543
    tables, label = read_queue_tables(tmp_path)
    assert tables == {"mail": {"rate_limit": "10/s", "paused": False}}
    assert label.endswith("rhythm.toml")


@pytest.mark.parametrize("text, message", [
    ('queues = 3\n', "queues must be a table"),
    ('[queues.mail]\nrate = "1/s"\n', "queues.mail: unknown key 'rate'"),
    ('[queues.mail]\npaused = "yes"\n', "queues.mail.paused must be true or false"),
    ('[queues.mail]\nrate_limit = 10\n', "queues.mail.rate_limit must be a string"),
])
def test_bad_queue_tables(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "rhythm.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_queue_tables(tmp_path)


def test_pyproject_queue_tables(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.rhythm.queues.mail]\nrate_limit = "1/h"\n')
    assert read_queue_tables(tmp_path)[0] == {"mail": {"rate_limit": "1/h"}}
    load_settings(cwd=tmp_path, environ={})  # not an unknown setting


class _Cursor:
    async def fetchone(self) -> tuple[None]:
        return (None,)


class _Conn:
    """Answers every probe with "nothing due" (the claimer's token waits are what is
    tested), and counts the probes."""

    def __init__(self) -> None:
        self.probes: list[object] = []

    async def execute(self, sql: str, params: dict[str, object]) -> _Cursor:
        self.probes.append(params.get("queues"))
        return _Cursor()


def test_a_token_wait_ends_with_the_next_claim_not_with_its_time() -> None:
    """A partition whose token came due while other partitions were claimed must be
    claimed at the next refill (a wait dropped once its time passed left that partition
    known to nobody: one worker on 4 partitions held 40/s of a 50/s limit)."""
    import asyncio
    from datetime import UTC, datetime, timedelta

    from rhythm.runtime.claiming import Claimer
    from rhythm.runtime.clock import ManualClock
    from rhythm.runtime.partitions import Topology

    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    claimer = Claimer("postgresql://unused", "w", ["default"], clock, 30.0, 10,
                      Topology(partitions=2, citus=False))
    claimer.controls = controls_from_rows(
        [{"name": "default", "paused": False, "rate_limit": "10/s"}], [])
    conn = _Conn()
    claimer.conn = conn  # type: ignore[assignment]
    claimer._hinted.clear()
    start = clock.now()
    claimer._note_tokens(1, "default", [{"queue_due": start, "task_due": None}], 10)
    clock.advance(0.1)  # part 1's token is due; part 0 is claimed (short) meanwhile
    later = clock.now() + timedelta(seconds=0.05)
    claimer._note_tokens(0, "default", [{"queue_due": later, "task_due": None}], 10)
    asyncio.run(claimer.next_due())  # the idle probe, before part 1 is claimed again
    assert conn.probes  # (it used to drop the waits whose time had passed)
    clock.advance(0.1)
    assert sorted(claimer._parts_to_claim()) == [0, 1]  # part 1 too, not only part 0
    # paused: its waits go (no probe or wake-up for a queue nobody may claim)
    claimer.controls = controls_from_rows(
        [{"name": "default", "paused": True, "rate_limit": "10/s"}], [])
    asyncio.run(claimer.next_due())
    assert claimer._token_due == {}
