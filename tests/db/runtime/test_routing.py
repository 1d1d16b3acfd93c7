"""Routing: workers claim only the task names they have; a pending task that no worker
has registered says so in `rhythm status` and `rhythm list` (text and JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
from dbfixtures import run_cli

from rhythm.runtime.client import Client
from rhythm.runtime.sql import Q

REASON = "no worker has task 'only_in_node': none has registered it"


def test_a_task_no_worker_has_says_so_in_status_and_list(db_url: str, client: Client) -> None:
    run = client.queue_task("only_in_node", {"x": 1})
    served = client.queue_task("add", {"a": 1})
    with psycopg.connect(db_url, autocommit=True) as conn:  # a worker registered "add"
        conn.execute(Q["register_task_routes"], {"now": datetime.now(UTC), "routes": json.dumps(
            [{"name": "add", "queue": "default", "concurrency": None, "rate_limit": None}])})
    status = run_cli("status", run.id, "--database-url", db_url)
    assert status.returncode == 0, status.stderr
    assert f"reason: {REASON}" in status.stdout
    as_json = json.loads(run_cli("status", run.id, "--json", "--database-url", db_url).stdout)
    assert as_json["reason"].startswith(REASON)
    listed = run_cli("list", "--json", "--database-url", db_url)
    reasons = {r["id"]: r["reason"] for r in json.loads(listed.stdout)["executions"]}
    assert reasons[run.id].startswith(REASON) and reasons[served.id] is None
    assert client.unserved_tasks(["add", "only_in_node"]) == {"only_in_node"}
    with psycopg.connect(db_url, autocommit=True) as conn:  # a worker that has it starts
        conn.execute(Q["register_task_routes"], {"now": datetime.now(UTC), "routes": json.dumps(
            [{"name": "only_in_node", "queue": "default", "concurrency": None,
              "rate_limit": None}])})
    again = json.loads(run_cli("status", run.id, "--json", "--database-url", db_url).stdout)
    assert again["reason"] is None
