"""The history of an execution: read it, read a step's snapshot, append an entry.

The table is ``rhythm.history`` (migration 0015; its contract, shared with the dashboard
and upgrade work, is docs/observability.md "History"). Activation entries are written by
the activation's own commit (:mod:`rhythm.runtime.activation`), the others by the
operation they record, in its transaction (:func:`record_entry`, or the ``record_entry``
statement in :mod:`rhythm.runtime.operations`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.errors import RhythmError, UnknownName
from rhythm.observe.entries import HistoryEntry, unpack_snapshot
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q

__all__ = ["HistoryEntry", "NoSnapshot", "read_history", "record_entry", "snapshot_at"]

KINDS = ("started", "activation", "signal", "cancel_requested", "retry", "upgraded",
         "forked")


class NoSnapshot(RhythmError):
    """A step without a stored snapshot (unknown step, an ending, over the cap)."""


def part_for(conn: psycopg.Connection[Any], execution_id: str) -> int:
    """The execution's partition (the layout read from the database)."""
    row = conn.execute(Q["read_layout"]).fetchone()
    return Topology.from_row(row).part_of(execution_id)


def execution_row(conn: psycopg.Connection[Any], execution_id: str) -> dict[str, Any]:
    """The execution (and its current snapshot); UnknownName when there is none."""
    params = {"id": execution_id, "part": part_for(conn, execution_id)}
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q["history_execution"], params).fetchone()
    if row is None:
        raise UnknownName(f"no execution with id {execution_id!r}")
    return {**row, "part": params["part"]}


def read_history(conn: psycopg.Connection[Any], execution_id: str) -> list[HistoryEntry]:
    """Every entry of the execution, in order (UnknownName when there is none)."""
    return entries_of(conn, execution_id, execution_row(conn, execution_id)["part"])


def entries_of(
    conn: psycopg.Connection[Any], execution_id: str, part: int
) -> list[HistoryEntry]:
    """The entries of an execution known to exist, in partition ``part``."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(Q["read_history"], {"id": execution_id, "part": part}).fetchall()
    return [HistoryEntry(
        seq=r["seq"], at=r["at"], kind=r["kind"], step=r["step"], worker=r["worker"],
        detail=r["detail"], snapshot_bytes=r["snapshot_bytes"],
        snapshot_truncated=bool(r["detail"].get("snapshot_truncated", False)),
    ) for r in rows]


def snapshot_at(conn: psycopg.Connection[Any], execution_id: str, step: int) -> dict[str, Any]:
    """The snapshot activation ``step`` committed (NoSnapshot when there is none)."""
    part = execution_row(conn, execution_id)["part"]
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(Q["history_snapshot"],
                          {"id": execution_id, "part": part, "step": step}).fetchone()
    if row is None:
        raise NoSnapshot(f"execution {execution_id!r} has no step {step} in its history")
    if row["snapshot"] is not None:
        return unpack_snapshot(bytes(row["snapshot"]))
    if row["detail"].get("snapshot_truncated"):
        raise NoSnapshot(f"step {step} of {execution_id!r}: its snapshot "
                         f"({row['snapshot_bytes']} bytes) was over the history cap, not kept")
    status = (row["detail"].get("stopped") or {}).get("status", "ended")
    raise NoSnapshot(f"step {step} of {execution_id!r} {status}: it saved no snapshot")


def record_entry(
    conn: psycopg.Connection[Any], execution_id: str, kind: str, detail: dict[str, Any],
    *, at: datetime, worker: str | None = None,
) -> int:
    """Append one entry in the caller's transaction; its seq (UnknownName: no such
    execution). Takes the execution row's lock until the caller's transaction ends."""
    params = {"id": execution_id, "part": part_for(conn, execution_id), "kind": kind,
              "detail": json.dumps(detail), "at": at, "worker": worker}
    row = conn.execute(Q["record_entry"], params).fetchone()
    if row is None:
        raise UnknownName(f"no execution with id {execution_id!r}")
    return int(row[0])
