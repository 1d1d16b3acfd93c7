"""Routing: workers claim only the task names they have; a pending task that no live
worker has says so in `rhythm status` and `rhythm list` (text and JSON): none ever
registered it, or every worker that did has stopped (or its heartbeat is older than its
lease)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from conftest import running_worker, wait_for
from dbfixtures import run_cli

from rhythm.runtime.client import Client
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.sql import Q

REASON = "no worker has task 'only_in_node': none has registered it"
GONE = "no live worker has task 'add': every worker that registered it has stopped"


def register(db_url: str, worker: str, tasks: Sequence[str] | None, at: datetime,
             lease_seconds: float | None = 30.0) -> None:
    """A worker's registration as a worker writes it: its row, and the routes of its
    names (tasks None: a row written before the workers said which names they have)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(Q["register_worker"], {
            "id": worker, "host": "h", "pid": 1, "queues": ["default"], "now": at,
            "tasks": None if tasks is None else list(tasks), "lease_seconds": lease_seconds})
        conn.execute(Q["register_task_routes"], {"now": at, "routes": json.dumps(
            [{"name": n, "queue": "default", "concurrency": None, "rate_limit": None}
             for n in tasks or []])})


def status(db_url: str, execution_id: str) -> dict[str, Any]:
    done = run_cli("status", execution_id, "--json", "--database-url", db_url)
    assert done.returncode == 0, done.stderr
    row: dict[str, Any] = json.loads(done.stdout)
    return row


def test_a_task_no_worker_has_says_so_in_status_and_list(db_url: str, client: Client) -> None:
    run = client.queue_task("only_in_node", {"x": 1})
    served = client.queue_task("add", {"a": 1})
    register(db_url, "w-add", ["add"], datetime.now(UTC))  # a live worker has "add"
    text = run_cli("status", run.id, "--database-url", db_url)
    assert text.returncode == 0, text.stderr
    assert f"reason: {REASON}" in text.stdout
    assert status(db_url, run.id)["reason"].startswith(REASON)
    listed = run_cli("list", "--json", "--database-url", db_url)
    reasons = {r["id"]: r["reason"] for r in json.loads(listed.stdout)["executions"]}
    assert reasons[run.id].startswith(REASON) and reasons[served.id] is None
    assert client.unserved_tasks(["add", "only_in_node"]) == {"only_in_node": "unregistered"}
    register(db_url, "w-node", ["only_in_node"], datetime.now(UTC))  # one that has it starts
    assert status(db_url, run.id)["reason"] is None


def test_a_task_whose_workers_all_stopped_says_no_live_worker_has_it(
        db_url: str, client: Client) -> None:
    # (queue "parked": the worker has the name but does not serve the queue, so the row
    # stays pending while the worker lives)
    run = client.queue_task("add", {"a": 1, "b": 2}, queue="parked")
    with running_worker(db_url) as worker:
        wait_for(lambda: client.unserved_tasks(["add"]) == {}, what="the worker's registration")
        assert status(db_url, run.id)["reason"] is None
        # Seen from a clock one lease (30 s) past its last heartbeat, it is gone.
        later = Client(db_url, clock=ManualClock(datetime.now(UTC) + timedelta(seconds=31)))
        assert later.unserved_tasks(["add", "nobody"]) == {
            "add": "no live worker", "nobody": "unregistered"}
        assert worker.id  # (still running: only its heartbeat's age decides)
    # Stopped gracefully: its row is gone at once.
    assert status(db_url, run.id)["reason"] == GONE + " (a worker that has it will claim it)"
    listed = json.loads(run_cli("list", "--json", "--database-url", db_url).stdout)
    assert {r["id"]: r["reason"] for r in listed["executions"]}[run.id].startswith(GONE)


def test_liveness_follows_each_workers_own_lease(db_url: str, client: Client) -> None:
    client.queue_task("add", {"a": 1}, queue="parked")
    now = datetime.now(UTC)
    register(db_url, "w-short", ["add"], now - timedelta(seconds=20), lease_seconds=10)
    assert client.unserved_tasks(["add"]) == {"add": "no live worker"}
    register(db_url, "w-long", ["add"], now - timedelta(seconds=20), lease_seconds=60)
    assert client.unserved_tasks(["add"]) == {}
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(Q["unregister_worker"], {"id": "w-long"})
    assert client.unserved_tasks(["add"]) == {"add": "no live worker"}


def test_a_live_worker_registered_before_names_were_kept_may_have_any(
        db_url: str, client: Client) -> None:
    # (a worker of an older version wrote no names and no lease: it is not reported
    # as missing a name it may have; judged live for the default lease, 30 s)
    now = datetime.now(UTC)
    register(db_url, "w-add", ["add"], now - timedelta(minutes=5))
    register(db_url, "w-old", None, now - timedelta(seconds=5), lease_seconds=None)
    assert client.unserved_tasks(["add", "other"]) == {"other": "unregistered"}
    register(db_url, "w-old", None, now - timedelta(seconds=40), lease_seconds=None)
    assert client.unserved_tasks(["add"]) == {"add": "no live worker"}
