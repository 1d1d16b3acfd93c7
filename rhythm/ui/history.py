"""The history-backed part of an execution page: timeline, waiting line, pending awaits
and variables at any step (the step slider), read through ``rhythm.observe``
(``read_history``, ``inspect_execution``: docs/observability.md) and described in the
words of ``rhythm history`` (:func:`rhythm.observe.timeline.describe`).

When history cannot be shown (an execution with no entry, a step whose snapshot was over
the cap) the panel says why in one line; the rest of the page does not depend on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rhythm.errors import RhythmError
from rhythm.observe.history import read_history
from rhythm.observe.inspect import inspect_execution
from rhythm.observe.timeline import describe
from rhythm.ui.store import Store
from rhythm.ui.views import ExecutionView, SourceLine, when


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
    """The panel; ``reason`` set when history cannot be shown at all."""

    reason: str | None = None
    entries: list[TimelineEntry] = field(default_factory=list)
    steps: int = 0  # activations recorded (the slider's range)
    step: int | None = None  # the step shown (None: now)
    line: int | None = None
    variables: str | None = None
    awaits: list[str] = field(default_factory=list)
    note: str | None = None  # a one-line problem with the step asked for


def _pending_text(item: dict[str, Any]) -> str:
    extra = ", ".join(f"{k} {item[k]}" for k in ("state", "attempt", "due_at", "buffered",
                                                  "status") if item.get(k) is not None)
    return f"{item.get('kind')} {item.get('name')}" + (f" ({extra})" if extra else "")


def history_panel(store: Store, view: ExecutionView, step_text: str | None) -> HistoryPanel:
    """The panel of ``view``'s execution at ``step_text`` (None or '': now). Marks the
    line it waits at (or stopped at after that step) in ``view.source``."""
    if view.kind != "workflow":
        return HistoryPanel(reason="tasks have no workflow history")
    panel = HistoryPanel()
    try:
        panel.step = int(step_text) if step_text else None
    except ValueError:
        panel.note = f"step {step_text!r} is not a number; showing now"
    try:
        entries = store.with_connection(lambda conn: read_history(conn, view.id))
    except RhythmError as err:
        return HistoryPanel(reason=f"history not available: {err}")
    if not any(e.kind == "activation" for e in entries):  # (only 'started' so far)
        return HistoryPanel(reason="no history yet: the workflow has not run a step")
    panel.entries = [TimelineEntry(e.seq, when(e.at), e.kind, e.step, e.worker or "client",
                                   describe(e)) for e in entries]
    panel.steps = max((e.step or 0 for e in entries), default=0)
    try:
        found = store.with_connection(lambda conn: inspect_execution(conn, view.id,
                                                                      panel.step))
    except RhythmError as err:
        panel.note = str(err)
        return panel
    panel.line = found.line
    panel.note = panel.note or found.note  # (no source, no snapshot kept)
    panel.variables = json.dumps(found.variables, indent=2, ensure_ascii=False)
    panel.awaits = [_pending_text(p) for p in found.pending]
    view.source = [SourceLine(s.number, s.text, s.number == found.line) for s in view.source]
    return panel
