"""The worker in-process: results, retries, timeouts, transactional tasks, poison inputs,
cancellation, fencing and wake-ups. Every test runs against a real Postgres."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import sample_tasks
from conftest import running_worker, wait_for

from rhythm.errors import WorkflowFailed
from rhythm.runtime.client import Client
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.jobs import Outcome, TaskRunner
from rhythm.runtime.sql import Q
from rhythm.runtime.tasks import REGISTRY
from rhythm.runtime.worker import Worker


def test_sync_and_async_tasks_complete(client: Client, worker: Worker) -> None:
    runs = [client.queue_task("add", {"a": 2, "b": 3}),
            client.queue_task("add_async", {"a": 4, "b": 5})]
    assert [r.result(timeout=10) for r in runs] == [5, 9]
    row = client.get(runs[0].id)
    assert (row["status"], row["attempt"], row["claimed_by"]) == ("completed", 1, None)


def test_a_failing_task_is_retried_with_backoff_then_succeeds(
    client: Client, task_log, worker: Worker
) -> None:
    run = client.queue_task("flaky", {"key": "k", "failures": 2})
    assert run.result(timeout=10) == "ok after 3"
    assert client.get(run.id)["attempt"] == 3


def test_retries_run_out_and_the_error_is_structured(
    client: Client, task_log, worker: Worker
) -> None:
    run = client.queue_task("flaky", {"key": "k2", "failures": 99})
    with pytest.raises(WorkflowFailed) as caught:
        run.result(timeout=10)
    error = caught.value.error
    assert (error["name"], error["type"], error["attempts"], error["task"]) == (
        "TaskError", "OSError", 3, "flaky")
    assert "down (attempt 3)" in error["message"]
    assert "Traceback" in error["details"]["traceback"]


def test_per_call_retries_override_the_decorator(client: Client, task_log, worker: Worker) -> None:
    run = client.queue_task("flaky", {"key": "k3", "failures": 99}, retries=0)
    with pytest.raises(WorkflowFailed):
        run.result(timeout=10)
    assert sample_tasks.ATTEMPTS["k3"] == 1


def test_non_retryable_exceptions_fail_at_once(client: Client, task_log, worker: Worker) -> None:
    run = client.queue_task("bad_value", {"key": "v"})
    with pytest.raises(WorkflowFailed, match="bad card"):
        run.result(timeout=10)
    assert sample_tasks.ATTEMPTS["v"] == 1


def test_a_timed_out_async_task_is_cancelled(client: Client, task_log, worker: Worker) -> None:
    run = client.queue_task("slow_async", {"key": "s", "seconds": 30})
    with pytest.raises(WorkflowFailed) as caught:
        run.result(timeout=10)
    assert caught.value.error["type"] == "TimeoutError"
    assert sample_tasks.CANCELLED == ["s"]


def test_a_timed_out_sync_task_fails_and_its_late_result_is_discarded(
    client: Client, worker: Worker
) -> None:
    run = client.queue_task("slow_sync", {"seconds": 1.0})
    with pytest.raises(WorkflowFailed) as caught:
        run.result(timeout=10)
    assert caught.value.error["type"] == "TimeoutError"
    time.sleep(1.0)  # the thread finishes now; nothing may change
    assert client.get(run.id)["status"] == "failed"
    assert client.get(run.id)["result"] is None


@pytest.mark.parametrize("name", ["log_once", "log_once_async"])
def test_a_transactional_task_commits_its_writes_with_its_result(
    client: Client, task_log, worker: Worker, name: str
) -> None:
    run = client.queue_task(name, {"key": "t1"})
    assert run.result(timeout=10) == "t1"
    assert task_log() == ["t1"]


def test_a_transactional_task_that_times_out_rolls_its_writes_back(
    client: Client, task_log, worker: Worker
) -> None:
    run = client.queue_task("log_too_late", {"key": "late", "seconds": 0.8})
    with pytest.raises(WorkflowFailed, match="did not finish"):
        run.result(timeout=10)
    time.sleep(1.0)
    assert task_log() == []


def test_arguments_that_do_not_fit_fail_clearly_without_retry(
    client: Client, worker: Worker
) -> None:
    run = client.queue_task("flaky", {"key": "x", "oops": 1})
    with pytest.raises(WorkflowFailed) as caught:
        run.result(timeout=10)
    error = caught.value.error
    assert error["type"] == "ArgumentMismatch"
    assert "missing 'failures'; unexpected 'oops'" in error["message"]
    assert client.get(run.id)["attempt"] == 1


def test_a_task_no_worker_has_waits_for_one_instead_of_failing(
    client: Client, worker: Worker
) -> None:
    # Routing: a worker claims only the task names it has, so a task of another
    # worker's (another language's) stays queued, untouched, for that worker.
    good = client.queue_task("add", {"a": 1})
    run = client.queue_task("no_such_task", {})
    assert good.result(timeout=10) == 1
    worker_claims = worker.claimed
    time.sleep(0.3)
    row = client.get(run.id)
    assert (row["status"], row["attempt"], row["claimed_by"]) == ("pending", 0, None)
    assert worker.claimed == worker_claims


def test_a_result_that_is_not_json_fails_the_execution(client: Client, worker: Worker) -> None:
    run = client.queue_task("not_json", {})
    with pytest.raises(WorkflowFailed) as caught:
        run.result(timeout=10)
    assert caught.value.error["type"] == "ResultNotJSON"


def test_cancel_reaches_a_running_async_task(client: Client, task_log, db_url: str) -> None:
    with running_worker(db_url, lease_seconds=0.6) as _:
        run = client.queue_task("wait_forever", {"key": "c"})
        wait_for(lambda: run.status() == "running", what="the task to start")
        assert client.cancel(run.id) == "running"
        with pytest.raises(WorkflowFailed, match="CancelledError"):
            run.result(timeout=10)
    assert sample_tasks.CANCELLED == ["c"]
    assert client.get(run.id)["status"] == "cancelled"


def test_notify_wakes_an_idle_worker_long_before_its_backstop_poll(
    client: Client, db_url: str
) -> None:
    with running_worker(db_url, poll_interval=60) as _:
        time.sleep(0.5)  # the worker is idle, sleeping on its 60 s backstop
        started = time.monotonic()
        assert client.queue_task("add", {"a": 1}).result(timeout=10) == 1
        assert time.monotonic() - started < 2.0


def test_a_stale_claim_cannot_record_its_outcome(client: Client, db_url: str) -> None:
    """Fencing: after a lease expires and the row is claimed again, the first claim's
    completion is rejected by the database."""
    run = client.queue_task("add", {"a": 1})
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        def claim_at(moment: datetime) -> int:
            row = conn.execute(Q["claim"], {"part": 0,
                "queue": "default", "limit": 1, "now": moment, "worker": "w",
                "lease_until": moment + timedelta(seconds=1), "kinds": ["task"], "names": None,
            }).fetchone()
            assert row is not None
            return int(row[10])  # claim_token

        first = claim_at(now)
        later = now + timedelta(seconds=5)
        reaped = conn.execute(Q["reap_expired_leases"], {"part": 0, "now": later}).fetchall()
        assert [r[0] for r in reaped] == [run.id]
        second = claim_at(later)
        assert second == first + 1

        runner = TaskRunner(db_url, REGISTRY, ManualClock(later), ThreadPoolExecutor(1), "w")

        async def record(token: int, result: str) -> set[str]:
            aconn = await psycopg.AsyncConnection.connect(db_url, autocommit=True)
            async with aconn:
                outcome = Outcome(run.id, token, "completed", result=result)
                accepted, _ = await runner.record(aconn, [outcome])
                return accepted

        assert asyncio.run(record(first, "111")) == set()
        assert client.get(run.id)["status"] == "running"
        assert asyncio.run(record(second, "222")) == {run.id}
    row = client.get(run.id)
    assert (row["status"], row["result"], row["lease_losses"]) == ("completed", 222, 1)
