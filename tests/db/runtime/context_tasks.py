"""Tasks that report what ``rhythm.current_task()`` tells them (``-m context_tasks``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import rhythm


def _described(started: datetime) -> dict[str, Any]:
    ctx = rhythm.current_task()
    return {
        "execution_id": ctx.execution_id, "name": ctx.name, "attempt": ctx.attempt,
        "workflow_id": ctx.workflow_id, "idempotency_key": ctx.idempotency_key,
        "deadline": ctx.deadline.isoformat() if ctx.deadline else None,
        "deadline_aware": ctx.deadline is not None and ctx.deadline.tzinfo is not None,
        "started": started.isoformat(),
    }


@rhythm.task(retries=1, backoff={"initial": 0.05}, timeout=60)
def who_am_i(fail_first: bool = False) -> dict[str, Any]:
    """Sync, on a worker thread; its first attempt fails when asked to."""
    described = _described(datetime.now().astimezone())
    if fail_first and described["attempt"] == 1:
        raise OSError("the first attempt fails")
    return described


@rhythm.task
async def who_am_i_async() -> dict[str, Any]:
    started = datetime.now().astimezone()
    await asyncio.sleep(0)  # still itself after a suspension of its asyncio task
    return _described(started)


@rhythm.task
def outside_error() -> str:
    """What current_task() raises in a thread the task started (not a task itself)."""
    import threading

    seen: list[str] = []

    def probe() -> None:
        try:
            rhythm.current_task()
        except rhythm.RhythmError as err:
            seen.append(str(err))

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return seen[0]
