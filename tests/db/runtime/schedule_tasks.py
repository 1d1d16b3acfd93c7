"""A task started by schedules in the tests (``-m schedule_tasks``): it returns the tick
``rhythm.current_task()`` says it was queued for."""

from __future__ import annotations

from typing import Any

import rhythm


@rhythm.task
def scheduled_tick(note: str = "") -> dict[str, Any]:
    tick = rhythm.current_task().scheduled_at
    return {"scheduledAt": tick.isoformat() if tick else None, "note": note}
