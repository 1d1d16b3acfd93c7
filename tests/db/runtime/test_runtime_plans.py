"""Per-activation statements stay O(1) in an execution's history, whatever the planner's
statistics say: a generic plan cached while the tables were small (psycopg prepares a
statement on its 5th use; a new database is not analysed for a minute) must not scan
every promise of the execution, nor every execution."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from rhythm.runtime.database import connect_keyed
from rhythm.runtime.sql import Q

HISTORY = 3_000


def _with_long_history(url: str) -> None:
    """One suspended workflow with HISTORY settled task promises, statistics taken while
    the tables were empty (the stale case)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE rhythm.executions; ANALYZE rhythm.promises")
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, status) "
                     "VALUES ('w', 'workflow', 'loop', 'suspended')")
        conn.execute(
            "INSERT INTO rhythm.executions (id, kind, name, status, parent_id, parent_promise)"
            " SELECT 't' || g, 'task', 'noop', 'completed', 'w', g"
            " FROM generate_series(1, %(n)s) g", {"n": HISTORY})
        conn.execute(
            "INSERT INTO rhythm.promises (execution_id, promise_id, kind, target, state, value)"
            " SELECT 'w', g, 'task', 't' || g, 'resolved', 'null'"
            " FROM generate_series(1, %(n)s) g", {"n": HISTORY})
        conn.execute("INSERT INTO rhythm.snapshots (execution_id, snapshot, next_promise_id,"
                     " waiting_on, refs) VALUES ('w', '{}', %(n)s, %(n)s, %(refs)s)",
                     {"n": HISTORY, "refs": [HISTORY - 1]})


def _positional(query: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """``query`` with its ``%(name)s`` placeholders as ``$1, $2...`` (what PREPARE takes),
    and the values in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    text = re.sub(r"%\((\w+)\)s", number, query).replace("%%", "%")
    return text, [params[n] for n in names]


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows produced or filtered away by every scan node of an EXPLAIN ANALYZE plan."""
    own = 0
    if "Scan" in plan["Node Type"]:
        own = (plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
               + plan.get("Rows Removed by Index Recheck", 0)) * plan.get("Actual Loops", 1)
    return own + sum(_rows_read(child) for child in plan.get("Plans", []))


def _generic_plan_rows(url: str, name: str, params: dict[str, Any],
                       mode: str = "force_generic_plan") -> int:
    """Rows read by ``name``'s plan (generic, or with ``mode`` "force_custom_plan" the
    plan made for these very parameters)."""
    async def explain() -> int:
        conn = await connect_keyed(url)
        try:
            await conn.execute("SELECT set_config('plan_cache_mode', %s, false)", [mode])
            # EXPLAIN of a statement with bound parameters plans it for those values (a
            # custom plan, whatever plan_cache_mode says): the statement is PREPAREd, and
            # the plan EXECUTE uses is the one explained.
            text, values = _positional(Q[name], {"part": 0, "notify": True, **params})
            async with conn.transaction(force_rollback=True):
                await conn.execute(sql.SQL("PREPARE rhythm_plan_probe AS {}").format(
                    sql.SQL(text)))  # type: ignore[arg-type]  # (a query of our own files)
                # (literals: EXECUTE coerces them to the types PREPARE inferred)
                cur = await conn.execute(
                    sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE rhythm_plan_probe({})")
                    .format(sql.SQL(", ").join(sql.Literal(v) for v in values)))
                row = await cur.fetchone()
                assert row is not None
                doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
                return _rows_read(doc[0]["Plan"])
        finally:
            await conn.close()

    return asyncio.run(explain())


def test_activation_load_reads_only_what_the_snapshot_reaches(db_url: str) -> None:
    _with_long_history(db_url)
    rows = _generic_plan_rows(db_url, "load_activation_all", {"id": "w"})
    assert rows < 50, f"load_activation_all read {rows} rows for a 2-promise snapshot"


def test_combinator_member_load_is_keyed(db_url: str) -> None:
    _with_long_history(db_url)
    rows = _generic_plan_rows(db_url, "load_promises", {"id": "w", "ids": [1, 2, 3]})
    assert rows < 50, f"load_promises read {rows} rows for 3 ids"


def test_settling_a_parent_is_keyed(db_url: str) -> None:
    _with_long_history(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE rhythm.promises SET state = 'pending' "
                     "WHERE execution_id = 'w' AND promise_id = 7")
    rows = _generic_plan_rows(db_url, "settle_parents",
                              {"ids": ["t7"], "now": datetime.now(UTC)})
    assert rows < 50, f"settle_parents read {rows} rows for one finished task"


def _commit(n: int, workflow: str, task: str | None) -> dict[str, Any]:
    """One element of a commit_activations batch: a resumed activation (``task`` set:
    the task's outcome) that saves a snapshot and requests nothing."""
    now = datetime.now(UTC).isoformat()
    return {
        "n": n, "id": workflow, "part": 0, "token": 1, "now": now, "status": "suspended",
        "result": None,
        "error": None, "rows": [], "consumed": [],
        "effects": [], "default_queue": "default", "save": True, "snapshot": {},
        "next_promise_id": 2, "waiting_on": 1, "refs": [1], "wake_seq": 0,
        "cancel_delivered": False, "worker": "w1", "lease_until": now,
        "local_queues": ["default"], "task_id": task, "task_token": 1 if task else None,
        "task_status": "completed" if task else None, "task_result": "1" if task else None,
        "task_error": None,
    }


def test_a_batch_commit_is_keyed_whatever_the_running_rows(db_url: str) -> None:
    """commit_activations locks and writes each element's workflow and task by key (and
    an ending one's snapshot and waits): not a scan of the index of running rows (stale
    statistics say there are none), nor of a table (the planner guesses 100 elements for
    any JSON array)."""
    workflows = ("INSERT INTO rhythm.executions (id, kind, name, status, claim_token)"
                 " SELECT 'w' || g, 'workflow', 'loop', 'suspended', 1"
                 " FROM generate_series(%(first)s::int, %(last)s::int) g")
    tasks = ("INSERT INTO rhythm.executions (id, kind, name, status, claim_token, parent_id,"
             " parent_promise, lease_expires_at)"
             " SELECT 't' || g, 'task', 'noop', 'running', 1, 'w' || g, 1, now()"
             " FROM generate_series(%(first)s::int, %(last)s::int) g")
    with psycopg.connect(db_url, autocommit=True) as conn:
        for first, last in ((1, 2), (3, HISTORY)):  # analysed with two running tasks
            conn.execute(workflows, {"first": first, "last": last})
            conn.execute(tasks, {"first": first, "last": last})
            if last == 2:
                conn.execute("ANALYZE rhythm.executions")
    ending = {**_commit(3, "w10", "t10"), "status": "completed", "result": "1",
              "save": False, "snapshot": None}
    batch = [_commit(0, "w7", "t7"), _commit(1, "w8", "t8"), _commit(2, "w9", None), ending]
    rows = _generic_plan_rows(db_url, "commit_activations", {"batch": json.dumps(batch)})
    assert rows < 100, f"commit_activations read {rows} rows for a batch of 4"


def test_a_commit_reads_the_same_rows_whatever_the_history(db_url: str) -> None:
    """A step of a workflow with a long history, statistics up to date (autovacuum
    analysed the tables as they grew): the commit of the next activation, which ends
    nothing, must not walk the promises index to abandon the waits of no one."""
    _with_long_history(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE rhythm.executions SET claim_token = 1 WHERE id = 'w'")
        conn.execute(
            "INSERT INTO rhythm.executions (id, kind, name, status, claim_token, parent_id,"
            " parent_promise) VALUES ('t', 'task', 'noop', 'running', 1, 'w', %(n)s)",
            {"n": HISTORY})
        conn.execute("ANALYZE rhythm.executions; ANALYZE rhythm.promises")
    step = _commit(0, "w", "t")
    step["rows"] = [{"promise_id": HISTORY, "kind": "task", "target": "t",
                     "state": "resolved", "value": 1, "due_at": None, "params": {},
                     "created_ms": 1, "settled_ms": 2}]
    rows = _generic_plan_rows(db_url, "commit_activations", {"batch": json.dumps([step])})
    assert rows < 50, f"commit_activations read {rows} rows at {HISTORY} promises"


def test_the_priority_check_of_a_local_start_reads_a_few_rows(db_url: str) -> None:
    """A task started by the commit itself first checks that its queue has no ready row
    of higher priority (issue 18): one descent of the claim index, not a walk of the
    queue's many ready rows of the same priority (statistics taken while it was empty)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE rhythm.executions")
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, status, claim_token)"
                     " VALUES ('w', 'workflow', 'loop', 'running', 1)")
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, run_at)"
                     " SELECT 'q' || g, 'task', 'noop', now() FROM generate_series(1, %(n)s) g",
                     {"n": HISTORY})
    step = {**_commit(0, "w", None), "status": "suspended"}
    step["effects"] = [{"id": "t-new", "kind": "task", "name": "noop", "version": None,
                        "inputs": {}, "queue": None, "priority": 0, "max_retries": None,
                        "options": {}, "promise_id": 1, "here": True}]
    rows = _generic_plan_rows(db_url, "commit_activations", {"batch": json.dumps([step])})
    assert rows < 50, f"commit_activations read {rows} rows with {HISTORY} ready rows"


@pytest.mark.parametrize("analysed", [False, True])
def test_an_admission_reads_its_keys_rows_only(db_url: str, analysed: bool) -> None:
    """admit_waiting (per-key concurrency) with statistics taken while the table was
    empty, and with real ones (where a plain join was planned as a hash join over a scan
    of every execution): it reads the keys' index ranges and updates the admitted rows by
    key (3,000 unkeyed rows; 100 keys of 10 waiting rows)."""
    _with_long_history(db_url)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO rhythm.executions (id, kind, name, status, concurrency_key,"
            " concurrency_limit, admitted) SELECT 'k' || g, 'task', 'noop', 'pending',"
            " 'key' || (g % 100), 1, false FROM generate_series(1, 1000) g")
        if analysed:
            conn.execute("ANALYZE rhythm.executions")
    keys = [f"key{k}" for k in range(100)]
    rows = _generic_plan_rows(db_url, "admit_waiting", {
        "keys": keys, "now": datetime.now(UTC), "worker": "w1",
        "queues": ["default"], "room": 10, "lease_until": datetime.now(UTC)},
        "force_custom_plan" if analysed else "force_generic_plan")
    assert rows < 2000, f"admit_waiting read {rows} rows to admit {len(keys)} keys"
