"""History entries of the operations that wrote none before (issue 20, leftovers): the
bulk start (``start_many``, sync and async), a child cancelled because its parent was,
and where a completed workflow returned - each on the real worker, entry by entry."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from conftest import flows_worker, one_row
from test_history_parity import comparable

from rhythm.observe.history import HistoryEntry
from rhythm.runtime.client import AsyncClient, Client
from rhythm.testing import run_flow

PLUS_ONE = 'return await Task.run("add", { a: Inputs.n, b: 1 })\n'


def kinds(entries: list[HistoryEntry]) -> list[tuple[int, str, int | None]]:
    return [(e.seq, e.kind, e.step) for e in entries]


def test_start_many_writes_a_started_entry_for_each_workflow_it_starts(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """Sync and async: each execution the bulk start created begins with `started` (seq
    1, its name, version and run), as `start` writes it; an id that existed already
    (the batch leaves it as it is) gets no second one."""
    taken = client.start("nobody-registered", id=f"taken-{uuid.uuid4().hex[:8]}").id
    with flows_worker(db_url, tmp_path, {"plus_one": PLUS_ONE}):
        version = one_row(db_url, "SELECT version FROM rhythm.workflow_versions "
                          "WHERE name = 'plus_one'")[0]
        runs = client.start_many([("plus_one", {"n": n}) for n in range(3)]
                                 + [("nobody-registered", None, {"id": taken})])

        async def started_async() -> list[str]:
            async with AsyncClient(db_url) as aclient:
                made = await aclient.start_many([("plus_one", {"n": 7}),
                                                 ("plus_one", {"n": 8})])
                return [run.id for run in made]

        ids = [run.id for run in runs[:3]] + asyncio.run(started_async())
        for execution_id in ids:
            client.wait(execution_id, timeout=15)
        histories = {i: client.history(i) for i in ids}
    for execution_id, entries in histories.items():
        assert kinds(entries) == [(1, "started", None), (2, "activation", 1),
                                  (3, "activation", 2)], execution_id
        first = entries[0]
        assert first.detail == {"name": "plus_one", "version": version, "run_no": 1}
        assert first.worker is None
    assert kinds(client.history(taken)) == [(1, "started", None)]
    assert one_row(db_url, "SELECT history_seq FROM rhythm.executions WHERE id = %s",
                   (taken,)) == (1,)



RETURNS = """const a = await Task.run("add", { a: Inputs.x, b: 0 })
if (a > 0) {
  return "positive"
}
try {
  if (a < -5) {
    return await Task.run("add", { a: a, b: 0 })
  }
  return "negative"
} finally {
  console.log("done")
}
"""


def test_a_completed_workflow_ends_at_the_line_of_its_return(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """The ending entry's line is the `return` that ended the run (each branch its own,
    through a finally, and `return await`), not the line its last state starts at; the
    in-memory runner records the same entries."""
    endings = {}
    with flows_worker(db_url, tmp_path, {"returns": RETURNS}):
        for x, line in ((1, 3), (-1, 9), (-9, 7)):
            run = client.start("returns", {"x": x})
            client.wait(run.id, timeout=15)
            stored = [e.to_json() for e in client.history(run.id)]
            endings[x] = stored[-1]["detail"]["stopped"]
            assert endings[x]["line"] == line, x
            in_memory = run_flow(RETURNS, {"x": x}, {"tasks": {"add": {"returns": x}}},
                                 name="returns")
            assert comparable(in_memory.history) == comparable(stored)
    assert {e["status"] for e in endings.values()} == {"completed"}
