"""Operations' statements in the forms Citus routes to one node whole.

Citus plans each data-modifying CTE of a statement as a distributed subplan, a round trip
of its own from the coordinator, and pulls an INSERT ... SELECT that reads no distributed
table through the coordinator: ``insert_execution``, one round trip on plain Postgres,
took ~12 ms an enqueue on Citus (docs/performance.md, "Citus"). On Citus the drivers of
:mod:`rhythm.runtime.operations` run each operation through :func:`routed`, which sends
that statement as three Citus routes: where the execution goes (``enqueue_route``, read
on the coordinator), the insert as a plain ``INSERT ... VALUES`` on the execution's node
(``insert_execution_routed``) and, for a new workflow, its ``started`` entry
(``insert_started_entry``), in the operation's transaction. The operation gets the rows
``insert_execution`` would have returned, and knows nothing of it. (The Node.js client
does the same, ``Client._insertRouted`` in node/src/client.js: keep the two in step.)
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (operations imports this module)
    from rhythm.runtime.operations import Op, Row, T


def routed(op: Op[T]) -> Op[T]:
    """``op`` with each ``insert_execution`` sent as the statements Citus routes."""
    try:
        query, params = next(op)
        while True:
            if query == "insert_execution":
                rows = yield from _insert_execution(params)
            else:
                rows = yield query, params
            query, params = op.send(rows)
    except StopIteration as stop:
        return stop.value


def _insert_execution(params: dict[str, Any]) -> Generator[tuple[str, dict[str, Any]],
                                                            list[Row], list[Row]]:
    (route,) = yield "enqueue_route", params
    rows = yield "insert_execution_routed", {**params, **route}
    if rows and params["kind"] == "workflow":
        yield "insert_started_entry", {**params, "version": rows[0]["version"],
                                       "run_no": rows[0]["run_no"]}
    return rows
