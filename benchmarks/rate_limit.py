"""A rate limit held by several workers (issue 18): the measured claim rate.

    .venv/bin/python benchmarks/rate_limit.py [--rate-limit 50/s] [--seconds 30]
                                              [--workers 3] [--concurrency 10]
                                              [--partitions 1] [--database-url URL]

A fresh database on the server of --database-url (else RHYTHM_DATABASE_URL, else the
embedded server) gets a queue limit on `default` (`rhythm queue set`'s code) and a
backlog of no-op tasks larger than the limit lets through; then N `rhythm worker`
processes drain it for --seconds from the first claim. Claims are what the limit
counts: each execution's started_at (set by its claim). Printed: claims in the window
and their rate (the bucket starts full, so the first second holds a burst of up to the
per-second amount), the steady rate after the first second, and the largest number of
claims in any one-second window.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from script_errors import run_main

REPO = Path(__file__).resolve().parent.parent


def _claim_times(url: str) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT extract(epoch FROM started_at)::float8 "
                            "FROM rhythm.executions WHERE started_at IS NOT NULL "
                            "ORDER BY started_at").fetchall()
    return [r[0] for r in rows]


def _workers(url: str, count: int, concurrency: int, logs: Path) -> list[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if k != "RHYTHM_DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    procs = []
    for i in range(count):
        log = (logs / f"worker{i}.log").open("w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "rhythm", "worker", "-m", "rhythm.bench.noop",
             "--database-url", url, "--concurrency", str(concurrency)],
            stdout=log, stderr=log, text=True, env=env))
    return procs


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/rate_limit.py")
    parser.add_argument("--rate-limit", default="50/s")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    from rhythm.bench.database import fresh_database
    from rhythm.config import load_settings
    from rhythm.runtime.client import Client
    from rhythm.runtime.limits import set_queue
    from rhythm.runtime.ratespec import parse_rate_limit
    from rhythm.store import database_url

    limit = parse_rate_limit(args.rate_limit, "--rate-limit")
    server = database_url(load_settings(database_url=args.database_url))
    backlog = int(limit.per_second * args.seconds * 1.5) + limit.burst + 100
    with fresh_database(server) as url, tempfile.TemporaryDirectory() as logs:
        with psycopg.connect(url, autocommit=True) as conn:
            if args.partitions != 1:
                conn.execute("UPDATE rhythm.installation SET partitions = %s",
                             (args.partitions,))
            set_queue(conn, "default", datetime.now(UTC), partitions=args.partitions,
                      rate_limit=limit)
        with Client(url) as client:
            client.queue_tasks([("bench_noop", {"i": i}) for i in range(backlog)])
        procs = _workers(url, args.workers, args.concurrency, Path(logs))
        try:
            deadline = time.monotonic() + 60
            while not _claim_times(url):
                if time.monotonic() > deadline:
                    raise SystemExit("rate_limit.py: error: no claim within 60 s")
                time.sleep(0.05)
            time.sleep(args.seconds + 0.5)
        finally:
            _stop(procs)
        times = _claim_times(url)
    first = times[0]
    window = [t - first for t in times if t - first < args.seconds]
    steady = [t for t in window if t >= 1.0]
    busiest = max(sum(1 for u in window if t <= u < t + 1.0) for t in window)
    rate = len(window) / args.seconds
    print(f"limit {limit.spec} ({limit.per_second:g}/s, burst {limit.burst}), "
          f"{args.workers} workers x concurrency {args.concurrency}, "
          f"{args.partitions} partition(s), {args.seconds:g} s from the first claim")
    print(f"claims: {len(window)} -> {rate:.2f}/s "
          f"({100 * (rate / limit.per_second - 1):+.1f}% of the limit, burst included)")
    print(f"steady (after the first second): {len(steady) / (args.seconds - 1):.2f}/s "
          f"({100 * (len(steady) / (args.seconds - 1) / limit.per_second - 1):+.1f}%)")
    print(f"busiest one-second window: {busiest} claims")


if __name__ == "__main__":
    run_main("rate_limit.py", main)
