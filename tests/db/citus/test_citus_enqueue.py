"""An enqueue on Citus goes as statements Citus routes whole (rhythm.runtime.routed), not
as ``insert_execution``'s one statement; both must write the same rows.

Each request below is sent twice to the same cluster, once in each form (the drivers pick
the form from the topology: ``citus=False`` sends the one statement, which Citus runs too,
only slower), under two ids of the same partition; the two executions and their history
must agree in every column but the id. Then the idempotent part: a second enqueue of an
existing id creates nothing, in either form. (The keyed requests are refused by the
client on Citus, docs/scaling.md; their statements are compared all the same, so that
the two forms stay in step wherever they are used.)
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from citusfixtures import PARTITIONS
from psycopg.rows import dict_row

from rhythm.runtime.operations import Enqueue, drive, enqueue
from rhythm.runtime.partitions import Topology, generated_id

ROUTED = Topology(partitions=PARTITIONS, citus=True)
ONE_STATEMENT = Topology(partitions=PARTITIONS, citus=False)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)

REQUESTS = {
    # a routed task with a per-key limit: queue and key from its route, born waiting
    "keyed task": Enqueue("task", "charge", json.dumps({"customer": {"id": "c-7"}})),
    # the same task without the key's path in its inputs: the key is ''
    "keyless inputs": Enqueue("task", "charge", json.dumps({"other": 1})),
    # a routed task without a limit, its queue given by the caller
    "queue given": Enqueue("task", "ship", "{}", queue="slow", priority=5, max_retries=2),
    # a task with no route: the default queue
    "no route": Enqueue("task", "unknown_task", '{"a": [1, 2.50]}'),
    # workflows: with a version (ready), without one (waits), with a caller's key
    "workflow": Enqueue("workflow", "orders", '{"n": 1}', version="v1"),
    "no version": Enqueue("workflow", "orders", "{}"),
    "keyed workflow": Enqueue("workflow", "orders", "{}", version="v1",
                              concurrency_key="tenant-1", concurrency_limit=2),
}

# every column an enqueue writes but the id and the created/updated times
ROW = """SELECT part, kind, name, version, inputs::text, queue, priority, max_retries,
                options::text, run_at, status, parent_id, concurrency_key, concurrency_limit,
                admitted, history_seq, run_no, attempt
         FROM rhythm.executions WHERE id = %s"""


@pytest.fixture
def conn(db_url: str) -> Any:
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO rhythm.task_routes (name, queue, concurrency) VALUES "
                     "('charge', 'payments', '{\"key\": \"customer.id\", \"limit\": 1}'), "
                     "('ship', 'shipping', NULL)")
        yield conn


def _row(conn: psycopg.Connection[Any], execution_id: str) -> dict[str, Any]:
    row = conn.execute(ROW, [execution_id]).fetchone()
    assert row is not None, execution_id
    return dict(row)


def _history(conn: psycopg.Connection[Any], execution_id: str) -> list[tuple[Any, ...]]:
    rows = conn.execute("SELECT seq, part, at, kind, step, worker, detail::text "
                        "FROM rhythm.history WHERE execution_id = %s ORDER BY seq",
                        [execution_id]).fetchall()
    return [tuple(r.values()) for r in rows]


@pytest.mark.parametrize("case", sorted(REQUESTS))
def test_the_routed_enqueue_writes_what_the_one_statement_writes(
    conn: psycopg.Connection[Any], case: str,
) -> None:
    prefix = "t" if REQUESTS[case].kind == "task" else "w"
    ids = [generated_id(prefix, 1, PARTITIONS) for _ in range(2)]
    results = [drive(conn, enqueue(replace(REQUESTS[case], id=execution_id), NOW), topology)
               for execution_id, topology in zip(ids, (ROUTED, ONE_STATEMENT), strict=True)]

    assert [r["created"] for r in results] == [True, True]
    assert {k: v for k, v in results[0].items() if k not in ("id", "case")} == \
        {k: v for k, v in results[1].items() if k not in ("id", "case")}
    routed, one = (_row(conn, execution_id) for execution_id in ids)
    assert routed == one
    assert _history(conn, ids[0]) == _history(conn, ids[1])
    if REQUESTS[case].kind == "workflow":  # (the started entry is there, in both)
        assert [h[3] for h in _history(conn, ids[0])] == ["started"]
    if case == "keyed task":  # (the route was read: not the defaults)
        assert (routed["queue"], routed["concurrency_key"], routed["admitted"],
                routed["run_at"]) == ("payments", "c-7", False, None)


@pytest.mark.parametrize("topology", [ROUTED, ONE_STATEMENT], ids=["routed", "one statement"])
def test_an_existing_id_is_found_not_created_again(
    conn: psycopg.Connection[Any], topology: Topology,
) -> None:
    request = replace(REQUESTS["workflow"], id=generated_id("w", 2, PARTITIONS))
    first = drive(conn, enqueue(request, NOW), topology)
    again = drive(conn, enqueue(request, NOW), topology)

    assert (first["created"], again["created"]) == (True, False)
    assert again["id"] == first["id"]
    assert [h[3] for h in _history(conn, first["id"])] == ["started"]  # (written once)
