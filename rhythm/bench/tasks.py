"""(a) No-op task throughput: enqueue N, then ONE worker process drains them.

Per run (fresh database): N ``bench_noop`` tasks are queued through ``Client.queue_task``
in one transaction (timed separately), then a worker process is timed from just before it
starts until the N-th outcome is committed. The figure is the median over the runs.
"""

from __future__ import annotations

import time

import psycopg

from rhythm.bench.context import BenchContext
from rhythm.bench.database import bench_queries, run_database
from rhythm.bench.process import run_drain
from rhythm.bench.results import Figure, median_figure


def enqueue_tasks(url: str, name: str, n: int, keys: int = 0) -> float:
    """Queue ``n`` tasks in one transaction (with ``keys``: ``bench_keyed``, task i of
    key i mod keys); returns the seconds it took."""
    from rhythm.runtime.client import Client

    client = Client(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for i in range(n):
            inputs: dict[str, object] = {"i": i, "k": f"k{i % keys}"} if keys else {"i": i}
            client.queue_task(name, inputs, connection=conn)
    return time.perf_counter() - started


def run(ctx: BenchContext, n: int = 2000, concurrency: int = 10,
        use_async: bool = False, keys: int = 0) -> list[Figure]:
    """With ``keys``: the keyed no-op task, one slot per key (its route is registered
    before the enqueue, as a running worker would have, so rows are born waiting)."""
    name = "bench_keyed" if keys else "bench_noop_async" if use_async else "bench_noop"
    drained: list[float] = []
    enqueued: list[float] = []
    for _ in range(ctx.runs):
        with run_database(ctx) as url:
            if keys:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(bench_queries()["route_bench_keyed"])
            enqueued.append(n / enqueue_tasks(url, name, n, keys))
            result = run_drain(url, tasks=n, concurrency=concurrency, progress=ctx.progress,
                               keyed=bool(keys))
            drained.append(n / result["seconds"])
    kind = f"keyed ({keys} keys, limit 1)" if keys else "async" if use_async else "sync"
    return [
        median_figure("tasks", f"no-op {kind} tasks drained, 1 worker process", drained,
                      "tasks/s", f"N={n}, concurrency={concurrency}"),
        median_figure("tasks", "enqueue (Client.queue_task, one transaction)", enqueued,
                      "tasks/s", f"N={n}"),
    ]
