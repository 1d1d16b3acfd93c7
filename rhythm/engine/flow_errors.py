"""The built-in error objects of spec section 8 that the engine produces.

Errors inside a workflow are flow values: plain dicts whose first keys are ``name`` and
``message``. The engine builds the ones that come from the world (task failures, failed
children, signal timeouts, cancellation, ``Promise.any`` with nothing fulfilled); the
flow runtime builds the ones raised by operators and built-ins.
"""

from __future__ import annotations

from typing import Any

from rhythm.flowrt.values import make_error

JsonValue = Any


def task_error(
    task: str, error_type: str, message: str, attempts: int, details: JsonValue = None
) -> dict[str, JsonValue]:
    """An awaited task failed after its retries; ``message`` is the exception's message."""
    return make_error(
        "TaskError", message, task=task, type=error_type, attempts=attempts, details=details
    )


def child_workflow_error(
    workflow: str, execution_id: str | None, cause: JsonValue, message: str | None = None
) -> dict[str, JsonValue]:
    """An awaited child workflow failed; ``cause`` is the child's error (or thrown value)."""
    if message is None:
        message = f"child workflow '{workflow}' failed: {describe_error(cause)}"
    return make_error(
        "ChildWorkflowError", message, workflow=workflow, executionId=execution_id, cause=cause
    )


def timeout_error(message: str) -> dict[str, JsonValue]:
    return make_error("TimeoutError", message)


def cancelled_error(message: str = "the execution was cancelled") -> dict[str, JsonValue]:
    return make_error("CancelledError", message)


def aggregate_error(errors: list[JsonValue]) -> dict[str, JsonValue]:
    """``Promise.any`` where every member rejected; ``errors`` in member list order."""
    return make_error("AggregateError", "All promises were rejected", errors=errors)


def limit_error(message: str) -> dict[str, JsonValue]:
    return make_error("LimitError", message)


def describe_error(error: JsonValue) -> str:
    """One line for humans: ``Name: message`` for error objects, else compact JSON-ish text."""
    if isinstance(error, dict) and isinstance(error.get("name"), str):
        message = error.get("message")
        return f"{error['name']}: {message}" if isinstance(message, str) else error["name"]
    import json

    try:
        return json.dumps(error, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(error)
