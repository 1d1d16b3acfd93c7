"""The history of an execution: read it, read a step's snapshot, append an entry.

The table is ``rhythm.history`` (migration 0015; its contract, shared with the dashboard
and upgrade work, is docs/observability.md "History"). Activation entries are written by
the activation's own commit (:mod:`rhythm.runtime.activation`), the others by the
operation they record, in its transaction (:func:`record_entry`, or the ``record_entry``
statement in :mod:`rhythm.runtime.operations`).

Each read is an operation (``*_op``: a generator of statements,
:mod:`rhythm.runtime.operations`) that the sync and async clients run with their own
driver; the functions that take a connection run the same operations on it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg

from rhythm.errors import RhythmError, UnknownName
from rhythm.observe.entries import HistoryEntry, contract_detail, unpack_snapshot
from rhythm.runtime.operations import Op, T, drive
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q

__all__ = ["HistoryEntry", "NoSnapshot", "history_op", "read_history", "record_entry",
           "record_op", "snapshot_at", "snapshot_op"]

KINDS = ("started", "activation", "signal", "cancel_requested", "retry", "upgraded",
         "forked")


class NoSnapshot(RhythmError):
    """A step without a stored snapshot (unknown step, an ending, over the cap)."""


def run_on(conn: psycopg.Connection[Any], op: Op[T]) -> T:
    """Run ``op`` on a connection of the caller's (the layout read from the database)."""
    return drive(conn, op, Topology.from_row(conn.execute(Q["read_layout"]).fetchone()))


def execution_op(execution_id: str) -> Op[dict[str, Any]]:
    """The execution (and its current snapshot); UnknownName when there is none."""
    rows = yield "history_execution", {"id": execution_id}
    if not rows:
        raise UnknownName(f"no execution with id {execution_id!r}")
    return rows[0]


def history_op(execution_id: str) -> Op[list[HistoryEntry]]:
    """Every entry of the execution, in order (UnknownName when there is none)."""
    yield from execution_op(execution_id)
    return (yield from entries_op(execution_id))


def entries_op(execution_id: str) -> Op[list[HistoryEntry]]:
    """The entries of an execution known to exist."""
    rows = yield "read_history", {"id": execution_id}
    return [_entry(r, contract_detail(r["kind"], r["detail"])) for r in rows]


def _entry(row: dict[str, Any], detail: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        seq=row["seq"], at=row["at"], kind=row["kind"], step=row["step"],
        worker=row["worker"], detail=detail, snapshot_bytes=row["snapshot_bytes"],
        snapshot_truncated=bool(detail.get("snapshot_truncated", False)))


def snapshot_op(execution_id: str, step: int) -> Op[dict[str, Any]]:
    """The snapshot activation ``step`` committed (NoSnapshot when there is none;
    UnknownName when there is no such execution)."""
    yield from execution_op(execution_id)
    return (yield from stored_snapshot_op(execution_id, step))


def stored_snapshot_op(execution_id: str, step: int) -> Op[dict[str, Any]]:
    """:func:`snapshot_op` of an execution known to exist."""
    rows = yield "history_snapshot", {"id": execution_id, "step": step}
    if not rows:
        raise NoSnapshot(f"execution {execution_id!r} has no step {step} in its history")
    row = rows[0]
    if row["snapshot"] is not None:
        return unpack_snapshot(bytes(row["snapshot"]))
    detail = contract_detail("activation", row["detail"])
    if detail.get("snapshot_truncated"):
        raise NoSnapshot(f"step {step} of {execution_id!r}: its snapshot "
                         f"({row['snapshot_bytes']} bytes) was over the history cap, not kept")
    status = (detail.get("stopped") or {}).get("status", "ended")
    raise NoSnapshot(f"step {step} of {execution_id!r} {status}: it saved no snapshot")


def record_op(
    execution_id: str, kind: str, detail: dict[str, Any], *, at: datetime,
    worker: str | None = None,
) -> Op[int]:
    """Append one entry in the operation's transaction; its seq (UnknownName: no such
    execution). Takes the execution row's lock until the transaction ends."""
    rows = yield "record_entry", {"id": execution_id, "kind": kind,
                                  "detail": json.dumps(detail), "at": at, "worker": worker}
    if not rows:
        raise UnknownName(f"no execution with id {execution_id!r}")
    return int(rows[0]["seq"])


def read_history(conn: psycopg.Connection[Any], execution_id: str) -> list[HistoryEntry]:
    """:func:`history_op` on ``conn``."""
    return run_on(conn, history_op(execution_id))


def snapshot_at(conn: psycopg.Connection[Any], execution_id: str, step: int) -> dict[str, Any]:
    """:func:`snapshot_op` on ``conn``."""
    return run_on(conn, snapshot_op(execution_id, step))


def record_entry(
    conn: psycopg.Connection[Any], execution_id: str, kind: str, detail: dict[str, Any],
    *, at: datetime, worker: str | None = None,
) -> int:
    """:func:`record_op` in the caller's transaction on ``conn``."""
    return run_on(conn, record_op(execution_id, kind, detail, at=at, worker=worker))
