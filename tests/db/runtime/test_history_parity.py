"""The in-memory runner records the history the Postgres worker writes (issue 20): the
same programs run on both, and their entries compare equal - all but what cannot match
(``at``, ``worker``, a timer's ``due_at``: the clocks differ)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import flows_worker, wait_for

from rhythm.engine.memory import MemoryWorld, RunSettings
from rhythm.engine.mocks import parse_mocks
from rhythm.observe.history import read_history
from rhythm.runtime.client import Client
from rhythm.testing import FlowLoader, run_flow

ADDER = """const a = await Task.run("add", { a: Inputs.x, b: 1 })
const b = await Task.run("add", { a: a, b: 10 })
return { a: a, b: b }
"""

ORDER = """let total = 0
for (let i = 0; i < 2; i++) {
  total = await Task.run("add", { a: total, b: i + 1 })
}
const approval = await Signal.next("approval")
await Timer.delay(0.2)
const kid = await Workflow.run("adder", { x: total })
const retried = await Task.run("flaky", { key: Inputs.key, failures: 1 }, { retries: 2 })
return { total: total, approval: approval, kid: kid, retried: retried }
"""

FAILING = """let why = null
try {
  await Task.run("bad_value", { key: Inputs.key })
} catch (e) {
  why = e.name
}
try {
  await Promise.race([Signal.next("never", { timeout: "200ms" }), Timer.delay(30)])
} catch (e) {
  why = why + "/" + e.name
}
throw { name: "Oops", message: why }
"""

ORDER_MOCKS = {
    "tasks": {
        # (the Postgres worker's add: 0+1, 1+2; then the child's 3+1, 4+10)
        "add": {"sequence": [{"returns": 1}, {"returns": 3}, {"returns": 4}, {"returns": 14}]},
        "flaky": {"sequence": [{"fails": {"type": "OSError", "message": "down (attempt 1)"}},
                               {"returns": "ok after 2"}]},
    },
    "signals": [{"name": "approval", "payload": {"by": "ann"}, "after": "1s"}],
}
FAILING_MOCKS = {"tasks": {"bad_value": {"fails": {"type": "ValueError", "message": "bad card"}}}}


def comparable(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for entry in entries:
        entry = {k: v for k, v in entry.items() if k not in ("at", "worker")}
        detail = dict(entry["detail"])
        detail["effects"] = [{k: v for k, v in e.items() if k != "due_at"}
                             for e in detail.get("effects", [])]
        out.append({**entry, "detail": detail})
    return out


def on_postgres(url: str, client: Client, name: str, signal: str | None) -> list[dict[str, Any]]:
    run = client.start(name, {"key": f"p-{uuid.uuid4().hex}"})
    if signal is not None:  # (sent once it waits, as the mock's "after" does in memory)
        wait_for(lambda: any(e.detail.get("waiting", {}) and e.detail["waiting"]["kind"]
                             == "signal" for e in client.history(run.id)), what="the wait")
        client.signal(run.id, signal, {"by": "ann"})
    client.wait(run.id, timeout=15)
    with psycopg.connect(url, autocommit=True) as conn:
        return [e.to_json() for e in read_history(conn, run.id)]


@pytest.mark.parametrize(("name", "mocks", "signal"), [
    ("order", ORDER_MOCKS, "approval"),
    ("failing", FAILING_MOCKS, None),
])
def test_memory_and_postgres_record_the_same_history(
    db_url: str, client: Client, tmp_path: Path, name: str, mocks: dict[str, Any],
    signal: str | None,
) -> None:
    flows = {"adder": ADDER, "order": ORDER, "failing": FAILING}
    in_memory = run_flow(flows[name], {"key": "k"}, mocks, name=name,
                         workflows={"adder": ADDER})
    assert in_memory.status == ("completed" if name == "order" else "failed")
    with flows_worker(db_url, tmp_path, flows):
        stored = on_postgres(db_url, client, name, signal)
    assert len(stored) >= 3
    assert comparable(in_memory.history) == comparable(stored)


CANCELLED_PARENT = """const kid = Workflow.run("waiter", {})
let why = null
try {
  await kid
} catch (e) {
  why = e.name
}
try {
  await kid
} catch (e) {
  why = why + "/" + e.name
}
return why
"""
WAITER = 'const go = await Signal.next("go")\nreturn go\n'


def in_memory_histories(flows: dict[str, str], root: str, mocks: dict[str, Any]
                        ) -> tuple[str, list[list[dict[str, Any]]]]:
    """The root's status and the histories of the root and its children, in memory."""
    loader = FlowLoader(None, flows)
    world = MemoryWorld(loader, parse_mocks(mocks), RunSettings(start_ms=0))
    outcome = world.run(loader.load(root), root, {})
    histories = world.histories()
    return outcome.status, [histories[outcome.execution_id]] + [
        h for i, h in sorted(histories.items()) if i != outcome.execution_id]


def test_a_child_cancelled_with_its_parent_has_its_cancel_requested_entry(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """The parent's cancellation reaches its suspended child: the child's history says
    `cancel_requested` (with its parent) in the parent's commit, then its cancelled
    ending; the in-memory runner records the same, for parent and child."""
    flows = {"parent": CANCELLED_PARENT, "waiter": WAITER}
    status, memory = in_memory_histories(flows, "parent", {"cancel": {"after": "1s"}})
    assert status == "cancelled"
    with flows_worker(db_url, tmp_path, flows):
        run = client.start("parent")
        kid_id = wait_for(lambda: client.list(parent_id=run.id), what="the child")[0]["id"]
        wait_for(lambda: client.get(kid_id)["status"] == "suspended"
                 and client.get(run.id)["status"] == "suspended", what="both waiting")
        client.cancel(run.id)
        client.wait(run.id, timeout=15)
        parent = [e.to_json() for e in client.history(run.id)]
        kid = [e.to_json() for e in client.history(kid_id)]
    assert client.get(run.id)["status"] == "cancelled"
    assert [(e["kind"], e["step"]) for e in kid] == [
        ("started", None), ("activation", 1), ("cancel_requested", None), ("activation", 2)]
    assert kid[2]["detail"] == {"run_no": 1, "parent_id": run.id}
    assert kid[3]["detail"]["stopped"]["status"] == "cancelled"
    assert [(e["kind"], e["step"]) for e in parent] == [
        ("started", None), ("activation", 1), ("cancel_requested", None),
        ("activation", 2), ("activation", 3)]
    assert parent[2]["detail"] == {"run_no": 1}

    def without_ids(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = comparable(entries)
        for entry in out:
            entry["detail"].pop("parent_id", None)  # (ids differ: mem-1 / w-...)
        return out

    for mine, stored in zip(memory, [parent, kid], strict=True):
        assert len(mine) == len(stored)
        for a, b in zip(without_ids(mine), without_ids(stored), strict=True):
            assert a == b
    assert memory[1][2]["detail"]["parent_id"] == "mem-1"
