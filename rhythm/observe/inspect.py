"""``rhythm inspect``: where an execution waits, on what, and with which variables - now,
or as they were after activation N (from its history entry and stored snapshot).

The .flow line of a state is what the activation's history entry recorded (the
generated module's ``INFO.lines``); the text around it comes from the version's stored
source (``rhythm.workflow_versions``), else from the file at its source path. Nothing is
compiled: inspecting needs neither the worker's code nor the build toolchain.

:func:`inspect_op` is the operation both clients run (:mod:`rhythm.runtime.operations`);
:func:`inspect_execution` runs it on a connection of the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from rhythm.flowrt.codec import decode
from rhythm.flowrt.protocol import Promise
from rhythm.observe.history import (
    HistoryEntry,
    NoSnapshot,
    entries_op,
    execution_op,
    run_on,
    stored_snapshot_op,
)
from rhythm.runtime.operations import Op

CONTEXT = 3  # source lines shown before and after the line it waits at


@dataclass(frozen=True)
class Inspection:
    id: str
    name: str
    version: str | None
    status: str
    step: int | None
    source_path: str | None
    line: int | None
    source_context: list[tuple[int, str]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    note: str | None = None  # why something is missing (no source, no snapshot kept)
    await_identity: str | None = None  # of the await it waits at (docs/upgrades.md)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version,
                "status": self.status, "step": self.step, "source_path": self.source_path,
                "line": self.line, "source_context": [list(c) for c in self.source_context],
                "pending": self.pending, "variables": self.variables, "note": self.note,
                "await": self.await_identity}


def inspect_execution(
    conn: psycopg.Connection[Any], execution_id: str, at_step: int | None = None
) -> Inspection:
    """:func:`inspect_op` on ``conn``."""
    return run_on(conn, inspect_op(execution_id, at_step))


def inspect_op(execution_id: str, at_step: int | None = None) -> Op[Inspection]:
    """The execution now, or after activation ``at_step`` (NoSnapshot: no such step, or
    its snapshot was over the history cap). UnknownName when there is no execution."""
    row = yield from execution_op(execution_id)
    acts = [e for e in (yield from entries_op(execution_id)) if e.kind == "activation"]
    notes: list[str] = []
    if at_step is None:
        entry = acts[-1] if acts else None
        snapshot = row["snapshot"]
        if snapshot is not None and entry is not None \
                and (entry.detail.get("stopped") or {}).get("state") != snapshot.get("label"):
            entry = None  # (history from before this snapshot: no line known)
        pending = (yield from _pending_now(row)) if row["status"] == "suspended" else []
    else:
        entry = next((e for e in reversed(acts) if e.step == at_step), None)
        if entry is None:
            raise NoSnapshot(f"execution {execution_id!r} has no step {at_step} in its history")
        snapshot = yield from _snapshot_or_note(execution_id, entry, notes)
        pending = _pending_then(entry)
    line = (entry.detail.get("stopped") or {}).get("line") if entry else None
    source, path, missing = None, None, None
    if row["kind"] == "task":
        notes.append("a task: no source, awaits or variables to show (see `rhythm status`)")
    else:
        source, path, missing = yield from _source(row["name"], row["version"])
    if missing:
        notes.append(missing)
    return Inspection(
        id=execution_id, name=row["name"], version=row["version"], status=row["status"],
        step=entry.step if entry else None, source_path=path, line=line,
        source_context=_context(source, line), pending=pending,
        variables=variables_of(snapshot), note="; ".join(notes) or None,
        await_identity=(entry.detail.get("stopped") or {}).get("await") if entry else None)


def _snapshot_or_note(
    execution_id: str, entry: HistoryEntry, notes: list[str]
) -> Op[dict[str, Any] | None]:
    try:
        assert entry.step is not None
        return (yield from stored_snapshot_op(execution_id, entry.step))
    except NoSnapshot as err:
        notes.append(str(err))
        return None


def variables_of(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    """A snapshot's live variables as JSON for display (promises as ``<promise N>``)."""
    if not snapshot or not isinstance(snapshot.get("vars"), dict):
        return {}
    try:
        values = decode(snapshot["vars"])
    except ValueError as err:
        return {"(unreadable)": str(err)}
    return {name: _shown(value, 0) for name, value in values.items()}


def _shown(value: Any, depth: int) -> Any:
    if isinstance(value, Promise):
        return f"<promise {value.id}>"
    if depth > 50:
        return "..."
    if isinstance(value, list):
        return [_shown(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {str(k): _shown(v, depth + 1) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return f"<{type(value).__name__}>"


def _source(
    name: str, version: str | None
) -> Op[tuple[str | None, str | None, str | None]]:
    """(source text, its path, why it is missing)."""
    row = None
    if version is not None:
        rows = yield "get_version_source", {"name": name, "version": version}
        row = rows[0] if rows else None
    path = row["source_path"] if row else None
    if row and row["source"]:
        return str(row["source"]), path, None
    if path:
        try:
            return Path(path).read_text(encoding="utf-8"), path, None
        except OSError:
            pass
    short = (version or "?")[:12]
    return None, path, f"the source of {name} version {short} is not available"


def _context(source: str | None, line: int | None) -> list[tuple[int, str]]:
    if source is None or line is None:
        return []
    lines = source.splitlines()
    first, last = max(1, line - CONTEXT), min(len(lines), line + CONTEXT)
    return [(n, lines[n - 1]) for n in range(first, last + 1)]


def _pending_now(row: dict[str, Any]) -> Op[list[dict[str, Any]]]:
    """The pending promises it waits on (through combinators), with their live state."""
    if row["waiting_on"] is None:
        return []
    found: dict[int, dict[str, Any]] = {}
    wanted = {int(row["waiting_on"])}
    while wanted:
        rows = yield "inspect_promises", {"id": row["id"], "ids": sorted(wanted)}
        found.update({r["promise_id"]: r for r in rows})
        members = {int(m["promise"]) for r in rows if r["kind"] == "combinator"
                   for m in (r["params"] or {}).get("members", []) if "promise" in m}
        wanted = members - found.keys()
    return [_pending_row(r) for pid, r in sorted(found.items())
            if r["kind"] != "combinator" and r["state"] == "pending"]


def _pending_row(r: dict[str, Any]) -> dict[str, Any]:
    params = r["params"] or {}
    out: dict[str, Any] = {"kind": r["kind"], "promise": r["promise_id"]}
    if r["kind"] == "task":
        out.update(name=params.get("name"), execution_id=r["target"],
                   state=r["target_status"], attempt=r["target_attempt"])
    elif r["kind"] == "child":
        out.update(name=params.get("name"), execution_id=r["target"],
                   status=r["target_status"])
    elif r["kind"] == "timer":
        out.update(name=None, due_at=r["due_at"].isoformat() if r["due_at"] else None)
    elif r["kind"] == "signal":
        out.update(name=r["target"], buffered=int(r["buffered"] or 0),
                   due_at=r["due_at"].isoformat() if r["due_at"] else None)
    return out


def _pending_then(entry: HistoryEntry) -> list[dict[str, Any]]:
    """What activation ``entry`` left it waiting on (as recorded then: no live state)."""
    def leaves(w: dict[str, Any] | None) -> list[dict[str, Any]]:
        if w is None:
            return []
        if "members" in w:
            return [leaf for m in w["members"] for leaf in leaves(m)]
        return [{"kind": w["kind"], "name": w.get("name"), "promise": w["promise"]}]

    return leaves(entry.detail.get("waiting"))
