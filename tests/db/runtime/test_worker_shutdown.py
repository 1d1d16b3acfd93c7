"""Shutdown of the in-process worker: it must end promptly whatever its helpers (listener,
heartbeat, flusher) are doing at the moment it cancels them. Real Postgres throughout."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import psycopg
import pytest

from rhythm.runtime.worker import Worker


class RenewEndsAsItIsCancelled(Worker):
    """A worker whose heartbeat renew (the real statements) ends in the very loop
    iteration in which the stopping worker cancels the heartbeat: the timing that made
    ``asyncio.wait_for`` (Python 3.11) swallow the cancellation, so that the heartbeat
    slept on and ``run()`` never returned ("worker did not stop", 1 run in 3)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renewed = asyncio.Event()
        self.heartbeat_task: asyncio.Task[Any] | None = None

    async def _heartbeat(self) -> None:
        self.heartbeat_task = asyncio.current_task()
        await super()._heartbeat()

    async def _renew(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await super()._renew(conn)
        self.renewed.set()
        assert self.heartbeat_task is not None
        # Finish exactly when the heartbeat is cancelled: one loop step at a time.
        while not self.heartbeat_task.cancelling():
            await asyncio.sleep(0)


@pytest.mark.parametrize("urgent", [True, False])
def test_a_worker_stops_when_its_heartbeat_is_cancelled_as_a_renew_ends(
    db_url: str, urgent: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> float:
        worker = RenewEndsAsItIsCancelled(db_url, concurrency=2, poll_interval=0.5)
        running = asyncio.create_task(worker.run())
        await asyncio.wait_for(worker.renewed.wait(), timeout=10)
        started = time.monotonic()
        worker.stop(urgent)
        await asyncio.wait_for(running, timeout=10)
        assert worker.heartbeat_task is not None and worker.heartbeat_task.done()
        return time.monotonic() - started

    with caplog.at_level(logging.ERROR, logger="rhythm.worker"):
        took = asyncio.run(scenario())
    assert not [r for r in caplog.records if "ignored its cancellation" in r.getMessage()]
    assert took < 2.0  # the heartbeat ends at once: nothing waits out its 10 s sleep
