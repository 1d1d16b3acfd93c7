"""The structured errors the runtime stores for failed executions.

A failed task execution stores exactly the ``TaskError`` object a workflow awaiting it
will throw (language spec §8): ``name``, ``message``, ``task``, ``type``, ``attempts``,
``details``. Failures that are not the task's own doing (unknown task, arguments that
do not fit, a result that is not JSON, a worker lost too often) use the same shape
with a ``type`` naming the cause, so ``rhythm status`` always says what and where.
"""

from __future__ import annotations

import re
import traceback
from typing import Any

UNKNOWN_TASK = "UnknownTask"
ARGUMENT_MISMATCH = "ArgumentMismatch"
RESULT_NOT_JSON = "ResultNotJSON"
WORKER_LOST = "WorkerLost"
TIMEOUT = "TimeoutError"
CANCELLED = "CancelledError"
UNSTORABLE_OUTCOME = "Unstorable"
_SURROGATE = re.compile("[\ud800-\udfff]")


def task_error(
    task: str, kind: str, message: str, attempts: int, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": "TaskError",
        "message": storable(message),
        "task": task,
        "type": kind,
        "attempts": attempts,
        "details": {key: storable(value) if isinstance(value, str) else value
                    for key, value in (details or {}).items()},
    }


def storable(text: str) -> str:
    """``text`` as Postgres can store it in JSON: a NUL (U+0000) and lone surrogates
    (not Unicode text) become U+FFFD. An exception's message may hold anything; one that
    Postgres refuses must not keep its failure from being recorded."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _SURROGATE.sub("\ufffd", text)
    return text


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


def unstorable_outcome(error: dict[str, Any] | None, why: BaseException) -> dict[str, Any]:
    """The error recorded for an outcome that Postgres refused to store (``why``)."""
    reason = storable(str(why).strip().splitlines()[0] if str(why).strip() else "")
    return {
        "name": "TaskError", "type": UNSTORABLE_OUTCOME,
        "message": f"the outcome cannot be stored: {type(why).__name__}: {reason}",
        "task": (error or {}).get("task"), "attempts": (error or {}).get("attempts"),
        "details": {},
    }


def cancelled_error(message: str = "the execution was cancelled") -> dict[str, Any]:
    return {"name": CANCELLED, "message": message}
