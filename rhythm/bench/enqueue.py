"""(f) Bulk enqueue: N tasks queued by ``Client.queue_tasks`` (one statement).

Per run (fresh database): one call with N ``bench_noop`` tasks on the client's own
connection, timed from the call to its return (validation, JSON, the statement and its
commit). The figure is the median over the runs. Nothing drains them.
"""

from __future__ import annotations

import time

from rhythm.bench.context import BenchContext
from rhythm.bench.database import fresh_database
from rhythm.bench.results import Figure, median_figure


def bulk_enqueue(url: str, name: str, n: int) -> float:
    """Queue ``n`` tasks in one ``queue_tasks`` call; returns the seconds it took."""
    from rhythm.runtime.client import Client

    items = [(name, {"i": i}) for i in range(n)]
    with Client(url) as client:
        client.list(limit=1)  # (connected, partitions read: not part of the figure)
        started = time.perf_counter()
        client.queue_tasks(items)
        return time.perf_counter() - started


def run(ctx: BenchContext, n: int = 100_000) -> list[Figure]:
    rates = []
    for _ in range(ctx.runs):
        with fresh_database(ctx.server_url) as url:
            rates.append(n / bulk_enqueue(url, "bench_noop", n))
    return [median_figure("enqueue", "bulk enqueue (Client.queue_tasks, one call)", rates,
                          "tasks/s", f"N={n}")]
