"""Bulk enqueue (issue 18): ``client.queue_tasks`` / ``start_many`` and their async twins
insert every item in one statement, inside the caller's transaction when given its
connection; a bad item is refused, naming it, before anything is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, one_row, running_worker

from rhythm.errors import InputError
from rhythm.runtime.client import AsyncClient, Client


def _count(url: str, kind: str) -> int:
    return int(one_row(url, "SELECT count(*) FROM rhythm.executions WHERE kind = %s",
                       (kind,))[0])


def test_queue_tasks_inserts_every_item_and_returns_their_handles_in_order(
    db_url: str, client: Client
) -> None:
    items = [("add", {"a": i, "b": 1}) for i in range(300)]
    items.append(("add", {"a": 1000}, {"priority": 5, "queue": "default", "id": "mine"}))
    runs = client.queue_tasks(items)
    assert len(runs) == 301 and runs[-1].id == "mine"
    assert _count(db_url, "task") == 301
    assert client.get("mine")["priority"] == 5
    with running_worker(db_url, concurrency=8):
        assert [run.result(timeout=30) for run in runs[:3]] == [1, 2, 3]
        assert runs[-1].result(timeout=30) == 1000
        assert runs[150].result(timeout=30) == 151
    again = client.queue_tasks([("add", {"a": 1}, {"id": "mine"})])  # an id kept as it is
    assert again[0].id == "mine" and client.get("mine")["status"] == "completed"


def test_queue_tasks_commits_and_rolls_back_with_the_callers_transaction(
    db_url: str, client: Client
) -> None:
    with psycopg.connect(db_url) as conn:
        client.queue_tasks([("add", {"a": 1}), ("add", {"a": 2})], connection=conn)
        conn.rollback()
    assert _count(db_url, "task") == 0
    with psycopg.connect(db_url) as conn:
        runs = client.queue_tasks([("add", {"a": 1}), ("add", {"a": 2})], connection=conn)
        assert _count(db_url, "task") == 0  # not before the caller commits
        conn.commit()
    assert _count(db_url, "task") == 2
    assert [client.get(r.id)["status"] for r in runs] == ["pending", "pending"]


@pytest.mark.parametrize(("items", "message"), [
    ([("add", {"a": 1}), ("add", [1])], "item 1: inputs of task 'add' must be a JSON object"),
    ([("add", {"a": 1}, {"prority": 1})], "item 0: unknown option 'prority' (did you mean "
                                          "'priority'?)"),
    ([("add", {"a": 1}, {"idempotency_key": "k"})], "item 0: unknown option 'idempotency_key'"),
    ([("",)], "item 0: task name must be a non-empty string"),
    (["add"], "item 0: expected (name, inputs, options)"),
])
def test_a_bad_item_is_refused_by_its_index_and_nothing_is_written(
    db_url: str, client: Client, items: list[object], message: str
) -> None:
    with pytest.raises(InputError) as err:
        client.queue_tasks(items)  # type: ignore[arg-type]
    assert str(err.value).startswith(message)
    assert _count(db_url, "task") == 0


def test_start_many_starts_workflows_and_the_async_client_does_both(
    db_url: str, tmp_path: Path, client: Client
) -> None:
    flow = 'return await Task.run("add", { a: Inputs.n, b: 1 })\n'
    with flows_worker(db_url, tmp_path, {"plus_one": flow}, concurrency=8):
        runs = client.start_many([("plus_one", {"n": n}) for n in range(20)])
        assert [run.result(timeout=30) for run in runs] == list(range(1, 21))

        async def scenario() -> tuple[list[object], list[object]]:
            async with AsyncClient(db_url) as aclient:
                tasks = await aclient.queue_tasks([("add", {"a": 1, "b": 1})])
                flows = await aclient.start_many([("plus_one", {"n": 41})])
                return ([await t.result(timeout=30) for t in tasks],
                        [await f.result(timeout=30) for f in flows])

        assert asyncio.run(scenario()) == ([2], [42])
