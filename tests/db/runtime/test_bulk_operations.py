"""Bulk retry and cancel (issue 19, item 4) on a real Postgres and real workers: the
single-id rules applied page by page, the counts they report, a dry run that changes
nothing, every partition visited, and bad selections refused (one line, exit 2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sample_tasks
from conftest import flows_worker, one_row, running_worker, wait_for
from test_runtime_cli import rhythm_cli

from rhythm.errors import BadFilter, WorkflowFailed
from rhythm.lifecycle import bulk
from rhythm.runtime.client import AsyncClient, Client
from rhythm.runtime.partitions import part_of

SAGA = """
await Task.run("log_once", { key: "charge-" + Inputs.n })
try {
  await Signal.next("ship")
  return "shipped"
} catch (e) {
  const refund = await Task.run("log_once", { key: "refund-" + Inputs.n })
  return { compensated: refund, because: e.name }
}
"""


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Pages of 7 rows: every test here spans several pages (and transactions)."""
    monkeypatch.setattr(bulk, "PAGE", 7)
    yield


def _statuses(client: Client, name: str) -> list[str]:
    return sorted(r["status"] for r in client.list(name=name, limit=1000))


def test_bulk_retry_runs_20_failed_executions_again_to_completion(
    db_url: str, client: Client, task_log: Callable[[], list[str]]
) -> None:
    with running_worker(db_url):
        runs = [client.queue_task("flaky", {"key": f"k{i}", "failures": 1}, retries=0)
                for i in range(20)]
        done = client.queue_task("add", {"a": 1})
        wait_for(lambda: _statuses(client, "flaky") == ["failed"] * 20, what="20 failures")
        assert done.result(timeout=10) == 1
        assert client.retry_many(status="failed", name="flaky", dry_run=True).as_dict() == {
            "action": "retry", "dry_run": True, "matched": 20, "changed": 20, "ended": 0,
            "missing": [], "unchanged": 0}
        assert _statuses(client, "flaky") == ["failed"] * 20  # (the dry run changed nothing)
        result = client.retry_many(status="failed", name="flaky")
        assert (result.matched, result.changed, result.unchanged) == (20, 20, 0)
        assert [run.result(timeout=20) for run in runs] == ["ok after 2"] * 20
    assert {f"k{i}": 2 for i in range(20)} == sample_tasks.ATTEMPTS  # each ran once more
    assert one_row(db_url, "SELECT count(*), min(run_no) FROM rhythm.executions"
                           " WHERE name = 'flaky'") == (20, 2)
    assert one_row(db_url, "SELECT count(*) FROM rhythm.execution_runs"
                           " WHERE status = 'failed'") == (20,)
    assert client.get(done.id)["run_no"] == 1  # completed: not selected, not retried
    again = client.retry_many(name="flaky")  # all completed now: nothing to retry
    assert (again.matched, again.changed, again.unchanged) == (20, 0, 20)


def test_bulk_cancel_then_retry_commits_each_effect_once(
    db_url: str, client: Client, task_log: Callable[[], list[str]]
) -> None:
    runs = [client.queue_task("log_once", {"key": f"e{i:02d}"}) for i in range(12)]
    other = client.queue_task("add", {"a": 2})
    cancelled = client.cancel_many(name="log_once", since="1h")
    assert (cancelled.matched, cancelled.changed, cancelled.ended) == (12, 12, 12)
    assert _statuses(client, "log_once") == ["cancelled"] * 12
    assert other.status() == "pending"
    with running_worker(db_url):
        result = client.retry_many([r.id for r in runs[:5]])
        assert (result.matched, result.changed) == (5, 5)
        rest = client.retry_many(status="cancelled", kind="task")
        assert (rest.matched, rest.changed) == (7, 7)
        assert [r.result(timeout=20) for r in runs] == [f"e{i:02d}" for i in range(12)]
    assert task_log() == [f"e{i:02d}" for i in range(12)]


@pytest.fixture
def saga_worker(db_url: str, tmp_path: Path) -> Iterator[None]:
    with flows_worker(db_url, tmp_path, {"saga": SAGA}):
        yield


def test_bulk_cancel_of_suspended_workflows_runs_each_compensation(
    client: Client, saga_worker: None, task_log: Callable[[], list[str]]
) -> None:
    runs = [client.start("saga", {"n": n}) for n in range(9)]
    wait_for(lambda: _statuses(client, "saga") == ["suspended"] * 9
             and len(task_log()) == 9, timeout=20, what="9 charges, then 9 waits")
    result = client.cancel_many(name="saga", kind="workflow")
    # asked to stop (they were suspended): none ended in the statement itself
    assert (result.matched, result.changed, result.ended) == (9, 9, 0)
    for n, run in enumerate(runs):
        with pytest.raises(WorkflowFailed, match="CancelledError"):
            run.result(timeout=20)
        row = client.get(run.id)
        assert row["status"] == "cancelled"
        assert row["result"] == {"compensated": f"refund-{n}", "because": "CancelledError"}
    assert task_log() == sorted([f"charge-{n}" for n in range(9)]
                                + [f"refund-{n}" for n in range(9)])
    # the refund tasks (children) ended normally; a second bulk cancel changes nothing
    assert _statuses(client, "log_once") == ["completed"] * 18
    again = client.cancel_many(name="saga")
    assert (again.matched, again.changed, again.unchanged) == (9, 0, 9)


def test_ids_counts_missing_and_the_async_client(db_url: str, client: Client) -> None:
    pending = client.queue_task("add", {"a": 1}, id="b-pending")
    client.queue_task("add", {"a": 1}, id="b-ended")
    client.cancel("b-ended")
    result = client.cancel_many(["b-pending", "b-ended", "b-nope", "b-pending"])
    assert result.as_dict() == {"action": "cancel", "dry_run": False, "matched": 2,
                                "changed": 1, "ended": 1, "missing": ["b-nope"],
                                "unchanged": 1}
    assert pending.status() == "cancelled"

    async def retried() -> tuple[int, int, int]:
        async with AsyncClient(db_url) as aclient:
            dry = await aclient.retry_many(["b-pending", "b-ended"], dry_run=True)
            assert dry.changed == 2 and client.get("b-ended")["status"] == "cancelled"
            done = await aclient.retry_many(status="cancelled")
            return done.matched, done.changed, (await aclient.cancel_many("b-ended")).ended

    assert asyncio.run(retried()) == (2, 2, 1)


def test_every_partition_is_walked(db_url: str, client: Client) -> None:
    code, _, _ = rhythm_cli("migrate", "--partitions", "4", "--database-url", db_url)
    assert code == 0
    with Client(db_url) as fresh:  # (reads the layout anew)
        runs = [fresh.queue_task("add", {"a": i}) for i in range(40)]
        assert len({part_of(r.id, 4) for r in runs}) == 4
        result = fresh.cancel_many(name="add")
        assert (result.matched, result.changed, result.ended) == (40, 40, 40)
        result = fresh.retry_many([r.id for r in runs])
        assert (result.matched, result.changed) == (40, 40)
    with psycopg.connect(db_url, autocommit=True) as conn:
        by_part = conn.execute("SELECT part, count(*) FROM rhythm.executions"
                               " WHERE status = 'pending' GROUP BY part ORDER BY part")
        assert sum(n for _, n in by_part) == 40


def test_cli_counts_dry_run_and_json(db_url: str, client: Client) -> None:
    for i in range(3):
        client.queue_task("add", {"a": i}, id=f"c-{i}")
    code, out, _ = rhythm_cli("cancel", "--name", "add", "--dry-run", "--database-url", db_url)
    assert (code, out.strip()) == (
        0, "cancel (dry run): 3 matched, 3 would change, 0 would not (already ended)")
    assert _statuses(client, "add") == ["pending"] * 3
    code, out, _ = rhythm_cli("cancel", "c-0", "c-1", "--database-url", db_url)
    assert (code, out.strip()) == (
        0, "cancel: 2 matched, 2 changed (2 cancelled, 0 asked to stop), 0 not changed "
           "(already ended)")
    code, out, _ = rhythm_cli("retry", "--queue", "default", "--database-url", db_url,
                              "--json")
    assert code == 0 and json.loads(out) == {
        "action": "retry", "dry_run": False, "matched": 3, "changed": 2, "ended": 0,
        "missing": [], "unchanged": 1}
    code, out, err = rhythm_cli("retry", "c-2", "c-9", "--database-url", db_url)
    assert code == 1 and out.strip() == (
        "retry: 1 matched, 0 queued again, 1 not changed (not failed or cancelled)")
    assert err == "rhythm: error: no execution with id 'c-9'\n"


@pytest.mark.parametrize(("args", "message"), [
    (("cancel",), "give ids or at least one filter"),
    (("retry",), "give ids or at least one filter"),
    (("retry", "--dry-run"), "give ids or at least one filter"),
    (("cancel", "x-1", "--status", "pending"), "give ids or filters, not both"),
    (("retry", "--since", "yesterday"), "--since: 'yesterday' is neither an ISO 8601"),
    (("cancel", "--until", "2h", "--since", "1h"), "--since "),
])
def test_cli_bad_selections_are_one_line_and_exit_2(
    db_url: str, args: tuple[str, ...], message: str
) -> None:
    code, out, err = rhythm_cli(*args, "--database-url", db_url)
    assert code == 2 and out == ""
    assert err.startswith(f"rhythm: error: {message}") and err.count("\n") == 1


def test_python_bad_selections(client: Client) -> None:
    with pytest.raises(BadFilter, match="give ids or at least one filter"):
        client.cancel_many()
    with pytest.raises(BadFilter, match="not both"):
        client.retry_many(["x"], name="add")
    with pytest.raises(BadFilter, match="--kind"):
        client.retry_many(kind="job")
