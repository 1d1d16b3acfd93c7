"""``rhythm upgrade``: find the executions pinned to older versions and move them.

Each suspended execution is planned (:func:`rhythm.upgrade.plan.map_snapshot`) from the
snapshot read with its claim token; a compatible one moves in a transaction of its own,
fenced: the UPDATE expects status ``suspended``, that token and the old version, and
moves nothing if an activation claimed it meanwhile (reported ``changed``, never half
moved). Nothing else of the execution changes: its promises, buffered signals, wake-up
(``run_at``) and ``wake_seq`` stay, so a signal racing the move is kept either way, and
promise ids stay valid because the await it waits at has the same shape.

The upgrade is a generator of operations (:func:`upgrade_steps`), so the sync and async
clients run the same code, each with its own driver.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import psycopg

from rhythm.errors import RhythmError, UnknownName
from rhythm.observe.history import record_op
from rhythm.runtime.clock import Clock
from rhythm.runtime.operations import Op, drive, run_each
from rhythm.runtime.partitions import Topology
from rhythm.upgrade.machines import Machines
from rhythm.upgrade.plan import Incompatible, Mapping, map_snapshot

T = TypeVar("T")
Steps = Generator[Op[Any], Any, T]  # operations, one transaction each (ops.run_each)


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

    @property
    def verdict(self) -> str:
        """What happened, in words (``rhythm upgrade``'s and the dashboard's)."""
        text = {"compatible": "compatible", "moved": "moved",
                "running": "skipped: running now; run the upgrade again later",
                "changed": "skipped: it ran meanwhile; run the upgrade again"}
        return text.get(self.outcome, self.reason)

    def line(self) -> str:
        return f"{self.id}: {self.verdict}"


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


def current_version_op(name: str) -> Op[str]:
    rows = yield "current_versions", {"names": [name]}
    if not rows:
        raise UnknownName(f"no registered version of workflow {name!r}")
    return str(rows[0]["version"])


def upgrade_steps(topology: Topology, clock: Clock, name: str, *,
                  from_version: str | None = None, to_version: str | None = None,
                  dry_run: bool = False, values: dict[str, Any] | None = None,
                  machines: Machines | None = None) -> Steps[Report]:
    """Move every suspended execution of ``name`` not on ``to_version`` (default: the
    current version) that can move; ``values`` supplies variables the new version needs
    that a snapshot lacks. Steps: each operation it yields is one transaction of the
    client that runs it (``run_each``), so each move commits on its own."""
    machines = machines or Machines()
    if to_version is None:
        to_version = yield current_version_op(name)
    new = machines.cached(name, to_version) or (yield machines.load(name, to_version))
    report = Report(name, to_version, dry_run)
    for part in topology.all_parts():
        rows = yield _candidates(part, name, to_version, from_version)
        for row in rows:
            report.outcomes.append(
                (yield from _one(clock, machines, new, row, name, dry_run, values)))
    return report


def upgrade_one_steps(topology: Topology, clock: Clock, execution_id: str, *,
                      to_version: str | None = None, dry_run: bool = False,
                      values: dict[str, Any] | None = None,
                      machines: Machines | None = None) -> Steps[Outcome]:
    """:func:`upgrade_steps` for one execution (the dashboard's "Upgrade to latest"): the
    same plan, fence and history entry. UpgradeError when it is no workflow that could
    move (ended, not yet started, already on ``to_version``)."""
    machines = machines or Machines()
    row = yield _candidate(topology.part_of(execution_id), execution_id)
    if row is None or row["kind"] != "workflow":
        raise UnknownName(f"no workflow execution with id {execution_id!r}")
    name = row["name"]
    if to_version is None:
        to_version = yield current_version_op(name)
    if row["status"] not in ("suspended", "running") or row["version"] is None:
        raise UpgradeError(f"execution {execution_id!r} is {row['status']}: only a "
                           "suspended workflow can move to another version")
    if row["version"] == to_version:
        raise UpgradeError(f"execution {execution_id!r} runs version {to_version[:12]} "
                           "already")
    new = machines.cached(name, to_version) or (yield machines.load(name, to_version))
    return (yield from _one(clock, machines, new, row, name, dry_run, values))


def upgrade_execution(conn: psycopg.Connection[Any], topology: Topology, clock: Clock,
                      execution_id: str, **options: Any) -> Outcome:
    """:func:`upgrade_one_steps` on a sync connection (each step a transaction)."""
    outcome: Outcome = run_each(upgrade_one_steps(topology, clock, execution_id, **options),
                                lambda op: drive(conn, op, topology))
    return outcome


def _candidate(part: int, execution_id: str) -> Op[dict[str, Any] | None]:
    rows = yield "upgrade_candidate", {"part": part, "id": execution_id}
    return rows[0] if rows else None


def _candidates(part: int, name: str, to_version: str, from_version: str | None
                ) -> Op[list[dict[str, Any]]]:
    rows = yield "upgrade_candidates", {"part": part, "name": name, "to_version": to_version,
                                        "from_version": from_version}
    return rows


def _one(clock: Clock, machines: Machines, new: Any, row: dict[str, Any], name: str,
         dry_run: bool, values: dict[str, Any] | None) -> Steps[Outcome]:
    version = row["version"]
    if row["status"] != "suspended" or row["snapshot"] is None:
        return Outcome(row["id"], "running", version)
    old = machines.cached(name, version) or (yield machines.load(name, version))
    try:
        mapping = map_snapshot(old, new, row["snapshot"], values)
    except Incompatible as err:
        return Outcome(row["id"], "incompatible", version, str(err))
    if dry_run:
        return Outcome(row["id"], "compatible", version)
    moved = yield _move(row, new.INFO.version, mapping, clock.now())
    return Outcome(row["id"], "moved" if moved else "changed", version)


def _move(row: dict[str, Any], to_version: str, mapping: Mapping, now: datetime) -> Op[bool]:
    """The fenced move, in a transaction of its own: False when an activation claimed
    the execution since its row was read (nothing moved)."""
    params = {"id": row["id"], "now": now, "claim_token": row["claim_token"],
              "from_version": row["version"], "to_version": to_version}
    if not (yield "move_execution", params):
        return False
    if not (yield "move_snapshot", {**params, "snapshot": json.dumps(mapping.snapshot)}):
        # (cannot be: a suspended execution has a snapshot)
        raise RhythmError(f"execution {row['id']!r} lost its snapshot while upgrading")
    yield from record_op(row["id"], "upgraded", {
        "from_version": row["version"], "to_version": to_version,
        "await": mapping.identity, "from_label": mapping.from_label,
        "to_label": mapping.to_label}, at=now)
    return True
