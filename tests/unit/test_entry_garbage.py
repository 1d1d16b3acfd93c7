"""A history entry is built on every activation: it must leave no reference cycle
behind (each would wait for the garbage collector; a recursive closure in
``settled_list`` once left seven objects per workflow step)."""

from __future__ import annotations

import gc

from rhythm.engine.promises import PromiseTable
from rhythm.observe import entries


def _table() -> PromiseTable:
    """Two settled tasks read through a combinator, and a pending one."""
    table = PromiseTable([], next_id=1)
    members = []
    for i in (1, 2):
        task = table.create("task", {"name": "t", "inputs": {"i": i}, "options": {}}, 0)
        table.settle(task.id, True, i, 1)
        members.append({"promise": task.id})
    table.create("combinator", {"combinator": "all", "members": members}, 0)
    table.create("task", {"name": "t", "inputs": {"i": 3}, "options": {}}, 1)
    return table


def test_building_an_entry_leaves_no_garbage_cycle() -> None:
    table = _table()
    packed = entries.pack_snapshot({"label": 2, "vars": {"i": 3}})
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            detail = entries.activation_detail(
                resumed_label=1, stopped_label=2, status="suspended", lines={1: 1, 2: 2},
                table=table, read=[3], requested=[4], packed=packed, waiting_on=4)
            entries.commit_fields(detail, packed)
        assert [s[2] for s in detail["in"]] == ["t", "t"]  # (the members, read)
        assert gc.collect() == 0
    finally:
        gc.enable()
