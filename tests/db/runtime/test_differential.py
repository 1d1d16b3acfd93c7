"""Differential test (issue 16, item 2): generated programs that suspend - tasks,
failures, timers, signal waits, children, races and the other combinators over mixes,
try/catch/finally around awaits, loops with awaits, cancellation - must give the same
status, result, error and calls in memory (``rhythm run``) and on Postgres.

The programs come from a seeded generator (``tests/flowgen.py``), so a failure names a
program that can be printed and run again. All of them run at once on one worker and
one database, on one manual clock (see ``pgdriver.py``). The conformance cases get the
same comparison in ``test_conformance_pg.py``.
"""

from __future__ import annotations

import os

import psycopg
import pytest
from conftest import running_worker
from flowgen import KID, TASKS, FlowGen, Program
from pgdriver import START, Driver, mocked_registry
from test_conformance_pg import assert_same_outcome

from rhythm.engine.mocks import parse_mocks
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.partitions import part_of
from rhythm.runtime.versions import WorkflowVersions
from rhythm.store.partitions import set_layout
from rhythm.testing import run_flow

# Another seed explores other programs: RHYTHM_DIFF_SEED=7 pytest tests/db/runtime/...
SEED = int(os.environ.get("RHYTHM_DIFF_SEED", "16"))
PROGRAMS = 60  # about 30 s on two busy cores


SIGNAL_GO = [{"name": "go", "payload": 5, "after": "10m"}]
FIXED = [  # the issue's own programs, besides the generated ones
    Program("race_after_suspension", (
        'const a = await Task.run("echo", {v: 1})\n'
        'const r = await Promise.race([Signal.next("go"), Timer.delay("1h")])\n'
        "return {a, r}\n"), {"tasks": TASKS, "signals": SIGNAL_GO}),
    Program("all_after_suspension", (
        'await Timer.delay("1m")\n'
        'return await Promise.all([Timer.delay("1m"), Signal.next("go"), '
        'Workflow.run("kid", {s: 60.5, v: 2, fail: false})])\n'),
        {"tasks": TASKS, "signals": SIGNAL_GO}),
    Program("finally_mutates_result", "let o = {n: 1}\ntry { return o } finally { o.n = 2 }\n"),
    Program("empty_objects", (
        "let out = [await Promise.all({}), await Promise.allSettled({})]\n"
        "try { await Promise.any({}) } catch (e) { out.push(e) }\n"
        "return out\n")),
    # Constant storage (issue 19): each turn leaves behind a settled task, a timer that
    # lost a race, a fire-and-forget task and timer, now and then a child; the commit
    # deletes what the snapshot no longer reaches. An un-awaited signal wait is kept (it
    # still takes the "x" signal), and two buffered "go" signals are taken by waits that
    # are forgotten in the activation that created them.
    Program("loop_forgets_what_it_passed", (
        'let out = []\n'
        'Signal.next("x")\n'
        'for (let i = 0; i < 12; i++) {\n'
        '  const v = await Task.run("echo", {v: i})\n'
        '  const r = await Promise.race([Timer.delay("1m"), Timer.delay("1h")])\n'
        '  Task.run("echo", {v: "forgotten"})\n'
        '  Timer.delay("2h")\n'
        '  const p = Task.run("echo", {v: i * 2})\n'
        '  if (i % 4 === 0) { out.push(await Workflow.run("kid", {s: 1, v: i, fail: false})) }\n'
        '  out.push([v, r, await p])\n'
        '}\n'
        'out.push(await Signal.next("go"), await Signal.next("go"))\n'
        'try { await Signal.next("x", {timeout: "5m"}) } catch (e) { out.push(e.name) }\n'
        'await Timer.delay("1m")\n'
        'return out\n'), {"tasks": TASKS, "signals": [
            {"name": "go", "payload": 1, "after": "1m"},
            {"name": "go", "payload": 2, "after": "2m"},
            {"name": "x", "payload": "taken", "after": "3m"}]}),
    Program("saga_cancelled", (
        'await Task.run("echo", {v: "charge"})\n'
        'try { await Signal.next("ship") } catch (e) {\n'
        '  await Timer.delay("1m")\n'
        '  const kid = await Workflow.run("kid", {s: 1, v: "undo", fail: false})\n'
        '  return [e.name, kid, await Task.run("echo", {v: "refund"})]\n'
        "}\n"), {"tasks": TASKS, "cancel": {"after": "1h"}}),
]


def programs() -> list[Program]:
    gen = FlowGen(SEED)
    return FIXED + [gen.program(f"g{i}") for i in range(PROGRAMS)]


def in_memory(program: Program) -> dict[str, object]:
    result = run_flow(program.source, {}, program.mocks, name=program.name,
                      workflows={"kid": KID}, start_time=START)
    assert result.status != "compile_error", result.summary()
    assert result.internal_errors == [], result.internal_errors[0]
    return {"status": result.status, "result": result.result, "error": result.error,
            "calls": result.calls}


@pytest.mark.parametrize("partitions", [1, 4])
def test_generated_programs_agree_in_memory_and_on_postgres(
    db_url: str, partitions: int
) -> None:
    """With 4 partitions too (issue 17): batches of outcomes and group commits then mix
    partitions, and must split, and every tree must stay in its root's partition."""
    set_layout(db_url, partitions, citus=False)
    progs = programs()
    versions = WorkflowVersions()
    versions.add_source(KID, "kid.flow", "kid")
    for program in progs:
        versions.add_source(program.source, f"{program.name}.flow", program.name)
    clock = ManualClock(START)
    registry = mocked_registry(parse_mocks({"tasks": TASKS}))
    with running_worker(db_url, versions=versions, registry=registry, clock=clock,
                        poll_interval=0.2, concurrency=8) as worker:
        assert worker.registered.wait(10)
        driver = Driver(db_url, clock)
        roots = {driver.start(p.name, {}, parse_mocks(p.mocks)): p for p in progs}
        outcomes = driver.run(list(roots))
    failures = []
    for root, program in roots.items():
        try:
            assert_same_outcome(outcomes[root], in_memory(program))
        except AssertionError as err:
            failures.append(f"--- {program.name} (mocks {program.mocks}):\n"
                            f"{program.source}\n{err}")
    if failures:
        pytest.fail(f"{len(failures)} of {len(progs)} programs differ:\n" + "\n".join(failures))
    assert_trees_in_their_roots_partition(db_url, partitions)


def assert_trees_in_their_roots_partition(url: str, partitions: int) -> None:
    """Every execution is where its id says, a child is in its parent's partition, and
    the roots spread over more than one partition when there are several."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, part, parent_id FROM rhythm.executions").fetchall()
    part = {execution_id: p for execution_id, p, _ in rows}
    assert all(part_of(execution_id, partitions) == p for execution_id, p in part.items())
    assert all(part[child] == part[parent] for child, _, parent in rows if parent)
    roots = {p for _, p, parent in rows if parent is None}
    assert len(roots) == min(partitions, 4), roots
