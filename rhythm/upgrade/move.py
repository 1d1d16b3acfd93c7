"""``rhythm upgrade``: find the executions pinned to older versions and move them.

Each suspended execution is planned (:func:`rhythm.upgrade.plan.map_snapshot`) from the
snapshot read with its claim token; a compatible one moves in a transaction of its own,
fenced: the UPDATE expects status ``suspended``, that token and the old version, and
moves nothing if an activation claimed it meanwhile (reported ``changed``, never half
moved). Nothing else of the execution changes: its promises, buffered signals, wake-up
(``run_at``) and ``wake_seq`` stay, so a signal racing the move is kept either way, and
promise ids stay valid because the await it waits at has the same shape.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.errors import RhythmError, UnknownName
from rhythm.observe.history import record_entry
from rhythm.runtime.clock import Clock
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q
from rhythm.upgrade.machines import Machines
from rhythm.upgrade.plan import Incompatible, map_snapshot


class UpgradeError(RhythmError):
    """An upgrade cannot start (unknown workflow, version not registered)."""


@dataclass(frozen=True)
class Outcome:
    """One execution: ``compatible`` (dry run), ``moved``, ``incompatible`` (pinned, with
    the reason), ``running`` (skipped) or ``changed`` (an activation ran meanwhile)."""

    id: str
    outcome: str
    from_version: str
    reason: str = ""

    def line(self) -> str:
        text = {"compatible": "compatible", "moved": "moved",
                "running": "skipped: running now; run the upgrade again later",
                "changed": "skipped: it ran meanwhile; run the upgrade again"}
        return f"{self.id}: {text.get(self.outcome, self.reason)}"


@dataclass
class Report:
    name: str
    to_version: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "to_version": self.to_version, "dry_run": self.dry_run,
                "executions": [{"id": o.id, "outcome": o.outcome, "from_version":
                                o.from_version, "reason": o.reason} for o in self.outcomes]}


def current_version(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute(Q["current_versions"], {"names": [name]}).fetchone()
    if row is None:
        raise UnknownName(f"no registered version of workflow {name!r}")
    return str(row[1])


def upgrade(conn: psycopg.Connection[Any], topology: Topology, clock: Clock, name: str, *,
            from_version: str | None = None, to_version: str | None = None,
            dry_run: bool = False, values: dict[str, Any] | None = None,
            machines: Machines | None = None) -> Report:
    """Move every suspended execution of ``name`` not on ``to_version`` (default: the
    current version) that can move; ``values`` supplies variables the new version needs
    that a snapshot lacks. ``conn`` is an autocommit connection of the caller's."""
    machines = machines or Machines()
    to_version = to_version or current_version(conn, name)
    new = machines.get(conn, name, to_version)
    report = Report(name, to_version, dry_run)
    for part in topology.all_parts():
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(Q["upgrade_candidates"], {
                "part": part, "name": name, "to_version": to_version,
                "from_version": from_version}).fetchall()
        for row in rows:
            report.outcomes.append(
                _one(conn, part, clock, machines, new, row, name, dry_run, values))
    return report


def upgrade_execution(conn: psycopg.Connection[Any], topology: Topology, clock: Clock,
                      execution_id: str, *, to_version: str | None = None,
                      dry_run: bool = False, values: dict[str, Any] | None = None,
                      machines: Machines | None = None) -> Outcome:
    """:func:`upgrade` for one execution (the dashboard's "Upgrade to latest"): the same
    plan, fence and history entry. UpgradeError when it is no workflow that could move
    (ended, not yet started, already on ``to_version``)."""
    machines = machines or Machines()
    part = topology.part_of(execution_id)
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q["upgrade_candidate"], {"part": part, "id": execution_id}
                          ).fetchone()
    if row is None or row["kind"] != "workflow":
        raise UnknownName(f"no workflow execution with id {execution_id!r}")
    to_version = to_version or current_version(conn, row["name"])
    if row["status"] not in ("suspended", "running") or row["version"] is None:
        raise UpgradeError(f"execution {execution_id!r} is {row['status']}: only a "
                           "suspended workflow can move to another version")
    if row["version"] == to_version:
        raise UpgradeError(f"execution {execution_id!r} runs version {to_version[:12]} "
                           "already")
    new = machines.get(conn, row["name"], to_version)
    return _one(conn, part, clock, machines, new, row, row["name"], dry_run, values)


def _one(conn: psycopg.Connection[Any], part: int, clock: Clock, machines: Machines,
         new: Any, row: dict[str, Any], name: str, dry_run: bool,
         values: dict[str, Any] | None) -> Outcome:
    version = row["version"]
    if row["status"] != "suspended" or row["snapshot"] is None:
        return Outcome(row["id"], "running", version)
    try:
        mapping = map_snapshot(machines.get(conn, name, version), new, row["snapshot"], values)
    except Incompatible as err:
        return Outcome(row["id"], "incompatible", version, str(err))
    if dry_run:
        return Outcome(row["id"], "compatible", version)
    now = clock.now()
    params = {"part": part, "id": row["id"], "now": now, "claim_token": row["claim_token"],
              "from_version": version, "to_version": new.INFO.version}
    with conn.transaction():
        if conn.execute(Q["move_execution"], params).rowcount != 1:
            return Outcome(row["id"], "changed", version)
        moved = conn.execute(Q["move_snapshot"],
                             {**params, "snapshot": json.dumps(mapping.snapshot)}).rowcount
        if moved != 1:  # (cannot be: a suspended execution has a snapshot)
            raise RhythmError(f"execution {row['id']!r} lost its snapshot while upgrading")
        record_entry(conn, row["id"], "upgraded", {
            "from_version": version, "to_version": new.INFO.version,
            "await": mapping.identity, "from_label": mapping.from_label,
            "to_label": mapping.to_label}, at=now)
    return Outcome(row["id"], "moved", version)
