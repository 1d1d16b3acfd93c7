"""Shutdown of the in-process worker: it must end promptly whatever its helpers (listener,
heartbeat thread, flusher) are doing at the moment it stops them. Real Postgres."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import psycopg
import pytest

from rhythm.runtime.worker import Worker


class BeatsSeen(Worker):
    """A worker that says when its heartbeat thread has beaten, and from which thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.beaten = threading.Event()
        self.beat_threads: set[str] = set()

    def _beat(self, conn: psycopg.Connection[Any]) -> None:
        super()._beat(conn)
        self.beat_threads.add(threading.current_thread().name)
        self.beaten.set()


@pytest.mark.parametrize("urgent", [True, False])
def test_a_worker_stops_its_heartbeat_thread_promptly(db_url: str, urgent: bool) -> None:
    async def scenario() -> float:
        worker = BeatsSeen(db_url, concurrency=2, poll_interval=0.5)
        running = asyncio.create_task(worker.run())
        assert await asyncio.to_thread(worker.beaten.wait, 10)
        started = time.monotonic()
        worker.stop(urgent)
        await asyncio.wait_for(running, timeout=10)
        assert worker.beat_threads == {"rhythm-heartbeat"}
        assert worker._heartbeat.join(0)  # the thread has ended
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 2.0  # nothing waits out the heartbeat's interval
