"""Cleanup during a crash test (issue 19): worker processes run workflows with tasks,
timers, a child workflow and a keyed task shared between workflows, while every worker's
cleaner runs every 50 ms with a retention of 0 (every ended execution goes at once), and
workers are SIGKILLed and restarted. Every workflow still ends with its right result,
and every transactional effect exists exactly once: the cleaner never took anything a
live workflow needed (its ended tasks and children go at once, and it does not mind).
(Results are written by the workflow's last task: the workflow's own row is gone soon
after it ends.)"""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from conftest import spawn_worker, stop_workers, wait_for
from dbfixtures import run_cli

from rhythm.runtime.client import Client

LOOPER = """
const a = await Task.run("sleep_then_log", { key: Inputs.key + ":a", seconds: 0.02 })
await Timer.delay(0.05)
const c = await Workflow.run("leaf", { key: Inputs.key })
const both = await Promise.all([
  Task.run("log_once_async", { key: Inputs.key + ":b" }),
  Task.run("add", { a: Inputs.n % 3 }, { idempotencyKey: "shared-" + (Inputs.n % 3) }),
  Timer.delay(0.02),
])
const result = a + "|" + c + "|" + both[0] + "|" + both[1]
await Task.run("log_once", { key: Inputs.key + ":result:" + result })
return 1
"""
LEAF = 'return await Task.run("log_once_async", { key: Inputs.key + ":leaf" })\n'
WAVES, PER_WAVE = 6, 10
ARGS = ("--poll", "0.2", "--concurrency", "8", "--grace", "0", "--lease", "1",
        "--cleanup-interval", "0.05")


def _worker(url: str, flows: Path) -> subprocess.Popen[str]:
    """A worker process whose output goes to a file of its own (read when the test fails)."""
    with (flows / f"worker-{time.monotonic_ns()}.log").open("w") as log:
        return spawn_worker(url, "--flows", str(flows), *ARGS, log=log)


def _scalar(url: str, sql: str, params: object = None) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0


def _overlap(url: str, started: int) -> bool:
    """Are some workflows running while others of the ``started`` are deleted already?"""
    return _scalar(url, "SELECT count(*) FILTER (WHERE status IN ('pending', 'running',"
                   " 'suspended')) > 0 AND count(*) < %s FROM rhythm.executions"
                   " WHERE id LIKE 'loop-%%'", (started,)) > 0


def _expected(n: int) -> set[str]:
    k = f"k{n}"
    return {f"{k}:a", f"{k}:leaf", f"{k}:b", f"{k}:result:{k}:a|{k}:leaf|{k}:b|{n % 3}"}


def _census(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT kind, status, count(*) FROM rhythm.executions GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()]


@pytest.mark.slow
def test_an_aggressive_cleaner_during_worker_kills_takes_nothing_live(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "looper.flow").write_text(LOOPER)
    (tmp_path / "leaf.flow").write_text(LEAF)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.task_log (key text NOT NULL)")
    out = run_cli("queue", "set", "default", "--task-retention", "0", "--workflow-retention",
                  "0", "--database-url", db_url)
    assert out.returncode == 0, out.stderr
    procs = [_worker(db_url, tmp_path) for _ in range(2)]
    rng = random.Random(19)
    hits = 0
    overlaps = 0  # waves at whose end some workflows were deleted while others ran
    try:
        wait_for(lambda: _scalar(db_url, "SELECT count(*) FROM rhythm.workflow_versions") == 2,
                 timeout=30, what="the flows to be registered")
        with Client(db_url) as client:
            for wave in range(WAVES):
                for n in range(wave * PER_WAVE, (wave + 1) * PER_WAVE):
                    client.start("looper", {"key": f"k{n}", "n": n}, id=f"loop-{n}")
                time.sleep(rng.uniform(0.1, 0.4))
                overlaps += _overlap(db_url, (wave + 1) * PER_WAVE)
                victim = rng.randrange(len(procs))
                hits += _scalar(db_url, "SELECT count(*) FROM rhythm.executions WHERE status"
                                " = 'running' AND claimed_by LIKE %s",
                                (f"%:{procs[victim].pid}:%",)) > 0
                procs[victim].kill()  # SIGKILL: mid task, mid activation, mid cleanup
                procs[victim].communicate()
                procs[victim] = _worker(db_url, tmp_path)
        total = WAVES * PER_WAVE
        try:
            def all_results() -> bool:
                nonlocal overlaps
                overlaps += _overlap(db_url, total)
                return _scalar(db_url, "SELECT count(*) FROM public.task_log WHERE key"
                               " LIKE '%:result:%'") >= total

            wait_for(all_results, timeout=120, what="every workflow's result")
            # everything has ended: the cleaners delete it all
            wait_for(lambda: _scalar(db_url, "SELECT count(*) FROM rhythm.executions") == 0,
                     timeout=30, what="the cleaners to delete every ended execution")
        except AssertionError as err:
            with psycopg.connect(db_url, autocommit=True) as conn:
                have = {r[0] for r in conn.execute("SELECT key FROM public.task_log")}
            missing = sorted(set().union(*(_expected(n) for n in range(total))) - have)
            logs = "".join(line for f in sorted(tmp_path.glob("worker-*.log"))
                           for line in f.read_text().splitlines(keepends=True)
                           if "ERROR" in line or "WARNING" in line or "Error" in line)
            raise AssertionError(f"{err}: {_census(db_url)}; missing {missing[:12]}\n"
                                 f"{logs[-6000:]}") from None
    finally:
        stop_workers(procs)
    assert hits > 0, "no kill hit a worker with work in flight: the test proved nothing"
    assert overlaps > 0, "nothing was deleted while workflows ran: the test proved nothing"
    with psycopg.connect(db_url, autocommit=True) as conn:
        logged = conn.execute("SELECT key, count(*) FROM public.task_log GROUP BY key"
                              ).fetchall()
        left = {t: conn.execute(f"SELECT count(*) FROM rhythm.{t}").fetchone()
                for t in ("promises", "snapshots", "signals", "execution_waiters",
                          "execution_runs")}
    assert {k for k, _ in logged} == set().union(*(_expected(n) for n in range(total)))
    assert {n for _, n in logged} == {1}, [k for k, n in logged if n != 1][:10]
    assert all(row == (0,) for row in left.values()), left
