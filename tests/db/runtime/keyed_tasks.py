"""Tasks with a concurrency key, for worker processes (``rhythm worker -m keyed_tasks``).
Kept out of sample_tasks: a worker with a keyed task refuses to start on Citus, and the
Citus tier's workers register sample_tasks.

``one_at_a_time`` records each run in ``public.keyed_runs`` on its own autocommit
connection (``KEYED_RUNS_URL``): a start row as it begins and its end as it returns, so
a run whose worker was SIGKILLed leaves its start behind."""

from __future__ import annotations

import os
import time

import psycopg

import rhythm


@rhythm.task(concurrency={"key": "customer", "limit": 1}, retries=3)
def one_at_a_time(customer: str, n: int, seconds: float = 0.0) -> int:
    with psycopg.connect(os.environ["KEYED_RUNS_URL"], autocommit=True) as conn:
        run = conn.execute(
            "INSERT INTO public.keyed_runs (customer, n, pid) VALUES (%s, %s, %s)"
            " RETURNING id", (customer, n, os.getpid())).fetchone()
        assert run is not None
        time.sleep(seconds)
        conn.execute("UPDATE public.keyed_runs SET ended = clock_timestamp() WHERE id = %s",
                     (run[0],))
    return n


@rhythm.task(concurrency={"key": "order.customer", "limit": 2})
def two_at_a_time(order: dict[str, str], seconds: float = 0.0) -> str:
    time.sleep(seconds)
    return order["customer"]
