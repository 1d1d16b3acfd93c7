"""Retention without a database: durations, the bound of a pass, how a pass reacts to a
busy lock, and the start paths that meet an id or key deleted by a cleaner between two
statements (rhythm.lifecycle.retention, rhythm.runtime.operations)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rhythm.lifecycle.retention import (
    NEVER,
    Filters,
    Retention,
    _Batch,
    created_before,
    describe_retention,
    parse_interval,
    parse_retention,
    plan_pass,
)
from rhythm.runtime import operations as ops

NOW = datetime(2026, 12, 2, tzinfo=UTC)


@pytest.mark.parametrize("value, seconds", [
    ("7d", 604_800), ("12h", 43_200), ("30m", 1_800), ("90s", 90), ("1h30m", 5_400),
    ("0", 0), (0, 0), ("90", 90), (3_600, 3_600), ("never", NEVER), ("NEVER", NEVER),
])
def test_retention_durations(value: Any, seconds: int) -> None:
    assert parse_retention(value, "--x") == seconds


@pytest.mark.parametrize("value, message", [
    ("-1d", "--x cannot be negative, got '-1d'"),
    (-5, "--x cannot be negative, got -5"),
    ("7 days", '--x "7 days" is malformed'),
    ("", '--x "" is malformed'),
    (True, "--x must be a duration"),
])
def test_bad_retention_names_the_option(value: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_retention(value, "--x")
    assert str(err.value).startswith(message)


def test_the_interval_must_be_positive() -> None:
    assert parse_interval("0.05", "--i") == 0.05
    with pytest.raises(ValueError, match="--i must be longer than 0"):
        parse_interval("0", "--i")


def test_retentions_are_shown_as_written() -> None:
    shown = [describe_retention(s) for s in (None, NEVER, 0, 90, 1_800, 7_200, 1_209_600)]
    assert shown == ["default", "never", "0s", "90s", "30m", "2h", "14d"]


def test_a_pass_reads_back_to_the_shortest_retention_in_force() -> None:
    defaults = Retention(tasks_s=7 * 86_400, workflows_s=30 * 86_400)
    rows = [{"name": "fast", "task_retention_s": 3_600, "workflow_retention_s": None},
            {"name": "keep", "task_retention_s": NEVER, "workflow_retention_s": NEVER}]
    assert created_before(NOW, defaults, rows, Filters()) == NOW - timedelta(hours=1)
    assert created_before(NOW, defaults, rows, Filters(kind="workflow")) == NOW - timedelta(30)
    assert created_before(NOW, defaults, rows, Filters(queue="keep")) == NOW - timedelta(7)
    assert created_before(NOW, defaults, rows, Filters(older_than_s=0)) == NOW
    forever = Retention(tasks_s=NEVER, workflows_s=NEVER)
    assert created_before(NOW, forever, rows[1:], Filters()) is None  # nothing to do


def _drive(plan: Any, outcomes: list[_Batch]) -> tuple[Any, list[Any]]:
    """Run a pass plan against canned batch outcomes; the ops it asked for, and its end."""
    asked = [next(plan)]
    try:
        for outcome in outcomes:
            asked.append(plan.send(outcome))
    except StopIteration as stop:
        return stop.value, asked
    raise AssertionError("the plan asked for more batches than given")


def _batch(n: int, busy: bool = False) -> _Batch:
    return _Batch(Counter({("task", "completed"): n}), n, (NOW, f"id-{n}"), busy)


def test_a_pass_goes_batch_by_batch_and_partition_by_partition() -> None:
    plan = plan_pass(2, NOW, Retention(), [], Filters(), limit=2)
    summary, asked = _drive(plan, [_batch(2), _batch(1), _batch(0)])
    assert len(asked) == 3 and summary.total == 3 and not summary.busy


def test_a_busy_lock_ends_the_workers_pass_and_is_waited_for_by_the_command() -> None:
    plan = plan_pass(2, NOW, Retention(), [], Filters(), limit=2)
    summary, _ = _drive(plan, [_batch(2), _batch(0, busy=True)])
    assert summary.busy and summary.total == 2
    tries = iter([True, False])
    plan = plan_pass(1, NOW, Retention(), [], Filters(), limit=2, again=lambda: next(tries))
    summary, asked = _drive(plan, [_batch(0, busy=True), _batch(1)])
    assert not summary.busy and summary.total == 1 and len(asked) == 2


def _run(op: Any, answers: dict[str, list[list[dict[str, Any]]]]) -> tuple[Any, list[str]]:
    """Drive an operation with canned rows per query (in order of asking)."""
    asked: list[str] = []
    query, _ = next(op)
    try:
        while True:
            asked.append(query)
            query, _ = op.send(answers[query].pop(0))
    except StopIteration as stop:
        return stop.value, asked


def test_a_keyed_task_whose_holder_was_cleaned_meanwhile_is_created_again() -> None:
    req = ops.prepare_enqueue("task", "add", {"a": 1}, id=None, queue=None, priority=0,
                              idempotency_key="k")
    row = {"id": "t-1", "kind": "task", "name": "add", "status": "pending"}
    found, asked = _run(ops.enqueue_keyed(req, NOW), {
        "insert_keyed_execution": [[], [], [row]], "lock_keyed": [[], []]})
    assert found["created"] and asked == ["insert_keyed_execution", "lock_keyed"] * 2 + [
        "insert_keyed_execution"]


def test_an_id_whose_holder_was_cleaned_meanwhile_is_created_again() -> None:
    req = ops.prepare_enqueue("task", "add", {"a": 1}, id="mine", queue=None, priority=0)
    row = {"id": "mine", "kind": "task", "name": "add", "status": "pending"}
    found, asked = _run(ops.enqueue(req, NOW), {
        "insert_execution": [[], [row]], "lock_execution": [[]]})
    assert found["created"] and asked == ["insert_execution", "lock_execution",
                                          "insert_execution"]
