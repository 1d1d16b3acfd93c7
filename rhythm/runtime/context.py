"""``rhythm.current_task()``: who the running task is, from inside its function.

The worker sets a context variable around every attempt: around the call itself for a
sync task (it runs on one of the worker's threads, which do not inherit the loop's
context) and around the creation of the asyncio Task of an async one (a Task copies the
context it is created in). What is stored per attempt is the claim and the deadline;
the :class:`TaskContext` is built only when a task asks for it, so attempts that never
ask pay for two context-variable operations and nothing else.

The idempotency key is the task's own key when it was queued with one
(``idempotency_key=`` / ``{idempotencyKey}``), else the execution id: stable across
retries and re-runs after a crash, and unique per execution. A task queued by a schedule
sees the tick it was queued for as ``scheduled_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rhythm.errors import RhythmError

if TYPE_CHECKING:
    from rhythm.runtime.jobs import Claim

T = TypeVar("T")

# (the claim of the running attempt, its deadline or None)
Current = tuple["Claim", datetime | None]
_CURRENT: ContextVar[Current | None] = ContextVar("rhythm_current_task", default=None)


class NotInTask(RhythmError):
    """``current_task()`` was called outside a task run by a worker."""


@dataclass(frozen=True)
class TaskContext:
    """The running task attempt, as ``rhythm.current_task()`` returns it."""

    execution_id: str
    name: str
    attempt: int  # 1 for the first attempt
    workflow_id: str | None  # the workflow that started the task; None if queued directly
    idempotency_key: str  # its key if queued with one, else the execution id
    deadline: datetime | None  # when the attempt times out (aware, UTC); None: no timeout
    scheduled_at: datetime | None = None  # queued by a schedule: its tick (aware, UTC)


def current_task() -> TaskContext:
    """The task attempt running in this thread or asyncio task; NotInTask outside one."""
    current = _CURRENT.get()
    if current is None:
        raise NotInTask(
            "rhythm.current_task() called outside a task: it works only inside a "
            "@rhythm.task function run by a worker")
    claim, deadline = current
    key = claim.options.get("idempotencyKey")
    tick = claim.options.get("scheduledAt")  # (rhythm.lifecycle.scheduler)
    return TaskContext(
        execution_id=claim.id, name=claim.name, attempt=claim.attempt,
        workflow_id=claim.parent_id, deadline=deadline,
        idempotency_key=key if isinstance(key, str) else claim.id,
        scheduled_at=datetime.fromisoformat(tick) if isinstance(tick, str) else None,
    )


def call_as_task(current: Current, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` with ``current`` as the running task (on a worker thread)."""
    token = _CURRENT.set(current)
    try:
        return fn(*args, **kwargs)
    finally:
        _CURRENT.reset(token)


def start_as_task(current: Current, start: Callable[[], T]) -> T:
    """``start()`` (which creates an asyncio Task) with ``current`` set, so that the Task
    copies it into its own context."""
    token = _CURRENT.set(current)
    try:
        return start()
    finally:
        _CURRENT.reset(token)
