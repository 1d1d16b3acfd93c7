"""Constant storage for endless workflows (issue 19, docs/lifecycle.md "Storage"): the
commit of a suspending activation deletes the promises its new snapshot can no longer
reach and the signals they took, so a workflow's rows do not grow with its iterations.
The in-memory runner agrees on the outcome of such a loop (test_differential.py,
``loop_forgets_what_it_passed``); here a real worker runs it and the rows are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, wait_for

from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker

LOOP = """
let total = 0
for (let i = 0; i < Inputs.n; i++) {
  total += await Task.run("add", { a: i, b: 1 })
  await Promise.race([Timer.delay(0.01), Timer.delay(3600)])
  Task.run("add", { a: 0, b: 0 })
  const both = await Promise.all([Task.run("add", { a: 1 }), Signal.next("tick")])
  total += both[1]
}
const last = await Signal.next("done")
return total + last
"""


@pytest.fixture
def worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    with flows_worker(db_url, tmp_path, {"loop": LOOP}) as w:
        yield w


def _rows(url: str, execution_id: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM rhythm.promises WHERE execution_id = %(id)s),"
            " (SELECT count(*) FROM rhythm.promises WHERE execution_id = %(id)s"
            "    AND kind = 'signal' AND target = 'done' AND state = 'pending'),"
            " (SELECT count(*) FROM rhythm.signals WHERE execution_id = %(id)s),"
            " (SELECT count(*) FROM rhythm.executions WHERE parent_id = %(id)s)",
            {"id": execution_id}).fetchone()
    assert row is not None
    return dict(zip(("promises", "waiting", "signals", "requested"), row, strict=True))


def _at_the_last_wait(url: str, execution_id: str) -> dict[str, int]:
    return wait_for(lambda: (rows := _rows(url, execution_id))["waiting"] and rows,
                    timeout=30, what="the loop to reach its last wait")


def test_a_loop_keeps_the_same_rows_after_3_turns_and_after_40(
    db_url: str, worker: Worker
) -> None:
    """Each turn leaves a settled task, a timer that lost a race, a fire-and-forget
    task, a settled Promise.all and a signal taken from the buffer; at the last wait
    only that wait is left, after 3 turns as after 40. The executions the loop requested
    stay (they are executions of their own, deleted by retention)."""
    with Client(db_url) as client:
        short, long = client.start("loop", {"n": 3}), client.start("loop", {"n": 40})
        for run, turns in ((short, 3), (long, 40)):
            for _ in range(turns):  # buffered, or delivered to a waiting turn
                client.signal(run.id, "tick", 2)
        few, many = _at_the_last_wait(db_url, short.id), _at_the_last_wait(db_url, long.id)
        assert few == {"promises": 1, "waiting": 1, "signals": 0, "requested": 3 * 3}
        assert many == {"promises": 1, "waiting": 1, "signals": 0, "requested": 40 * 3}
        for run in (short, long):
            client.signal(run.id, "done", 1000)
        # sum(i + 1) + 2 per turn + 1000
        assert short.result(timeout=20) == 6 + 6 + 1000
        assert long.result(timeout=20) == 820 + 80 + 1000
