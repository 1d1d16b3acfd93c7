"""The history-backed part of an execution page: timeline, waiting line, pending awaits
and variables at any step, read through the history contract (``rhythm.observe``:
``read_history``, ``inspect_execution``; docs/ui.md).

A Rhythm without that package (or a database without its table) gets a panel that says
"history not available" and why; the rest of the page does not depend on it.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Any

from rhythm.errors import RhythmError
from rhythm.ui.store import Store
from rhythm.ui.views import ExecutionView, SourceLine, when

UNAVAILABLE = ("history not available: this Rhythm has no execution history "
               "(rhythm.observe, migration 0015)")


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    at: str
    kind: str
    step: int | None
    worker: str
    summary: str


@dataclass
class HistoryPanel:
    """The panel; ``reason`` set when history cannot be shown."""

    reason: str | None = None
    entries: list[TimelineEntry] = field(default_factory=list)
    steps: int = 0  # activations recorded (the slider's range)
    step: int | None = None  # the step shown (None: now)
    line: int | None = None
    variables: str | None = None
    awaits: list[str] = field(default_factory=list)
    note: str | None = None  # a one-line problem with the step asked for


def _observe() -> tuple[Any, Any] | None:
    """``read_history`` and ``inspect_execution``, or None when this Rhythm lacks them."""
    try:
        history = importlib.import_module("rhythm.observe.history")
        inspect = importlib.import_module("rhythm.observe.inspect")
    except ImportError:
        return None
    return history.read_history, inspect.inspect_execution


def summarize(kind: str, detail: dict[str, Any]) -> str:
    """One history entry's detail as a line of text."""
    if kind == "activation":
        stopped = detail.get("stopped") or {}
        settled = ", ".join(f"{s.get('kind')} {s.get('name')} {s.get('outcome')}"
                            for s in detail.get("settled") or [])
        effects = ", ".join(f"{e.get('kind')} {e.get('name')}"
                            for e in detail.get("effects") or [])
        parts = [f"stopped {stopped.get('status', '?')} at line {stopped.get('line', '?')}"]
        if settled:
            parts.append(f"settled: {settled}")
        if effects:
            parts.append(f"requested: {effects}")
        return "; ".join(parts)
    return json.dumps(detail, ensure_ascii=False, sort_keys=True) if detail else ""


def _pending_text(item: dict[str, Any]) -> str:
    extra = ", ".join(f"{k} {item[k]}" for k in ("state", "attempt", "due_at", "buffered",
                                                  "status") if item.get(k) is not None)
    return f"{item.get('kind')} {item.get('name')}" + (f" ({extra})" if extra else "")


def history_panel(store: Store, view: ExecutionView, step_text: str | None) -> HistoryPanel:
    """The panel of ``view``'s execution at ``step_text`` (None or '': now). Marks the
    current line in ``view.source``."""
    observe = _observe()
    if observe is None or view.kind != "workflow":
        reason = UNAVAILABLE if observe is None else "tasks have no workflow history"
        return HistoryPanel(reason=reason)
    read_history, inspect_execution = observe
    panel = HistoryPanel()
    try:
        panel.step = int(step_text) if step_text else None
    except ValueError:
        panel.note = f"step {step_text!r} is not a number; showing now"
    try:
        entries = store.with_connection(lambda conn: read_history(conn, view.id))
    except RhythmError as err:
        return HistoryPanel(reason=f"history not available: {err}")
    panel.entries = [TimelineEntry(e.seq, when(e.at), e.kind, e.step, e.worker or "client",
                                   summarize(e.kind, e.detail)) for e in entries]
    panel.steps = max((e.step or 0 for e in entries), default=0)
    try:
        found = store.with_connection(lambda conn: inspect_execution(conn, view.id,
                                                                      panel.step))
    except RhythmError as err:
        panel.note = str(err)
        return panel
    panel.line = found.line
    panel.note = panel.note or getattr(found, "note", None)  # (no source, no snapshot kept)
    panel.variables = json.dumps(found.variables, indent=2, ensure_ascii=False)
    panel.awaits = [_pending_text(p) for p in found.pending]
    view.source = [SourceLine(s.number, s.text, s.number == found.line) for s in view.source]
    return panel
