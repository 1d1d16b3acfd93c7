"""``rhythm fork``: a new execution from the saved state of an old one.

The fork starts from the snapshot of step N of the source (``from_step``, read from its
history: ``rhythm.observe.history.snapshot_at``), or from its current snapshot when it
is suspended and no step is given. The fork gets the promises that snapshot can reach:

- those settled in the source by now are copied with their outcome: the effect happened,
  it is not done again (a task that finished after step N is not run again either: the
  fork resumes with its recorded result, as a fixed version should);
- those still pending are issued again for the fork: a task or child as a new execution
  that settles the fork's promise, a timer with its due time, a signal wait waiting for
  signals sent to the fork (signals buffered for the source stay with it); a combinator
  is pending again and decided from its members.

A promise the snapshot reaches that the source has since deleted (a settled one nothing
could reach any more) cannot be copied: the fork is refused with that reason. The fork
runs ``to_version`` (default the source's), mapped as ``rhythm upgrade`` maps, and records
where it comes from in its ``options`` (``forked_from``) and in a ``forked`` history entry
``{from_id, from_step}``. The fork is an operation (:func:`fork_op`) that the sync and
async clients run alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rhythm.errors import InputError, UnknownName
from rhythm.flowrt import codec
from rhythm.observe.history import record_op, stored_snapshot_op
from rhythm.runtime.activation import task_options
from rhythm.runtime.operations import Op, new_execution_id
from rhythm.runtime.partitions import Topology, generated_id
from rhythm.upgrade.machines import Machines
from rhythm.upgrade.plan import Incompatible, map_snapshot


class ForkRefused(InputError):
    """The fork cannot be made (no snapshot to start from, a promise it needs is gone,
    the new version is incompatible, the id is taken)."""


@dataclass(frozen=True)
class Fork:
    id: str
    from_id: str
    from_step: int
    version: str
    reissued: list[int]  # the pending promises issued again for the fork


def fork_op(topology: Topology, now: datetime, source_id: str, *,
            to_version: str | None = None, new_id: str | None = None,
            from_step: int | None = None, values: dict[str, Any] | None = None,
            machines: Machines | None = None) -> Op[Fork]:
    """Make the fork of ``source_id``: one operation, one transaction (either client)."""
    machines = machines or Machines()
    new_id = new_id or new_execution_id("workflow")
    new_part = topology.part_of(new_id)
    rows = yield "fork_source", {"id": source_id}
    source = rows[0] if rows else None
    if source is None or source["kind"] != "workflow":
        raise UnknownName(f"no workflow execution with id {source_id!r}")
    if from_step is None:
        if source["snapshot"] is None:
            raise ForkRefused(f"execution {source_id!r} is {source['status']} and has no "
                              "current snapshot; give --from-step N")
        saved, step = source["snapshot"], int(source["activations"])
    else:
        saved, step = (yield from stored_snapshot_op(source_id, from_step)), from_step
    target = to_version or source["version"]
    old = yield from machines.load(source["name"], source["version"])
    new = yield from machines.load(source["name"], target)
    try:
        snapshot = map_snapshot(old, new, saved, values).snapshot
    except Incompatible as err:
        raise ForkRefused(f"cannot fork onto version {target[:12]}: {err}") from None
    options = {**(source["options"] or {}), "forked_from": source_id}
    made = yield "insert_fork", {
        "id": new_id, "name": source["name"], "version": target,
        "inputs": json.dumps(source["inputs"]), "queue": source["queue"],
        "priority": source["priority"], "options": json.dumps(options), "now": now,
    }
    if not made:
        raise ForkRefused(f"execution id {new_id!r} is taken")
    promises = {r["promise_id"]: r for r in (yield "fork_promises", {"id": source_id})}
    reach = _reachable(saved, promises, step, source_id)
    copies, effects = _copies([promises[pid] for pid in sorted(reach)], new_part,
                              topology.partitions)
    if copies:
        yield "write_promises", {"id": new_id, "now": now,
                                 "rows": json.dumps(copies, default=str)}
    if effects:  # (their wake-ups, and the fork's, are sent by the driver: notices)
        yield "insert_effects", {"id": new_id, "now": now, "rows": json.dumps(effects),
                                 "default_queue": source["queue"]}
    next_id = max([int(source["next_promise_id"] or 1), *(pid + 1 for pid in promises)])
    yield "insert_fork_snapshot", {
        "id": new_id, "snapshot": json.dumps(snapshot), "next_promise_id": next_id,
        "waiting_on": saved.get("waiting"), "refs": sorted(reach), "activations": step,
        "now": now}
    yield from record_op(new_id, "forked", {"from_id": source_id, "from_step": step}, at=now)
    return Fork(new_id, source_id, step, target, [e["promise_id"] for e in effects])


def _reachable(saved: dict[str, Any], rows: dict[int, dict[str, Any]], step: int,
               source_id: str) -> set[int]:
    """The promises the snapshot can reach: its variables' and the one it waits on, and
    the members of combinators among them (ForkRefused when one of them is gone)."""
    todo = set(codec.promise_ids(saved.get("vars")))
    if isinstance(saved.get("waiting"), int):
        todo.add(saved["waiting"])
    found: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        row = rows.get(pid)
        if row is None:
            raise ForkRefused(f"promise {pid} of step {step} of {source_id!r} is no longer "
                              "stored (settled and forgotten since); fork from a later step")
        found.add(pid)
        for member in (row["params"] or {}).get("members", []):
            if isinstance(member, dict) and "promise" in member:
                todo.add(int(member["promise"]))
    return found


def _copies(promises: list[dict[str, Any]], part: int, partitions: int
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The promise rows of the fork, and the executions to create for its pending tasks
    and children (each with a new id, kept in the promise's params as an activation
    does)."""
    rows, effects = [], []
    for p in promises:
        params = dict(p["params"] or {})
        target, state, value, settled = p["target"], p["state"], p["value"], p["settled_ms"]
        if state == "pending" and p["kind"] in ("task", "child"):
            target = generated_id("t" if p["kind"] == "task" else "w", part, partitions)
            params["execution_id"] = target
            options = params.get("options") or {}
            effects.append({
                "id": target, "kind": "task" if p["kind"] == "task" else "workflow",
                "name": params["name"], "version": None, "inputs": params["inputs"],
                "queue": options.get("queue"), "priority": options.get("priority") or 0,
                "max_retries": options.get("retries"), "options": task_options(options),
                "promise_id": p["promise_id"]})
        elif p["kind"] == "combinator":
            state, value, settled = "pending", None, None  # decided again from its members
        rows.append({"promise_id": p["promise_id"], "kind": p["kind"], "target": target,
                     "state": state, "value": value,
                     "due_at": p["due_at"].isoformat() if p["due_at"] and state == "pending"
                     else None,
                     "params": params, "created_ms": p["created_ms"], "settled_ms": settled})
    return rows, effects
