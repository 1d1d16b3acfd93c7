"""Retention and cleanup (issue 19, docs/lifecycle.md "Retention and cleanup"): ended
executions past their retention go with everything of them, nothing live goes (a
workflow that waits loses its ended tasks and is unharmed), per-queue overrides, the dry
run, the advisory lock, the worker's cleaner and the command line with its bad input.
Rows are made by real workflows and tasks; their age is then moved back in SQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import flows_worker, one_row, running_worker, wait_for
from dbfixtures import run_cli

from rhythm.lifecycle.retention import (
    LOCK_KEY,
    NEVER,
    Filters,
    Retention,
    Summary,
    sweep,
    sweep_async,
)
from rhythm.runtime.client import Client
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q
from rhythm.store.partitions import set_layout

# A workflow with a task, a child workflow, a timer and a signal: it ends (completed) once
# it gets "go", or waits for it (suspended). Every dependent table gets rows.
PARENT = """
const a = await Task.run("add", { a: Inputs.n, b: 1 })
const c = await Workflow.run("child", { n: a })
await Timer.delay(0.01)
const s = await Signal.next("go")
return [a, c, s]
"""
CHILD = 'return await Task.run("add", { a: Inputs.n, b: 10 })\n'
FLOWS = {"parent": PARENT, "child": CHILD}
DEPENDENTS = {  # table -> its execution id column
    "snapshots": "execution_id", "promises": "execution_id", "signals": "execution_id",
    "execution_waiters": "execution_id", "execution_runs": "id", "history": "execution_id",
}


def _rows(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def _ids(url: str) -> set[str]:
    return {r[0] for r in _rows(url, "SELECT id FROM rhythm.executions")}


def _dependents(url: str) -> dict[str, dict[str, int]]:
    """Rows of each dependent table, by execution id."""
    return {table: dict(_rows(url, f"SELECT {col}, count(*) FROM rhythm.{table} GROUP BY 1"))
            for table, col in DEPENDENTS.items()}


def _age(url: str, ids: list[str], days: float) -> None:
    """Make executions look ``days`` older (created and finished then)."""
    back = timedelta(days=days)
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT id, created_at, finished_at FROM rhythm.executions"
                            " WHERE id = ANY(%s)", (ids,)).fetchall()
        for execution_id, created, finished in rows:  # (values, not arithmetic: Citus)
            conn.execute("UPDATE rhythm.executions SET created_at = %s, finished_at = %s"
                         " WHERE id = %s", (created - back, finished and finished - back,
                                            execution_id))


DEFAULTS = Retention()  # 7 days for tasks, 30 for workflows
EVERYTHING = Filters()


def _sweep(url: str, defaults: Retention = DEFAULTS, filters: Filters = EVERYTHING,
           **kwargs: Any) -> Summary:
    with psycopg.connect(url, autocommit=True) as conn:
        topology = Topology.from_row(conn.execute(Q["read_layout"]).fetchone())
        return sweep(conn, topology, datetime.now(UTC), defaults, filters, **kwargs)


def _family(url: str, root: str) -> list[str]:
    """A workflow and every execution below it (children, their tasks)."""
    family, level = [root], [root]
    while level:
        level = [r[0] for r in _rows(url, "SELECT id FROM rhythm.executions WHERE parent_id"
                                          " = ANY(%s) ORDER BY created_at", (level,))]
        family += level
    return family


@pytest.fixture
def parents(db_url: str, tmp_path: Path) -> Iterator[dict[str, list[str]]]:
    """Four parent workflows (with their tasks and children): two ended, two waiting for
    their signal; plus a failed task whose id was used twice (an earlier run in
    execution_runs) and a keyed task. Every row is then made 40 days old except the
    'new' ones. A waiter row is added to one old ended execution (waiters of an ended
    execution are normally taken when it ends: this one shows the cascade)."""
    with flows_worker(db_url, tmp_path, FLOWS, concurrency=4), Client(db_url) as client:
        runs = {name: client.start("parent", {"n": i}, id=name)
                for i, name in enumerate(["old-done", "new-done", "old-live", "new-live"])}
        for name in ("old-done", "new-done"):
            client.signal(name, "go", "yes")
        for i, name in enumerate(["old-done", "new-done"]):
            assert runs[name].result(timeout=30) == [i + 1, i + 11, "yes"]
        for name in ("old-live", "new-live"):
            wait_for(lambda n=name: client.get(n)["status"] == "suspended"  # type: ignore
                     and _rows(db_url, "SELECT 1 FROM rhythm.promises WHERE execution_id = %s"
                               " AND kind = 'signal'", (n,)), what=f"{name} to wait")
        client.queue_task("bad_value", {"key": "x"}, id="old-failed")
        wait_for(lambda: client.get("old-failed")["status"] == "failed")
        client.queue_task("bad_value", {"key": "x"}, id="old-failed")  # run 2
        wait_for(lambda: client.get("old-failed")["status"] == "failed"
                 and client.get("old-failed")["run_no"] == 2)
        keyed = client.queue_task("add", {"a": 1, "b": 2}, idempotency_key="k-1")
        assert keyed.result(timeout=30) == 3
    groups = {name: _family(db_url, name) for name in runs}
    groups["old-failed"] = ["old-failed"]
    groups["old-keyed"] = [keyed.id]
    old = [i for name, ids in groups.items() if name.startswith("old") for i in ids]
    _age(db_url, old, 40)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO rhythm.execution_waiters SELECT part, id, part, 'w-x', 1,"
                     " created_at FROM rhythm.executions WHERE id = 'old-done'")
    yield groups


def test_cleanup_deletes_only_ended_executions_past_retention_with_all_their_rows(
    db_url: str, parents: dict[str, list[str]]
) -> None:
    before = _dependents(db_url)
    gone = [*parents["old-done"], *parents["old-failed"], *parents["old-keyed"],
            *parents["old-live"][1:]]  # (the tasks and child of a live workflow too)
    for table in ("promises", "signals", "execution_waiters", "execution_runs"):
        assert any(i in before[table] for i in gone), table  # something to delete in each
    assert "old-live" in before["snapshots"]  # (an ended workflow has none left)
    summary = _sweep(db_url)
    assert summary.total == len(gone) and not summary.busy
    assert summary.counts == {("workflow", "completed"): 3, ("task", "completed"): 5,
                              ("task", "failed"): 1}
    kept = _ids(db_url)
    assert kept.isdisjoint(gone)
    for name in ("new-done", "new-live"):
        assert set(parents[name]) <= kept, name
    assert "old-live" in kept and "old-live" in _dependents(db_url)["snapshots"]
    after = _dependents(db_url)
    for table in DEPENDENTS:
        assert not set(after[table]) & set(gone), table
        assert after[table] == {i: n for i, n in before[table].items() if i not in gone}, table
    assert _sweep(db_url).total == 0  # nothing more is due


def test_the_live_workflow_goes_once_it_ends_and_its_retention_passes(
    db_url: str, tmp_path: Path, parents: dict[str, list[str]]
) -> None:
    _sweep(db_url)  # its old tasks and child go while it waits (their outcome is its own)
    assert _ids(db_url) & set(parents["old-live"]) == {"old-live"}
    with flows_worker(db_url, tmp_path, FLOWS), Client(db_url) as client:
        client.signal("old-live", "go", "late")
        assert client.run("old-live").result(timeout=30) == [3, 13, "late"]  # unharmed
    assert _sweep(db_url).total == 0  # it just ended
    _age(db_url, ["old-live"], 31)
    assert _sweep(db_url).total == 1
    assert "old-live" not in _ids(db_url)


def test_a_cleaned_idempotency_key_and_id_can_be_used_again(
    db_url: str, parents: dict[str, list[str]]
) -> None:
    _sweep(db_url)
    with running_worker(db_url), Client(db_url) as client:
        again = client.queue_task("add", {"a": 5, "b": 5}, idempotency_key="k-1")
        assert again.result(timeout=30) == 10  # a new execution, not the old result (3)
        assert client.get(again.id)["run_no"] == 1
        assert one_row(db_url, "SELECT count(*) FROM rhythm.executions"
                               " WHERE idempotency_key = 'k-1'") == (1,)
        fresh = client.queue_task("add", {"a": 1}, id="old-failed")  # the id is free too
        assert fresh.result(timeout=30) == 1


def test_per_queue_retention_and_defaults(db_url: str, client: Client) -> None:
    for queue in ("short", "long", "keep", "default"):
        for i in range(2):
            client.queue_task("add", {"a": i}, id=f"{queue}-{i}", queue=queue)
    with running_worker(db_url, queues=("short", "long", "keep", "default")):
        wait_for(lambda: one_row(db_url, "SELECT count(*) FROM rhythm.executions"
                                 " WHERE status = 'completed'") == (8,))
    _age(db_url, sorted(_ids(db_url)), 3)  # three days old
    code = run_cli("queue", "set", "short", "--task-retention", "2d", "--database-url", db_url)
    assert code.returncode == 0, code.stderr
    assert code.stdout == ("queue short: running, rate limit none, retention tasks 2d, "
                           "workflows default\n")
    assert run_cli("queue", "set", "long", "--task-retention", "4d", "--workflow-retention",
                   "1d", "--database-url", db_url).returncode == 0
    assert run_cli("queue", "set", "keep", "--task-retention", "never",
                   "--database-url", db_url).returncode == 0
    listed = json.loads(run_cli("queue", "list", "--json", "--database-url", db_url).stdout)
    retention = {q["name"]: (q["task_retention_s"], q["workflow_retention_s"])
                 for q in listed["queues"] if q["name"] != "metered"}
    assert retention == {"short": (172_800, None), "long": (345_600, 86_400),
                         "keep": (NEVER, None), "default": (None, None)}
    assert _sweep(db_url).total == 2  # short only: the others are kept 4 days, never, 7 days
    assert not _ids(db_url) & {"short-0", "short-1"}
    assert _sweep(db_url, Retention(tasks_s=86_400)).total == 2  # default 1 day: 'default'
    assert _ids(db_url) == {"long-0", "long-1", "keep-0", "keep-1"}
    assert _sweep(db_url, filters=Filters(older_than_s=0, queue="keep")).total == 2  # forced
    out = run_cli("queue", "set", "long", "--task-retention", "default",
                  "--database-url", db_url)
    assert out.stdout == ("queue long: running, rate limit none, retention tasks default, "
                          "workflows 1d\n")
    assert _sweep(db_url, Retention(tasks_s=86_400)).total == 2
    assert _ids(db_url) == set()


def test_filters_and_the_dry_run_count_right_and_delete_nothing(
    db_url: str, parents: dict[str, list[str]]
) -> None:
    everything = _ids(db_url)
    dry = _sweep(db_url, dry_run=True)
    assert dry.counts == {("workflow", "completed"): 3, ("task", "completed"): 5,
                          ("task", "failed"): 1}
    assert _ids(db_url) == everything
    small = _sweep(db_url, dry_run=True, limit=1)  # paged one by one: the same counts
    assert small.counts == dry.counts
    # --older-than 0 takes every ended execution (but a workflow whose child still runs)
    assert _sweep(db_url, filters=Filters(older_than_s=0, kind="workflow"),
                  dry_run=True).counts == {("workflow", "completed"): 6}
    assert _sweep(db_url, filters=Filters(statuses=("failed",)),
                  dry_run=True).counts == {("task", "failed"): 1}
    assert _sweep(db_url, filters=Filters(name="add", older_than_s=0),
                  dry_run=True).counts == {("task", "completed"): 9}
    out = run_cli("cleanup", "--dry-run", "--json", "--database-url", db_url)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"would_delete": 9, "by_kind_status": [
        {"kind": "task", "status": "completed", "count": 5},
        {"kind": "task", "status": "failed", "count": 1},
        {"kind": "workflow", "status": "completed", "count": 3}]}
    assert _ids(db_url) == everything
    out = run_cli("cleanup", "--status", "failed", "--database-url", db_url)
    assert (out.returncode, out.stdout) == (0, "deleted 1 execution (1 task failed)\n")
    out = run_cli("cleanup", "--older-than", "0", "--kind", "task", "--queue", "default",
                  "--database-url", db_url)
    assert (out.returncode, out.stdout) == (0, "deleted 9 executions (9 task completed)\n")
    tasks = {i for ids in parents.values() for i in ids if i.startswith("t-")}
    assert len(tasks) == 9
    assert _ids(db_url) == everything - {"old-failed", *parents["old-keyed"], *tasks}


def test_cleaner_counts_in_every_partition(db_url: str, client: Client) -> None:
    set_layout(db_url, 4, citus=False)
    with Client(db_url) as four:
        for i in range(40):
            four.queue_task("add", {"a": i}, id=f"p-{i}")
    with running_worker(db_url):
        wait_for(lambda: one_row(db_url, "SELECT count(DISTINCT part) FILTER (WHERE status ="
                                 " 'completed'), count(*) FILTER (WHERE status = "
                                 "'completed') FROM rhythm.executions") == (4, 40))
    _age(db_url, sorted(_ids(db_url)), 8)
    assert _sweep(db_url, limit=3).total == 40  # many short batches, every partition
    assert _ids(db_url) == set()


def test_two_cleaners_never_work_at_once(db_url: str, parents: dict[str, list[str]]) -> None:
    everything = _ids(db_url)
    with psycopg.connect(db_url) as holder:  # another cleaner, in the middle of a batch
        assert holder.execute(Q["cleanup_lock"], {"key": LOCK_KEY}).fetchone() == (True,)
        busy = _sweep(db_url, wait_s=0.6)
        assert busy.busy and busy.total == 0
        assert _ids(db_url) == everything
        out = run_cli("cleanup", "--wait", "0.5", "--database-url", db_url)
        assert out.returncode == 1 and "another cleaner" in out.stderr, out.stderr
        holder.rollback()  # its batch ends: the next one may run
    assert _sweep(db_url).total == 9


def test_the_workers_cleaner_deletes_on_its_interval(
    db_url: str, parents: dict[str, list[str]]
) -> None:
    with running_worker(db_url, cleanup_interval=0.2) as worker:
        wait_for(lambda: worker.cleaner.deleted == 9, timeout=20, what="the cleaner's pass")
        assert worker.cleaner.passes >= 1
    assert not _ids(db_url) & set(parents["old-done"])


def test_async_sweep_with_a_policy_that_keeps_everything(
    db_url: str, parents: dict[str, list[str]]
) -> None:
    async def go() -> Summary:
        async with await psycopg.AsyncConnection.connect(db_url, autocommit=True) as conn:
            return await sweep_async(conn, Topology.from_row(
                await (await conn.execute(Q["read_layout"])).fetchone()),
                datetime.now(UTC), Retention(tasks_s=NEVER, workflows_s=NEVER))

    assert asyncio.run(go()).total == 0


@pytest.mark.parametrize("args, message", [
    (["cleanup", "--older-than", "-1d"], "'--older-than': cannot be negative"),
    (["cleanup", "--older-than", "seven days"], "'--older-than': \"seven days\" is malformed"),
    (["cleanup", "--older-than", "never"], "'--older-than': must be a duration"),
    (["cleanup", "--status", "running"], "'--status': 'running' is not one of"),
    (["cleanup", "--kind", "job"], "'--kind': 'job' is not one of"),
    (["queue", "set", "q", "--task-retention", "-3d"], "'--task-retention': cannot be negative"),
    (["queue", "set", "q", "--workflow-retention", "3 weeks"],
     "'--workflow-retention': \"3 weeks\" is malformed"),
    (["worker", "--cleanup-interval", "0"], "'--cleanup-interval': must be longer than 0"),
    (["worker", "--cleanup-interval", "-5m"], "'--cleanup-interval': cannot be negative"),
])
def test_bad_options_are_one_line_naming_the_option_and_write_nothing(
    db_url: str, args: list[str], message: str
) -> None:
    out = run_cli(*args, "--database-url", db_url)
    assert out.returncode == 2, out
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert _rows(db_url, "SELECT * FROM rhythm.queues") == []


@pytest.mark.parametrize("toml, message", [
    ('[retention]\ntasks = "-7d"\n', "retention.tasks cannot be negative"),
    ('[retention]\nworkflows = "a month"\n', 'retention.workflows "a month" is malformed'),
    ('[retention]\nweeks = 3\n', "retention: unknown key 'weeks'"),
    ('[queues.q]\ntask_retention = "-1s"\n', "queues.q.task_retention cannot be negative"),
])
def test_bad_project_file_values_are_one_line(
    db_url: str, tmp_path: Path, toml: str, message: str
) -> None:
    (tmp_path / "rhythm.toml").write_text(toml)
    command = ["queue", "set"] if "queues" in toml else ["cleanup"]
    out = run_cli(*command, "--database-url", db_url, home=tmp_path)
    assert out.returncode == 3, out
    assert out.stderr.count("\n") == 1 and message in out.stderr, out.stderr
    assert _rows(db_url, "SELECT * FROM rhythm.queues") == []


def test_project_file_retention_is_applied(
    db_url: str, tmp_path: Path, parents: dict[str, list[str]]
) -> None:
    (tmp_path / "rhythm.toml").write_text(
        '[retention]\ntasks = "60d"\nworkflows = "never"\n'
        '[queues.default]\ntask_retention = "30d"\n')
    out = run_cli("cleanup", "--dry-run", "--database-url", db_url, home=tmp_path)
    assert out.stdout == "would delete 0 executions\n", out.stderr
    out = run_cli("queue", "set", "--database-url", db_url, home=tmp_path)
    assert out.returncode == 0, out.stderr
    out = run_cli("cleanup", "--database-url", db_url, home=tmp_path)
    assert out.stdout == "deleted 6 executions (5 task completed, 1 task failed)\n", out.stderr


def _scans(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every (node type, relation, index) of a JSON plan."""
    found = [(plan["Node Type"], plan.get("Relation Name", ""), plan.get("Index Name", ""))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def test_a_batch_reads_its_candidates_by_index_at_60000_rows(db_url: str) -> None:
    """Plan check (docs/internals/plans.md): 60,000 executions, a tenth of them live
    workflows with ended children; a batch's candidates come from executions_created and
    probes by key, never a scan of executions (an anti-join over every live row was the
    first plan of the live-child check), and its delete finds its rows by id."""
    now = datetime.now(UTC)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO rhythm.executions (id, kind, name, status, created_at, finished_at,"
            " part, parent_id, parent_promise) SELECT 'e' || i, CASE WHEN i %% 5 = 0 THEN"
            " 'workflow' ELSE 'task' END, 'add', CASE WHEN i %% 10 = 0 THEN 'suspended' ELSE"
            " 'completed' END, %(now)s - i * interval '1 minute', CASE WHEN i %% 10 <> 0 THEN"
            " %(now)s - i * interval '1 minute' + interval '1 second' END, 0,"
            " CASE WHEN i %% 5 <> 0 THEN 'e' || (i - i %% 5) END,"
            " CASE WHEN i %% 5 <> 0 THEN i END"
            " FROM generate_series(1, 60000) i", {"now": now})
        conn.execute("ANALYZE rhythm.executions")
        params = {"part": 0, "now": now, "created_before": now - timedelta(days=7),
                  "after": datetime(1, 1, 1, tzinfo=UTC), "after_id": "", "limit": 500,
                  "older_than_s": None, "task_s": 7 * 86_400, "workflow_s": 30 * 86_400,
                  "kind": None, "statuses": None, "queue": None, "name": None}
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + Q["cleanup_candidates"], params
                            ).fetchone()[0][0]["Plan"]  # type: ignore[index]
        scans = _scans(plan)
        assert ("Index Scan", "executions", "executions_created") in scans, scans
        assert not [s for s in scans if s[0] == "Seq Scan" and s[1] == "executions"], scans
        rows = conn.execute(Q["cleanup_candidates"], params).fetchall()
        assert len(rows) == 500
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + Q["cleanup_delete"], {
            "part": 0, "ids": [r[0] for r in rows], "run_nos": [r[3] for r in rows],
            "finished": [r[4] for r in rows]}).fetchone()[0][0]["Plan"]  # type: ignore[index]
        assert not [s for s in _scans(plan) if s[0] == "Seq Scan" and s[1] == "executions"]
