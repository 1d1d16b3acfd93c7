"""``rhythm fork``: a new execution from the saved state of an old one.

Until the history (issue 20) is merged, a fork starts from the source's *current*
snapshot, so the source must be suspended (an ended execution keeps no snapshot); the
``--from-step N`` of the spec needs the history's per-step snapshots and is refused with
that reason. The fork gets a copy of every promise of the source: settled ones as they
are (the effects done before the fork are not repeated), pending ones issued again for
the fork - tasks and children as new executions targeting it, timers with the same due
time, signal waits waiting for signals sent to the fork. Buffered signals of the source
are not copied (they were sent to it). The fork runs ``to_version`` (default the
source's), mapped as ``rhythm upgrade`` maps, and records where it comes from in its
``options`` (``forked_from``) and in a ``forked`` history entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.errors import InputError, UnknownName
from rhythm.runtime.activation import task_options
from rhythm.runtime.clock import Clock
from rhythm.runtime.operations import new_execution_id
from rhythm.runtime.partitions import Topology, generated_id
from rhythm.runtime.sql import Q
from rhythm.upgrade.history import record_entry
from rhythm.upgrade.machines import Machines
from rhythm.upgrade.plan import Incompatible, map_snapshot


class ForkRefused(InputError):
    """The fork cannot be made (the source has no snapshot to start from, the step is
    not available, the new version is incompatible, the id is taken)."""


@dataclass(frozen=True)
class Fork:
    id: str
    from_id: str
    version: str
    reissued: list[int]  # the pending promises issued again for the fork


def fork(conn: psycopg.Connection[Any], topology: Topology, clock: Clock, source_id: str, *,
         to_version: str | None = None, new_id: str | None = None,
         from_step: int | None = None, values: dict[str, Any] | None = None,
         machines: Machines | None = None) -> Fork:
    """Make the fork of ``source_id`` in one transaction (``conn``: autocommit)."""
    if from_step is not None:
        raise ForkRefused("--from-step needs the execution history (issue 20), which this "
                          "version of Rhythm does not have yet; a fork starts from the "
                          "current snapshot of a suspended execution")
    machines = machines or Machines()
    part = topology.part_of(source_id)
    new_id = new_id or new_execution_id("workflow")
    new_part = topology.part_of(new_id)
    now = clock.now()
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        source = cur.execute(Q["fork_source"], {"part": part, "id": source_id}).fetchone()
        if source is None:
            raise UnknownName(f"no execution with id {source_id!r}")
        if source["kind"] != "workflow" or source["snapshot"] is None:
            raise ForkRefused(f"execution {source_id!r} is {source['status']} and has no "
                              "saved state to fork from (only a suspended workflow has one "
                              "until the history lands)")
        target = to_version or source["version"]
        old = machines.get(conn, source["name"], source["version"])
        new = machines.get(conn, source["name"], target)
        try:
            snapshot = map_snapshot(old, new, source["snapshot"], values).snapshot
        except Incompatible as err:
            raise ForkRefused(f"cannot fork onto version {target[:12]}: {err}") from None
        options = {**(source["options"] or {}), "forked_from": source_id}
        made = cur.execute(Q["insert_fork"], {
            "part": new_part, "id": new_id, "name": source["name"], "version": target,
            "inputs": json.dumps(source["inputs"]), "queue": source["queue"],
            "priority": source["priority"], "options": json.dumps(options), "now": now,
        }).fetchone()
        if made is None:
            raise ForkRefused(f"execution id {new_id!r} is taken")
        wakes = [made["wake"]]
        promises = cur.execute(Q["fork_promises"], {"part": part, "id": source_id}).fetchall()
        rows, effects = _copies(promises, new_part, topology.partitions)
        if rows:
            cur.execute(Q["write_promises"], {"part": new_part, "id": new_id, "now": now,
                                              "rows": json.dumps(rows, default=str)})
        if effects:
            woken = cur.execute(Q["insert_effects"], {
                "part": new_part, "id": new_id, "now": now, "rows": json.dumps(effects),
                "default_queue": source["queue"]}).fetchall()
            wakes += [w["wake"] for w in woken if not w["wake"].startswith("!")]
        cur.execute(Q["insert_fork_snapshot"], {
            "part": new_part, "id": new_id, "snapshot": json.dumps(snapshot),
            "next_promise_id": source["next_promise_id"], "waiting_on": source["waiting_on"],
            "refs": source["refs"], "activations": source["activations"], "now": now})
        record_entry(conn, new_id, "forked", {"from_id": source_id,
                                              "from_step": source["activations"]}, at=now)
        cur.execute(Q["wake_workers"], {"wakes": sorted(set(wakes))})
    return Fork(new_id, source_id, target, [e["promise_id"] for e in effects])


def _copies(promises: list[dict[str, Any]], part: int, partitions: int
            ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The promise rows of the fork, and the executions to create for its pending tasks
    and children (each with a new id, kept in the promise's params as an activation
    does)."""
    rows, effects = [], []
    for p in promises:
        params = dict(p["params"] or {})
        target = p["target"]
        if p["state"] == "pending" and p["kind"] in ("task", "child"):
            target = generated_id("t" if p["kind"] == "task" else "w", part, partitions)
            params["execution_id"] = target
            options = params.get("options") or {}
            effects.append({
                "id": target, "kind": "task" if p["kind"] == "task" else "workflow",
                "name": params["name"], "version": None, "inputs": params["inputs"],
                "queue": options.get("queue"), "priority": options.get("priority") or 0,
                "max_retries": options.get("retries"), "options": task_options(options),
                "promise_id": p["promise_id"]})
        rows.append({"promise_id": p["promise_id"], "kind": p["kind"], "target": target,
                     "state": p["state"], "value": p["value"],
                     "due_at": p["due_at"].isoformat() if p["due_at"] else None,
                     "params": params, "created_ms": p["created_ms"],
                     "settled_ms": p["settled_ms"]})
    return rows, effects
