"""Bulk enqueue (``client.queue_tasks`` / ``start_many``): many executions, one statement.

Every item is validated as ``queue_task``/``start`` would (InputError naming the item,
before any I/O), and the whole list travels as ONE JSON array to ``insert_executions``.
This is the one path where per-item Python cost is the figure (100,000 items a call), so
it avoids per-item objects: an item is a tuple, ids are drawn from ``os.urandom``, the
inputs' JSON text is spliced into the array as validated, and names and queues are
encoded once per distinct value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from datetime import datetime
from typing import Any

from rhythm.errors import InputError, closest
from rhythm.observe.telemetry import client_traceparent
from rhythm.runtime.partitions import Topology
from rhythm.runtime.payloads import encode_object

# (id, id is ours, name, queue, priority, max_retries, inputs as JSON text)
Item = tuple[str, bool, str, str | None, int, int | None, str]
Row = dict[str, Any]

OPTIONS = {"task": ("id", "queue", "priority", "retries"),
           "workflow": ("id", "queue", "priority")}


def prepare(kind: str, items: Any) -> list[Item]:
    """The validated items of a bulk enqueue, each ``(name, inputs, options)`` (inputs
    and options may be left out)."""
    if isinstance(items, str | bytes | dict) or not hasattr(items, "__iter__"):
        raise InputError(f"expected a list of (name, inputs, options), got {type(items).__name__}")
    prefix = "t" if kind == "task" else "w"
    return [_item(kind, prefix, n, item) for n, item in enumerate(items)]


def _item(kind: str, prefix: str, n: int, item: Any) -> Item:
    if not isinstance(item, tuple | list) or not 1 <= len(item) <= 3:
        raise InputError(f"item {n}: expected (name, inputs, options), got {item!r:.80}")
    name = item[0]
    if not isinstance(name, str) or not name:
        raise InputError(f"item {n}: {kind} name must be a non-empty string, got {name!r}")
    try:
        inputs = encode_object(item[1] if len(item) > 1 else None,
                               f"inputs of {kind} {name!r}")
    except InputError as err:
        raise InputError(f"item {n}: {err}") from None
    options = item[2] if len(item) > 2 else None
    if not options:
        return f"{prefix}-{os.urandom(16).hex()}", True, name, None, 0, None, inputs
    return _with_options(kind, prefix, n, name, inputs, options)


def _with_options(
    kind: str, prefix: str, n: int, name: str, inputs: str, options: Any
) -> Item:
    if not isinstance(options, dict):
        raise InputError(f"item {n}: options must be a dict, got {type(options).__name__}")
    allowed = OPTIONS[kind]
    for option in options:
        if option not in allowed:
            match = closest(str(option), list(allowed))
            guess = f" (did you mean {match!r}?)" if match else ""
            raise InputError(f"item {n}: unknown option {option!r}{guess}; bulk enqueue "
                             f"takes {', '.join(allowed)}")
    try:
        check_fields(options.get("id"), options.get("queue"), options.get("priority", 0),
                     options.get("retries"))
    except InputError as err:
        raise InputError(f"item {n}: {err}") from None
    execution_id = options.get("id")
    return (execution_id or f"{prefix}-{os.urandom(16).hex()}", execution_id is None, name,
            options.get("queue"), options.get("priority", 0), options.get("retries"), inputs)


def check_fields(
    id: Any, queue: Any, priority: Any, max_retries: Any
) -> None:
    """InputError for an id, queue, priority or retries that cannot be used."""
    if id is not None and (not isinstance(id, str) or not id or len(id) > 200):
        raise InputError(f"execution id must be a string of 1 to 200 characters, got {id!r}")
    if queue is not None and (not isinstance(queue, str) or not queue):
        raise InputError(f"queue must be a non-empty string, got {queue!r}")
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InputError(f"priority must be an integer, got {priority!r}")
    if max_retries is not None and not _non_negative_int(max_retries):
        raise InputError(f"retries must be a non-negative integer, got {max_retries!r}")


def _non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def enqueue(kind: str, items: list[Item], now: datetime) -> Generator[
        tuple[str, dict[str, Any]], list[Row], Row]:
    """As an operation (rhythm.runtime.operations): insert every item in one statement.
    An id that exists already keeps its execution as it is (no re-run of a failed one,
    unlike ``queue_task(id=...)``). Returns the ids, in order, and how many workflows
    wait for a version of their name. Every row stores the caller's trace context, as a
    single enqueue does (the operation runs in the caller's thread or task)."""
    names = sorted({item[2] for item in items})
    traceparent = client_traceparent()  # (None unless the caller uses OpenTelemetry)
    options = None if traceparent is None else json.dumps({"traceparent": traceparent})
    rows = yield "insert_executions", {"batch": (kind, items), "names": names, "kind": kind,
                                       "now": now, "options": options}
    waiting = sum(int(row["n"]) for row in rows if row["wake"] is None)
    return {"ids": [item[0] for item in items], "waiting": waiting,
            "inserted": sum(int(row["n"]) for row in rows)}


def batch_json(kind: str, items: list[Item], topology: Topology) -> str:
    """The items as the JSON array insert_executions reads, each with its partition."""
    texts: dict[str | None, str] = {None: "null"}

    def text(value: str | None) -> str:
        found = texts.get(value)
        if found is None:
            found = texts[value] = json.dumps(value, ensure_ascii=False)
        return found

    part_of = topology.part_of
    head = f'{{"kind":"{kind}","part":'
    return "[" + ",".join(
        f'{head}{part_of(i)},"id":{f"{chr(34)}{i}{chr(34)}" if ours else json.dumps(i)},'
        f'"name":{text(name)},"queue":{text(queue)},"priority":{priority},'
        f'"max_retries":{"null" if retries is None else retries},"inputs":{inputs}}}'
        for i, ours, name, queue, priority, retries, inputs in items) + "]"
