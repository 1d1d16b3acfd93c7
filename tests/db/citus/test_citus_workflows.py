"""Signals, timers and child workflows on Citus, with enough root workflows that their
trees land on several partitions; and the data really is spread over both Citus workers.

The single-workflow tests are ``test_workflows.py``'s own, on the coordinator; the rest
run many roots at once and check where their rows went.
"""

from __future__ import annotations

from typing import Any

import psycopg
from citusfixtures import PARTITIONS
from test_workflows import (
    flows_dir,
    test_children_and_combinators,
    test_cli_start_signal_wait,
    test_race_abandons_wait_so_signal_goes_to_next,
    test_signals_buffered_then_wait_times_out,
    test_tasks_in_sequence,
    test_timer_fires_on_time,
    wf_worker,
)

from rhythm.runtime.client import Client
from rhythm.runtime.partitions import part_of
from rhythm.runtime.worker import Worker

__all__ = [
    "flows_dir",
    "test_children_and_combinators",
    "test_cli_start_signal_wait",
    "test_race_abandons_wait_so_signal_goes_to_next",
    "test_signals_buffered_then_wait_times_out",
    "test_tasks_in_sequence",
    "test_timer_fires_on_time",
    "wf_worker",
]

ROOTS = 8  # of each kind: 24 trees, so every partition of 4 gets some (fixed ids)


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(sql).fetchall()]


def _start_trees(client: Client) -> dict[str, Any]:
    """ROOTS of each: a signal wait then a wait that times out, a short timer, and two
    child workflows plus one that does not exist; their expected results by id."""
    expected: dict[str, Any] = {}
    for i in range(ROOTS):
        waiter = client.start("waiter", id=f"waiter-{i}").id
        client.signal(waiter, "go", {"n": i})
        expected[waiter] = [{"n": i}, "TimeoutError"]
        expected[client.start("sleeper", id=f"sleeper-{i}").id] = True
        expected[client.start("parent", id=f"parent-{i}").id] = [12, 13, "ChildWorkflowError"]
    return expected


def _roots_of(url: str) -> dict[str, tuple[str, int]]:
    """Every execution's root and partition (walking parent ids up)."""
    rows = {id_: (parent, part) for id_, parent, part in
            _rows(url, "SELECT id, parent_id, part FROM rhythm.executions")}

    def root(id_: str) -> str:
        parent = rows[id_][0]
        return id_ if parent is None else root(parent)

    return {id_: (root(id_), part) for id_, (_, part) in rows.items()}


def test_signals_timers_and_children_of_many_trees_across_partitions(
    db_url: str, client: Client, wf_worker: Worker
) -> None:
    expected = _start_trees(client)
    results = {id_: client.run(id_).result(timeout=30) for id_ in expected}
    assert results == expected
    where = _roots_of(db_url)
    assert len(where) > 3 * ROOTS  # the children and tasks are there too
    root_parts = {id_: part for id_, (root, part) in where.items() if id_ == root}
    assert len(set(root_parts.values())) > 1, f"every tree in one partition: {root_parts}"
    assert root_parts == {id_: part_of(id_, PARTITIONS) for id_ in root_parts}
    strays = {id_: (root, part, where[root][1]) for id_, (root, part) in where.items()
              if part != where[root][1]}
    assert not strays, f"rows outside their tree's partition (root, part, root's): {strays}"


def test_the_rows_are_spread_over_both_citus_workers(
    db_url: str, client: Client, wf_worker: Worker
) -> None:
    for id_ in _start_trees(client):
        client.run(id_).result(timeout=30)
    shards = _rows(db_url, "SELECT count(*) FROM citus_shards "
                           "WHERE table_name = 'rhythm.executions'::regclass")[0][0]
    assert shards > 1
    per_node = dict(_rows(db_url, """
        SELECT s.nodeport, sum(r.result::bigint)
          FROM run_command_on_shards('rhythm.executions', 'SELECT count(*) FROM %s') r
          JOIN citus_shards s ON s.shardid = r.shardid
         GROUP BY s.nodeport"""))
    workers = {port for (port,) in _rows(db_url, "SELECT node_port FROM "
                                                 "citus_get_active_worker_nodes()")}
    assert len(workers) == 2
    assert sum(per_node.values()) == _rows(db_url, "SELECT count(*) FROM rhythm.executions")[0][0]
    assert all(per_node.get(port, 0) > 0 for port in workers), per_node
