"""(a) No-op task throughput: enqueue N, then ONE worker process drains them.

Per run (fresh database): N ``bench_noop`` tasks are queued through ``Client.queue_task``
in one transaction (timed separately), then a worker process is timed from just before it
starts until the N-th outcome is committed. The figure is the median over the runs.
"""

from __future__ import annotations

import time

import psycopg

from rhythm.bench.context import BenchContext
from rhythm.bench.database import run_database
from rhythm.bench.process import run_drain
from rhythm.bench.results import Figure, median_figure


def enqueue_tasks(url: str, name: str, n: int) -> float:
    """Queue ``n`` tasks in one transaction; returns the seconds it took."""
    from rhythm.runtime.client import Client

    client = Client(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for i in range(n):
            client.queue_task(name, {"i": i}, connection=conn)
    return time.perf_counter() - started


def run(ctx: BenchContext, n: int = 2000, concurrency: int = 10,
        use_async: bool = False) -> list[Figure]:
    name = "bench_noop_async" if use_async else "bench_noop"
    drained: list[float] = []
    enqueued: list[float] = []
    for _ in range(ctx.runs):
        with run_database(ctx) as url:
            enqueued.append(n / enqueue_tasks(url, name, n))
            result = run_drain(url, tasks=n, concurrency=concurrency, progress=ctx.progress)
            drained.append(n / result["seconds"])
    kind = "async" if use_async else "sync"
    return [
        median_figure("tasks", f"no-op {kind} tasks drained, 1 worker process", drained,
                      "tasks/s", f"N={n}, concurrency={concurrency}"),
        median_figure("tasks", "enqueue (Client.queue_task, one transaction)", enqueued,
                      "tasks/s", f"N={n}"),
    ]
