"""Crash tests with real processes: workers killed with SIGKILL at random points while
200 workflows run, and a Postgres restart during a run. Afterwards every workflow has its
right result, no workflow effect exists twice, and transactional task writes (the
``task_log`` table) happened exactly once each."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import spawn_worker, stop_workers, wait_for

from rhythm.runtime.client import Client

CRASHY = """
const a = await Task.run("sleep_then_log", { key: Inputs.key + ":a", seconds: 0.02 })
await Timer.delay(0.05)
const parts = await Promise.all([
  Task.run("sleep_then_log", { key: Inputs.key + ":b", seconds: 0.01 }),
  Task.run("log_once_async", { key: Inputs.key + ":c" }),
])
return [a, parts[0], parts[1]]
"""
WORKER_ARGS = ("--poll", "0.2", "--concurrency", "16", "--grace", "0")


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    (tmp_path / "crashy.flow").write_text(CRASHY)
    return tmp_path


@pytest.fixture
def lease() -> float:
    """The workers' lease (seconds): short, so a killed worker's work comes back soon.
    (The Citus tier's is longer: tests/db/citus/test_citus_crashes.py says why.)"""
    return 1


@pytest.fixture
def settle() -> float:
    """Seconds for all 200 workflows to end after the last kill (longer on Citus)."""
    return 90


def _workers(url: str, flows: Path, count: int, lease: float = 1
             ) -> list[subprocess.Popen[str]]:
    return [spawn_worker(url, "--flows", str(flows), "--lease", str(lease), *WORKER_ARGS)
            for _ in range(count)]


def _start_all(url: str, count: int, first: int = 0) -> list[str]:
    with Client(url) as client:
        wait_for(lambda: _registered(url), timeout=30, what="crashy to be registered")
        return [client.start("crashy", {"key": f"k{i}"}, id=f"crash-{i}").id
                for i in range(first, first + count)]


def _interrupted(url: str) -> int:
    """Executions whose lease was lost at least once: work a kill really interrupted."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM rhythm.executions WHERE lease_losses > 0"
                           ).fetchone()
    return int(row[0]) if row else 0


def _registered(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM rhythm.workflow_versions WHERE name = 'crashy'"
                            ).fetchone() is not None


def _census(url: str) -> list[tuple[Any, ...]]:
    """Executions by kind and status, then the errors of the first failed ones: what a
    failed wait prints."""
    with psycopg.connect(url, autocommit=True) as conn:
        counts = conn.execute("SELECT kind, status, count(*) FROM rhythm.executions "
                              "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        failed = conn.execute("SELECT id, error FROM rhythm.executions WHERE status = "
                              "'failed' ORDER BY id LIMIT 3").fetchall()
    return [*counts, *failed]


def _all_done(url: str, ids: list[str]) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM rhythm.executions WHERE id = ANY(%s) "
                           "AND status = 'completed'", (ids,)).fetchone()
    return bool(row and row[0] == len(ids))


def _check_exactly_once(url: str, ids: list[str]) -> None:
    with Client(url) as client:
        for i, execution_id in enumerate(ids):
            row = client.get(execution_id)
            assert row["status"] == "completed", row
            assert row["result"] == [f"k{i}:a", f"k{i}:b", f"k{i}:c"]
    with psycopg.connect(url, autocommit=True) as conn:
        per_parent = conn.execute(
            "SELECT parent_id, count(*) FROM rhythm.executions WHERE parent_id = ANY(%s) "
            "GROUP BY parent_id", (ids,)).fetchall()
        assert sorted(n for _, n in per_parent) == [3] * len(ids)  # no effect duplicated
        logged = conn.execute(
            "SELECT key, count(*) FROM public.task_log GROUP BY key").fetchall()
    assert len(logged) == 3 * len(ids)
    assert {n for _, n in logged} == {1}, [k for k, n in logged if n != 1][:10]


def _make_task_log(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.task_log (key text NOT NULL)")


@pytest.mark.slow
def test_sigkill_workers_at_random_while_200_workflows_run(
    db_url: str, flows: Path, lease: float, settle: float
) -> None:
    _make_task_log(db_url)
    procs = _workers(db_url, flows, 2, lease)
    rng = random.Random(5)
    ids: list[str] = []
    try:
        # Work arrives in waves and a worker is killed during each wave, so every kill
        # lands while workflows are in flight, however fast the runtime has become.
        for wave in range(8):
            ids += _start_all(db_url, 25, first=25 * wave)
            time.sleep(rng.uniform(0.05, 0.3))
            victim = rng.randrange(len(procs))
            procs[victim].kill()  # SIGKILL: mid task, mid activation or mid commit
            procs[victim].communicate()
            procs[victim] = _workers(db_url, flows, 1, lease)[0]
        try:
            wait_for(lambda: _all_done(db_url, ids), timeout=settle, what="all 200 workflows")
        except AssertionError as err:
            raise AssertionError(f"{err}: {_census(db_url)}") from None
    finally:
        stop_workers(procs)
    assert _interrupted(db_url) > 0, "no kill interrupted any work: the test proved nothing"
    _check_exactly_once(db_url, ids)


@pytest.mark.slow
def test_workers_reconnect_after_a_postgres_restart(private_server, flows: Path) -> None:
    url = private_server.url
    _make_task_log(url)
    procs = _workers(url, flows, 1)
    try:
        ids = _start_all(url, 40)
        time.sleep(0.3)
        private_server.stop()
        time.sleep(1.5)  # down across several heartbeats: they must survive it
        private_server.start()
        try:
            # (generous: psycopg_pool doubles its reconnect delay - 1, 2, 4, 8, 16 s - while
            # the server is down, so under a loaded CI a transactional task's connection
            # can take ~30 s to come back, and the task runs again after that)
            wait_for(lambda: _all_done(url, ids), timeout=150, what="workflows after restart")
        except AssertionError as err:
            census = _census(url)
            for proc in procs:
                proc.kill()
            logs = "".join(proc.communicate()[1][-3000:] for proc in procs)
            raise AssertionError(f"{err}: {census}\n{logs}") from None
    finally:
        stop_workers(procs)
    _check_exactly_once(url, ids)
