"""Smoke tests of ``rhythm bench`` with tiny N: each sub-benchmark runs end to end on a
real server (fresh database per run, a real worker process) and reports sane figures.
Nothing here is timed: speed is measured by the benchmark itself, not by tests."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from dbfixtures import SessionServer, run_cli

from rhythm.bench.availability import workflows_missing

needs_workflows = pytest.mark.skipif(
    workflows_missing() is not None, reason="workflows on Postgres are not built yet")


def bench(server: SessionServer, *args: str) -> dict[str, Any]:
    done = run_cli("bench", *args, "--json", "--no-progress", "--runs", "1",
                   "--database-url", server.admin_url, timeout=300)
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    assert report["server"]["synchronous_commit"]
    return report


def values(report: dict[str, Any]) -> dict[str, float]:
    return {f["name"]: f["value"] for f in report["figures"]}


def leftover_bench_databases(server: SessionServer) -> list[str]:
    from rhythm.store.connect import connect

    with connect(server.admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'rhythm_bench_%'")
        return [r[0] for r in rows]


def test_tasks_drains_every_task(pg_server: SessionServer) -> None:
    before = set(leftover_bench_databases(pg_server))
    got = values(bench(pg_server, "tasks", "-n", "30"))
    assert got["no-op sync tasks drained, 1 worker process"] > 0
    assert got["enqueue (Client.queue_task, one transaction)"] > 0
    assert _all_dropped_but(pg_server, before)  # its database was dropped


def test_enqueue_queues_every_task_in_one_call(pg_server: SessionServer) -> None:
    got = values(bench(pg_server, "enqueue", "-n", "50"))
    assert got["bulk enqueue (Client.queue_tasks, one call)"] > 0


def _all_dropped_but(server: SessionServer, before: set[str], timeout: float = 120.0) -> bool:
    """Every bench database but those in ``before`` is gone, soon: a bench test running
    alongside (``pytest -n``) on the same server may hold one of its own for a while, but
    a database that is never dropped stays."""
    deadline = time.monotonic() + timeout
    while set(leftover_bench_databases(server)) - before:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_claim_reports_percentiles_and_ratio(pg_server: SessionServer) -> None:
    got = values(bench(pg_server, "claim", "--size", "20", "--size", "200", "--samples", "5"))
    for stats in ("stale stats", "analyzed"):
        p50, p99 = got[f"claim 1, 200 ready, {stats} p50"], got[f"claim 1, 200 ready, {stats} p99"]
        assert 0 < p50 <= p99
        assert got[f"claim p50 ratio 200/20, {stats}"] > 0


@needs_workflows
def test_workflows_and_latency(pg_server: SessionServer) -> None:
    got = values(bench(pg_server, "workflows", "-w", "3", "--steps", "2"))
    assert got["workflow steps (2-step workflows), 1 worker process"] > 0
    got = values(bench(pg_server, "latency", "--samples", "3", "--chains", "2", "--steps", "3"))
    assert 0 < got["enqueue -> task start p50"] <= got["enqueue -> task start p99"]
    assert got["task end -> next step start p50"] > 0


@needs_workflows
def test_resume_samples_each_checkpoint(pg_server: SessionServer) -> None:
    report = bench(pg_server, "resume", "--at", "6", "--at", "40")
    got = values(report)
    assert got["per-step time at iteration 40"] > 0
    assert got["snapshot size at iteration 6"] > 0 and got["snapshot size at iteration 40"] > 0


def test_unreachable_server_is_one_line_error() -> None:
    done = run_cli("bench", "tasks", "-n", "1", "--no-progress", "--database-url",
                   "postgresql://nobody@127.0.0.1:1/x", timeout=60)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "cannot connect" in done.stderr
