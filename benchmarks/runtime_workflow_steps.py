"""Workflow steps through one worker: throughput, and task end -> next step start latency.

    .venv/bin/python benchmarks/runtime_workflow_steps.py [--workflows N] [--steps K]
                                                           [--concurrency C]

Each workflow awaits K no-op async tasks in sequence (one step = one task + one
activation). Latency is measured from the database's own timestamps (same clock): a
task's ``finished_at`` to the ``started_at`` of the next task of the same workflow, i.e.
record -> wake parent -> claim -> activation commit -> claim of the next task.
Uses RHYTHM_DATABASE_URL, else the embedded server (migrated first); its rows are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
import uuid

import psycopg

import rhythm
from rhythm.runtime.client import Client
from rhythm.runtime.versions import WorkflowVersions
from rhythm.runtime.worker import Worker
from rhythm.store import database_url
from rhythm.store.migrations import migrate

FLOW = """
let i = 0
while (i < Inputs.steps) {
  await Task.run("bench_step", { i: i })
  i = i + 1
}
return i
"""


@rhythm.task
async def bench_step(i: int) -> int:
    return i


async def drain(url: str, versions: WorkflowVersions, ids: list[str], concurrency: int,
                client: Client) -> float:
    worker = Worker(url, versions=versions, concurrency=concurrency, poll_interval=1.0)
    runner = asyncio.create_task(worker.run())
    while not worker.registered.is_set():
        await asyncio.sleep(0.01)
    with psycopg.connect(url) as conn:  # start all in one transaction
        for execution_id in ids:
            client.start("bench_steps", {"steps": STEPS}, id=execution_id, connection=conn)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM rhythm.executions WHERE id = ANY(%s) "
                               "AND status = 'completed'", (ids,)).fetchone()
            if row and row[0] == len(ids):
                break
            await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    worker.stop()
    await runner
    return elapsed


def latencies(url: str, ids: list[str]) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT parent_id, parent_promise, started_at, finished_at FROM rhythm.executions "
            "WHERE parent_id = ANY(%s) ORDER BY parent_id, parent_promise", (ids,)).fetchall()
    gaps = []
    for before, after in itertools.pairwise(rows):
        if before[0] == after[0]:
            gaps.append((after[2] - before[3]).total_seconds() * 1000)
    return gaps


STEPS = 10


def main() -> None:
    global STEPS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    STEPS = args.steps
    url = database_url()
    migrate(url)
    versions = WorkflowVersions()
    versions.add_source(FLOW, "bench_steps.flow", "bench_steps")
    client = Client(url)
    run = uuid.uuid4().hex[:8]
    ids = [f"bench-{run}-{i}" for i in range(args.workflows)]
    elapsed = asyncio.run(drain(url, versions, ids, args.concurrency, client))
    gaps = sorted(latencies(url, ids))
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM rhythm.executions WHERE id = ANY(%s) OR parent_id = ANY(%s)",
                     (ids, ids))
    steps = args.workflows * args.steps
    print(f"{args.workflows} workflows x {args.steps} steps = {steps} steps in {elapsed:.2f}s: "
          f"{steps / elapsed:,.0f} steps/s (concurrency {args.concurrency})")
    if gaps:
        p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
        print(f"task end -> next task start: p50 {statistics.median(gaps):.1f} ms, "
              f"p99 {p99:.1f} ms ({len(gaps)} gaps)")


if __name__ == "__main__":
    main()
