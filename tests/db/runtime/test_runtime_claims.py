"""The worker's claim side: the plan-proof claim, the local buffer of claimed rows (held
under lease, released on shutdown) and timers fired on demand."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import running_worker, wait_for

from rhythm.runtime.claiming import open_claim_connection
from rhythm.runtime.client import Client
from rhythm.runtime.sql import Q
from rhythm.runtime.worker import Worker


def _claim_plan(url: str, names: list[str] | None = None) -> str:
    async def explain() -> str:
        conn = await open_claim_connection(url)
        try:
            now = datetime.now(UTC)
            async with conn.transaction(force_rollback=True):
                cur = await conn.execute("EXPLAIN (COSTS OFF) " + Q["claim"], {"part": 0,
                    "queue": "default", "limit": 50, "now": now, "worker": "w",
                    "lease_until": now + timedelta(seconds=30), "kinds": ["task", "workflow"],
                    "names": names,
                })
                return "\n".join(row[0] for row in await cur.fetchall())
        finally:
            await conn.close()

    return asyncio.run(explain())


@pytest.mark.parametrize("names", [None, ["noop", "add"]])
def test_the_claim_walks_the_ready_index_even_with_stale_statistics(
    db_url: str, names: list[str] | None
) -> None:
    # Statistics taken while the table was empty, then a burst of ready rows: the
    # planner's row estimate is far off (the case that used to sort the whole backlog).
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("ANALYZE rhythm.executions")
        conn.execute(
            "INSERT INTO rhythm.executions (id, kind, name, run_at) "
            "SELECT 'bulk-' || g, 'task', 'noop', now() - interval '1 hour' "
            "       + g * interval '1 microsecond' FROM generate_series(1, 30000) g")
    plan = _claim_plan(db_url, names)  # (routing by names filters the same walk)
    assert "Index Scan using executions_ready" in plan, plan
    # (the only sort allowed puts the claimed rows, at most the limit, in pick order)
    picking = plan.split("CTE ready", 1)[1]
    assert "Sort" not in picking and "Bitmap" not in plan, plan


def test_buffered_claims_go_back_to_the_queue_on_shutdown(db_url: str, client: Client) -> None:
    runs = [client.queue_task("nap", {"seconds": 0.3}) for _ in range(6)]
    with running_worker(db_url, concurrency=1, prefetch=10) as worker:
        wait_for(lambda: worker.claimed >= 6, timeout=10, what="all six claimed")
        with psycopg.connect(db_url, autocommit=True) as conn:
            held = conn.execute("SELECT count(*) FROM rhythm.executions "
                                "WHERE status = 'running' AND claimed_by = %s",
                                (worker.id,)).fetchone()
        assert held == (6,)  # one running, five waiting in the worker's buffer
    rows = [client.get(r.id) for r in runs]
    done = [r for r in rows if r["status"] == "completed"]
    back = [r for r in rows if r["status"] == "pending"]
    assert len(done) + len(back) == 6 and len(back) >= 4
    for row in back:  # released, not lost: claimable now, attempt not counted
        assert (row["claimed_by"], row["lease_expires_at"], row["attempt"]) == (None, None, 0)
        assert row["run_at"] is not None and row["lease_losses"] == 0
    with running_worker(db_url, concurrency=4) as _:
        assert [r.result(timeout=10) for r in runs] == ["slept 0.3"] * 6


def test_buffered_claims_keep_their_lease_while_they_wait(db_url: str, client: Client) -> None:
    # 5 x 0.6 s on one slot = 3 s, twice the lease: the heartbeat must renew the
    # buffered rows too, or they would be reaped and run twice.
    runs = [client.queue_task("nap", {"seconds": 0.6}) for _ in range(5)]
    with running_worker(db_url, concurrency=1, prefetch=10, lease_seconds=1.5):
        assert [r.result(timeout=20) for r in runs] == ["slept 0.6"] * 5
    for run in runs:
        row = client.get(run.id)
        assert (row["attempt"], row["lease_losses"]) == (1, 0)


def test_claims_are_batched_beyond_the_free_slots(db_url: str, client: Client) -> None:
    with psycopg.connect(db_url) as conn:
        for i in range(300):
            client.queue_task("add", {"a": i, "b": 1}, connection=conn)
    with running_worker(db_url, concurrency=2, prefetch=100) as worker:
        wait_for(lambda: worker.recorded >= 300, timeout=30, what="300 tasks recorded")
    assert worker.claimed == 300
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM rhythm.executions "
                            "WHERE status <> 'completed'").fetchone() == (0,)


class ClaimsHangAfterTheFirst(Worker):
    """A worker whose every claim after the first waits until ``claims_go`` is set: a
    claim under way (a slow one, under load) for as long as the test likes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.claims_go = asyncio.Event()
        self.hanging = 0
        first_done = False
        refill = self._claimer.refill

        async def hanging_refill(free: int) -> bool:
            nonlocal first_done
            if first_done:
                self.hanging += 1
                await self.claims_go.wait()
            first_done = True
            return await refill(free)

        self._claimer.refill = hanging_refill  # type: ignore[method-assign]


def test_a_freed_slot_takes_a_buffered_row_while_a_claim_is_under_way(
    db_url: str, client: Client
) -> None:
    for _ in range(3):
        client.queue_task("nap", {"seconds": 0.2})

    async def scenario() -> tuple[int, int]:
        # One slot, all three rows claimed at once; the next claim goes out 50 ms later
        # (the buffer is below its mark) and hangs while the first nap runs.
        worker = ClaimsHangAfterTheFirst(db_url, concurrency=1, prefetch=10,
                                         poll_interval=0.05)
        running = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(10):
                while worker.recorded < 3:
                    await asyncio.sleep(0.02)
            return worker.recorded, worker.hanging
        finally:
            worker.claims_go.set()
            worker.stop()
            await running

    recorded, hanging = asyncio.run(scenario())
    assert (recorded, hanging) == (3, 1)  # all three ran while the second claim hung


def test_a_timer_fires_on_time_without_firing_every_round(db_url: str, tmp_path: Path) -> None:
    flow = tmp_path / "sleeper.flow"
    flow.write_text('await Timer.delay(1)\nreturn "woke"\n')
    from rhythm.runtime.versions import WorkflowVersions

    versions = WorkflowVersions()
    versions.add_folder(str(tmp_path))
    with running_worker(db_url, versions=versions) as worker, Client(db_url) as client:
        worker.registered.wait(10)
        started = time.monotonic()
        run = client.start("sleeper", {})
        assert run.result(timeout=10) == "woke"
        assert 0.9 <= time.monotonic() - started < 2.5  # not the 5 s backstop poll
