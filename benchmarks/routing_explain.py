"""The routed claim's plan on 100,000 ready rows: prints EXPLAIN (ANALYZE, BUFFERS) of
the `claim` statement (limit 50) on the worker's claim connection, with no routing
(names NULL), with every name of the queue, and with half of the queue another worker's.
Asserts nothing; everything it writes is rolled back.

Run: ``.venv/bin/python benchmarks/routing_explain.py --database-url URL`` (a migrated
database; `rhythm db url` gives the embedded one).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from rhythm.runtime.claiming import open_claim_connection
from rhythm.runtime.sql import Q

FILL = ("INSERT INTO rhythm.executions (id, kind, name, queue, run_at) "
        "SELECT 'routing-' || g, 'task', CASE WHEN g % 2 = 0 THEN 'py_task' ELSE 'js_task' END, "
        "'routing_explain', now() - interval '1 hour' + g * interval '1 microsecond' "
        "FROM generate_series(1, 100000) g")
CASES = {"names NULL (no routing)": None, "every name of the queue": ["py_task", "js_task"],
         "half of the queue another worker's": ["py_task"]}


async def explain(url: str) -> None:
    conn = await open_claim_connection(url)
    try:
        async with conn.transaction(force_rollback=True):
            await conn.execute(FILL)
            await conn.execute("ANALYZE rhythm.executions")
            for title, names in CASES.items():
                plan = ""
                for _ in range(7):  # past the switch to a generic plan
                    now = datetime.now(UTC)
                    async with conn.transaction(force_rollback=True):  # (claims undone)
                        cur = await conn.execute(
                            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + Q["claim"],
                            {"part": 0, "queue": "routing_explain", "limit": 50, "now": now,
                             "worker": "w", "lease_until": now + timedelta(seconds=30),
                             "kinds": ["task", "workflow"], "names": names})
                        plan = "\n".join(row[0] for row in await cur.fetchall())
                print(f"=== {title}\n{plan}\n")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    asyncio.run(explain(parser.parse_args().database_url))


if __name__ == "__main__":
    main()
