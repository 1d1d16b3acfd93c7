"""The structured errors the runtime stores for failed executions.

A failed task execution stores exactly the ``TaskError`` object a workflow awaiting it
will throw (language spec §8): ``name``, ``message``, ``task``, ``type``, ``attempts``,
``details``. Failures that are not the task's own doing (unknown task, arguments that
do not fit, a result that is not JSON, a worker lost too often) use the same shape
with a ``type`` naming the cause, so ``rhythm status`` always says what and where.
"""

from __future__ import annotations

import traceback
from typing import Any

UNKNOWN_TASK = "UnknownTask"
ARGUMENT_MISMATCH = "ArgumentMismatch"
RESULT_NOT_JSON = "ResultNotJSON"
WORKER_LOST = "WorkerLost"
TIMEOUT = "TimeoutError"
CANCELLED = "CancelledError"


def task_error(
    task: str, kind: str, message: str, attempts: int, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": "TaskError",
        "message": message,
        "task": task,
        "type": kind,
        "attempts": attempts,
        "details": details or {},
    }


def from_exception(task: str, error: BaseException, attempts: int) -> dict[str, Any]:
    """The TaskError object for an exception raised by the task's own code."""
    frames = traceback.format_exception(type(error), error, error.__traceback__)
    return task_error(
        task,
        type(error).__name__,
        str(error) or type(error).__name__,
        attempts,
        {"module": type(error).__module__, "traceback": "".join(frames)[-8000:]},
    )


def cancelled_error(message: str = "the execution was cancelled") -> dict[str, Any]:
    return {"name": CANCELLED, "message": message}
