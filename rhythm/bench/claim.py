"""(e) Claim latency against the queue's size: 1,000 vs 1,000,000 ready rows.

Per size (fresh database): the rows are written in one INSERT … generate_series. Then the
runtime's own ``claim`` statement (limit 1, its own autocommit transaction, as the worker
sends it) is timed ``samples`` times from one connection, twice: first with the
statistics such a burst leaves behind (autovacuum has not analysed the table yet; this
is what a worker meets right after a backlog arrives), then after ANALYZE (what
autovacuum does within a minute or so). p50/p95/p99 are reported for both.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg

from rhythm.bench.context import BenchContext
from rhythm.bench.database import bench_queries, run_database
from rhythm.bench.progress import progress_bar
from rhythm.bench.results import Figure, percentiles

SIZES = (1_000, 1_000_000)
QUEUE = "bench_claim"


def fill(url: str, size: int, partitions: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(bench_queries()["fill_pending"], {
            "n": size, "queue": QUEUE, "now": datetime.now(UTC) - timedelta(minutes=1),
            "partitions": partitions})
    return time.perf_counter() - started


def analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(bench_queries()["analyze_executions"])


def time_claims(url: str, samples: int, limit: int, partitions: int,
                progress: bool) -> list[float]:
    """Claim latencies; over P partitions the claims take them in turn, as a worker's do."""
    from rhythm.runtime.sql import Q

    out: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn, \
            progress_bar(samples, f"claims (limit {limit})", progress) as bar:
        for sample in range(samples):
            now = datetime.now(UTC)
            started = time.perf_counter()
            rows = conn.execute(Q["claim"], {
                "queue": QUEUE, "limit": limit, "now": now, "worker": "bench",
                "lease_until": now + timedelta(seconds=30), "kinds": ["task", "workflow"],
                "part": sample % partitions, "names": None,
            }).fetchall()
            out.append(time.perf_counter() - started)
            if len(rows) != limit:
                raise RuntimeError(f"claim returned {len(rows)} rows, expected {limit}")
            bar.update(1)
    return out


def run(ctx: BenchContext, sizes: tuple[int, ...] = SIZES, samples: int = 300,
        limit: int = 1) -> list[Figure]:
    figures: list[Figure] = []
    p50: dict[tuple[str, int], float] = {}
    for size in sizes:
        with run_database(ctx) as url:
            filled = fill(url, size, ctx.partitions)
            measured = {"stale stats": percentiles(time_claims(
                url, samples, limit, ctx.partitions, ctx.progress))}
            analyze(url)
            measured["analyzed"] = percentiles(time_claims(
                url, samples, limit, ctx.partitions, ctx.progress))
        for stats_kind, stats in measured.items():
            p50[(stats_kind, size)] = stats["p50"]
            for label, value in stats.items():
                figures.append(Figure(
                    "claim", f"claim {limit}, {size:,} ready, {stats_kind} {label}",
                    value * 1000, "ms",
                    note=f"{samples} claims; filled in {filled:.1f}s" if label == "p50" else ""))
    if len(sizes) > 1:
        small, large = min(sizes), max(sizes)
        for stats_kind in ("stale stats", "analyzed"):
            figures.append(Figure(
                "claim", f"claim p50 ratio {large:,}/{small:,}, {stats_kind}",
                p50[(stats_kind, large)] / p50[(stats_kind, small)], "x", note="target <= 2"))
    return figures
