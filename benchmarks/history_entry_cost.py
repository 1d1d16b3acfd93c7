"""What building one activation's history entry costs the worker in Python (issue 20).

    .venv/bin/python benchmarks/history_entry_cost.py [--n 20000]

The entry of a step of `rhythm bench workflows`' 10-step workflow (its snapshot as that
workflow saves it): the snapshot's JSON and zlib, the detail in its stored form, the
commit's fields, as the worker's ``_entry`` and ``_send_one`` build them. Prints the
best of five rounds, per entry, and the sizes. A micro-benchmark of one function: no
database, seconds to run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import timeit
from typing import Any

from rhythm.engine.promises import PromiseTable
from rhythm.observe import entries

SNAPSHOT = {"format": 1, "version": hashlib.sha256(b"bench_steps").hexdigest(), "label": 2,
            "waiting": 2,
            "vars": {"codec": 1, "vars": ["i", 4]}}
LINES = {0: 1, 2: 2}


def _table() -> PromiseTable:
    table = PromiseTable([], next_id=1)
    done = table.create("task", {"name": "bench_noop", "inputs": {"i": 3}, "options": {}}, 0)
    table.settle(done.id, True, None, 1)
    table.create("task", {"name": "bench_noop", "inputs": {"i": 4}, "options": {}}, 1)
    return table


def one_entry(table: PromiseTable) -> dict[str, Any]:
    packed = entries.pack_snapshot(SNAPSHOT)
    detail = entries.activation_detail(
        resumed_label=2, stopped_label=2, status="suspended", lines=LINES, table=table,
        read=[1], requested=[2], packed=packed, waiting_on=2)
    return entries.commit_fields(detail, packed)


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/history_entry_cost.py")
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    table = _table()
    best = min(timeit.repeat(lambda: one_entry(table), number=args.n, repeat=5)) / args.n
    packed = entries.pack_snapshot(SNAPSHOT)
    wire = json.dumps(one_entry(table))
    print(f"history entry: {best * 1e6:.1f} us per activation (best of 5 x {args.n}); "
          f"snapshot {packed.size} B of JSON -> {len(packed.data or b'')} B stored "
          f"(zlib from {entries.RAW_BELOW} B on); "
          f"the entry in the commit's batch {len(wire)} B")


if __name__ == "__main__":
    main()
