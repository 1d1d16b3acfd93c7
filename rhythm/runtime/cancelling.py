"""Cancellation that a library swallowed, found again.

A worker stops its background loops (listener, admissions, scheduler, cleaner) by
cancelling their tasks. Some awaits deep in the database drivers can catch that
cancellation and carry on or turn it into another error (seen: a helper still waiting
five seconds after its worker cancelled it, stuck in psycopg's ``notifies()`` or waiting
for its next sweep after a pooled query). The task still counts the request
(``Task.cancelling()``), so each loop asks before it waits again.
"""

from __future__ import annotations

import asyncio


def raise_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
