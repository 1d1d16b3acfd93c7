"""Throughput of no-op tasks through one worker process (enqueue, claim, run, record).

    .venv/bin/python benchmarks/runtime_noop_tasks.py [--tasks N] [--concurrency C] [--async]

Uses RHYTHM_DATABASE_URL, else the embedded server (migrated first). The rows it
creates (task name ``bench_noop``/``bench_noop_async``) are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psycopg

import rhythm
from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker
from rhythm.store import database_url
from rhythm.store.migrations import migrate


@rhythm.task
def bench_noop(i: int) -> int:
    return i


@rhythm.task
async def bench_noop_async(i: int) -> int:
    return i


async def drain(url: str, total: int, concurrency: int) -> float:
    worker = Worker(url, concurrency=concurrency, poll_interval=1.0)
    started = time.perf_counter()
    runner = asyncio.create_task(worker.run())
    while worker.recorded < total:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    worker.stop()
    await runner
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--async", dest="use_async", action="store_true")
    args = parser.parse_args()
    url = database_url()
    migrate(url)
    name = "bench_noop_async" if args.use_async else "bench_noop"
    client = Client(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:  # one transaction for the whole enqueue
        for i in range(args.tasks):
            client.queue_task(name, {"i": i}, connection=conn)
    enqueue_s = time.perf_counter() - started
    run_s = asyncio.run(drain(url, args.tasks, args.concurrency))
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM rhythm.executions WHERE name = %s", (name,))
    print(f"enqueue: {args.tasks} tasks in {enqueue_s:.2f}s "
          f"({args.tasks / enqueue_s:,.0f}/s, one client call each, one transaction)")
    print(f"worker:  {args.tasks} {'async' if args.use_async else 'sync'} no-op tasks in "
          f"{run_s:.2f}s ({args.tasks / run_s:,.0f}/s, concurrency {args.concurrency})")


if __name__ == "__main__":
    main()
