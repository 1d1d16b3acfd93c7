"""``rhythm bench … --citus P`` on a real Citus cluster (a coordinator and two workers of
``../shared/citus/cluster.sh``, started by this module), and the bench's own SQL over P
partitions. Nothing here is timed: the figures only have to be printed and sane.

Without Citus installed the cluster tests skip, except under CI (the ``CI`` environment
variable set), where a skip would hide that they never ran: they fail.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from citusfixtures import CITUS, require_citus
from dbfixtures import run_cli

from rhythm.bench.availability import workflows_missing
from rhythm.runtime.partitions import part_of
from rhythm.store.connect import describe

pytestmark = pytest.mark.db

@pytest.fixture(scope="module")
def coordinator() -> Iterator[str]:
    """URL of the coordinator's database of a fresh cluster, stopped after the module."""
    require_citus()
    folder = tempfile.mkdtemp(prefix="rcb-", dir="/tmp")  # short: it holds unix sockets
    cluster = ["bash", str(CITUS / "cluster.sh")]
    try:
        started = subprocess.run([*cluster, "start", folder, "2", "fsync=off"],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                 timeout=180, check=False)
        assert started.returncode == 0, started.stderr[-3000:]
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([*cluster, "stop", folder], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=120, check=False)


def bench(url: str, *args: str, runs: int = 1) -> dict[str, Any]:
    done = run_cli("bench", *args, "--json", "--no-progress", "--runs", str(runs),
                   "--database-url", url, timeout=300)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def values(report: dict[str, Any]) -> dict[str, float]:
    return {f["name"]: f["value"] for f in report["figures"]}


def scalar(url: str, sql: str) -> Any:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_tasks_on_citus_empties_the_tables_before_each_run(coordinator: str) -> None:
    report = bench(coordinator, "tasks", "-n", "40", "--citus", "4", runs=2)
    got = values(report)
    assert got["no-op sync tasks drained, 1 worker process"] > 0
    assert got["enqueue (Client.queue_task, one transaction)"] > 0
    assert report["citus"] == {"citus_version": report["citus"]["citus_version"],
                               "worker_nodes": "2", "partitions": "4"}
    # Two runs of 40 tasks, and 40 rows left: the second run started from empty tables.
    assert scalar(coordinator, "SELECT count(*) FROM rhythm.executions") == 40
    # The tables are distributed: the executions' shards are on both worker nodes.
    assert scalar(coordinator, "SELECT count(DISTINCT nodeport) FROM citus_shards "
                               "WHERE table_name = 'rhythm.executions'::regclass") == 2


def test_table_output_names_the_cluster(coordinator: str) -> None:
    done = run_cli("bench", "tasks", "-n", "10", "--runs", "1", "--no-progress",
                   "--citus", "4", "--database-url", coordinator, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "citus: " in done.stdout and "2 worker node(s), 4 partition(s)" in done.stdout
    assert "no-op sync tasks drained, 1 worker process" in done.stdout


@pytest.mark.skipif(workflows_missing() is not None, reason="workflows are not built yet")
def test_workflows_and_latency_on_citus(coordinator: str) -> None:
    got = values(bench(coordinator, "workflows", "-w", "4", "--steps", "2", "--citus", "4"))
    assert got["workflow steps (2-step workflows), 1 worker process"] > 0
    got = values(bench(coordinator, "latency", "--samples", "3", "--chains", "2",
                       "--steps", "3", "--citus", "4"))
    assert 0 < got["enqueue -> task start p50"] <= got["enqueue -> task start p99"]
    assert got["task end -> next step start p50"] > 0


def test_claim_on_citus_fills_every_partition(coordinator: str) -> None:
    got = values(bench(coordinator, "claim", "--size", "40", "--size", "80", "--samples", "8",
                       "--citus", "4"))
    assert 0 < got["claim 1, 80 ready, analyzed p50"] <= got["claim 1, 80 ready, analyzed p99"]
    # The last fill (80 rows) is left: 20 in each partition, 2 claimed from each per pass.
    with psycopg.connect(coordinator) as conn:
        rows = conn.execute("SELECT part, count(*), count(*) FILTER (WHERE status = 'running')"
                            " FROM rhythm.executions GROUP BY part ORDER BY part").fetchall()
    assert rows == [(part, 20, 4) for part in range(4)]


def test_database_without_citus_is_refused_untouched(coordinator: str) -> None:
    with psycopg.connect(coordinator, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS plain_one")
        conn.execute("CREATE DATABASE plain_one")
    plain = coordinator.replace("/postgres?", "/plain_one?")
    done = run_cli("bench", "tasks", "-n", "5", "--no-progress", "--citus", "4",
                   "--database-url", plain, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"rhythm: error: --citus: {describe(plain)} has no citus extension: give "
        "--database-url a Citus coordinator's database (where `CREATE EXTENSION citus` ran)"]
    assert scalar(plain, "SELECT count(*) FROM pg_namespace WHERE nspname = 'rhythm'") == 0


def test_other_partition_count_with_rows_is_refused(coordinator: str) -> None:
    bench(coordinator, "tasks", "-n", "5", "--citus", "4")  # leaves 5 executions
    done = run_cli("bench", "tasks", "-n", "5", "--no-progress", "--citus", "8",
                   "--database-url", coordinator, timeout=120)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert "holds executions in 4 partition(s); use --citus 4" in done.stderr
    assert scalar(coordinator, "SELECT partitions FROM rhythm.installation") == 4
    assert scalar(coordinator, "SELECT count(*) FROM rhythm.executions") == 5


def test_fill_pending_places_rows_as_the_runtime_does(db_url: str) -> None:
    """On plain Postgres with P = 4 (no Citus needed): every filled row is in the
    partition part_of gives its id, and every partition gets rows; with P = 1 the ids
    are those of the plain benchmark (``bench-<i>``, partition 0)."""
    from rhythm.bench.claim import fill
    from rhythm.store.partitions import set_layout

    fill(db_url, 3, 1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert sorted(conn.execute("SELECT id, part FROM rhythm.executions").fetchall()) == [
            ("bench-1", 0), ("bench-2", 0), ("bench-3", 0)]
        conn.execute("DELETE FROM rhythm.executions")
    set_layout(db_url, 4, citus=False)
    fill(db_url, 100, 4)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT id, part FROM rhythm.executions").fetchall()
    assert len(rows) == 100
    assert all(part == part_of(execution_id, 4) for execution_id, part in rows)
    assert {part for _, part in rows} == {0, 1, 2, 3}
