"""The no-op task of the per-key concurrency figure (``rhythm bench tasks --keys K``):
one slot per key. Imported by the drain worker only when asked (``--keyed``): a worker
with a keyed task refuses to start on Citus, and registering it costs the start-up a
look at the queue's ready rows (rhythm/store/sql/concurrency.sql, key_queued_tasks)."""

from __future__ import annotations

import rhythm


@rhythm.task(concurrency={"key": "k", "limit": 1})
def bench_keyed(i: int, k: str) -> int:
    return i
