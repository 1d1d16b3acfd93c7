"""Typed view models: what each template reads, built from the store's rows.

Templates see only these dataclasses (and plain strings, numbers and lists of them):
payloads are turned into indented JSON text here, times into UTC text, so a template
never formats or decides anything, and autoescaping sees every user value as text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from rhythm.lifecycle.bulk import BulkResult
from rhythm.lifecycle.filters import STATUSES, Page
from rhythm.runtime.operations import CANCELLABLE, RETRYABLE, TERMINAL
from rhythm.ui.queues import RATE_CAP, RATE_HORIZON, RATE_WINDOW, Overview
from rhythm.upgrade.move import Outcome

Row = dict[str, Any]
FILTER_FIELDS = ("status", "name", "kind", "queue", "since", "until", "id_prefix")
BULK_FIELDS = ("status", "name", "kind", "queue", "since", "until")


def when(moment: datetime | None) -> str:
    """A time as UTC text to the second ('' for none)."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def pretty(value: Any) -> str:
    """A JSON payload as indented text (key order kept: payloads are ``json``)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def execution_href(execution_id: str) -> str:
    return "/execution?" + urlencode({"id": execution_id})


@dataclass(frozen=True)
class ExecutionRow:
    id: str
    href: str
    kind: str
    name: str
    status: str
    queue: str
    attempt: int
    created: str
    finished: str


@dataclass(frozen=True)
class ListView:
    """The executions page: the filters as given, one page of rows, the next cursor."""

    filters: dict[str, str]
    rows: list[ExecutionRow]
    next_href: str | None
    rows_href: str  # the fragment the auto-refresh reloads (this very page)
    first_href: str
    paged: bool  # past the first page (a link back to it is shown)
    error: str | None = None
    statuses: tuple[str, ...] = STATUSES
    bulk_blocked: str | None = None  # why bulk actions are not offered for these filters


def list_view(filters: dict[str, str], after: str | None, page: Page | None,
              error: str | None = None) -> ListView:
    rows = [] if page is None else [
        ExecutionRow(r["id"], execution_href(r["id"]), r["kind"], r["name"], r["status"],
                     r["queue"], r["attempt"], when(r["created_at"]), when(r["finished_at"]))
        for r in page.rows]
    query = dict(filters)
    next_href = None
    if page is not None and page.next is not None:
        next_href = "/executions?" + urlencode({**query, "after": page.next})
    here = {**query, **({"after": after} if after else {})}
    blocked = None
    if "id_prefix" in filters:
        blocked = "bulk actions take no id filter: clear it to act on the filtered set"
    elif not any(k in filters for k in BULK_FIELDS):
        blocked = "bulk actions need at least one filter"
    return ListView(filters, rows, next_href, "/executions/rows?" + urlencode(here),
                    "/executions?" + urlencode(query), after is not None, error,
                    bulk_blocked=blocked)


@dataclass(frozen=True)
class BulkView:
    """The confirmation of a bulk action (``done`` False), or what it did."""

    action: str
    filters: dict[str, str]
    matched: int
    changed: int
    done: bool
    back_href: str


def bulk_view(result: BulkResult, filters: dict[str, str]) -> BulkView:
    return BulkView(result.action, filters, result.matched, result.changed,
                    not result.dry_run, "/executions?" + urlencode(filters))


@dataclass(frozen=True)
class Child:
    """A node of the tree of tasks and children: a workflow's node can be expanded (its
    own children fetched when opened: ``children_href``, one query per level)."""

    id: str
    href: str
    kind: str
    name: str
    status: str
    attempt: int
    created: str
    children_href: str | None = None


def child_views(rows: list[Row]) -> list[Child]:
    return [Child(c["id"], execution_href(c["id"]), c["kind"], c["name"], c["status"],
                  c["attempt"], when(c["created_at"]),
                  "/execution/children?" + urlencode({"id": c["id"]})
                  if c["kind"] == "workflow" else None)
            for c in rows]


@dataclass(frozen=True)
class Await:
    """One pending await, explained in a sentence."""

    promise: int
    kind: str
    explanation: str
    href: str | None


@dataclass(frozen=True)
class BufferedSignal:
    channel: str
    payload: str
    sent: str


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    current: bool = False


@dataclass
class ExecutionView:
    """One execution's page."""

    id: str
    kind: str
    name: str
    version: str
    status: str
    queue: str
    attempt: int
    run_no: int
    created: str
    started: str
    finished: str
    parent_href: str | None
    parent_id: str | None
    cancel_requested: bool
    inputs: str
    result: str | None
    error: str | None
    traceback: str | None
    can_cancel: bool
    can_retry: bool
    can_signal: bool
    children: list[Child] = field(default_factory=list)
    awaits: list[Await] = field(default_factory=list)
    signals: list[BufferedSignal] = field(default_factory=list)
    source_path: str | None = None
    source: list[SourceLine] = field(default_factory=list)
    latest_version: str = ""  # the name's newest registered version (workflows)
    can_upgrade: bool = False  # suspended on another version than latest_version


def find_traceback(error: Any) -> str | None:
    """The first ``traceback`` text anywhere in an error object (a task's error keeps
    it under ``details``; a workflow's may carry its task's as a cause)."""
    if isinstance(error, dict):
        text = error.get("traceback")
        if isinstance(text, str):
            return text
        values: list[Any] = list(error.values())
    elif isinstance(error, list):
        values = error
    else:
        return None
    for value in values:
        found = find_traceback(value)
        if found is not None:
            return found
    return None


def explain(row: Row) -> Await:
    """A pending promise as a sentence an operator understands."""
    kind, target = row["kind"], row["target"] or ""
    href = execution_href(target) if kind in ("task", "child") and target else None
    if kind == "task":
        text = (f"task {row['target_name'] or target} is {row['target_status'] or 'gone'} "
                f"(attempt {row['target_attempt'] or 0})")
    elif kind == "child":
        text = f"child workflow {row['target_name'] or target} is {row['target_status'] or 'gone'}"
    elif kind == "timer":
        text = f"timer due at {when(row['due_at'])} UTC"
    else:
        limit = f", times out at {when(row['due_at'])} UTC" if row["due_at"] else ""
        text = f"waiting for signal {target!r}{limit}"
    return Await(row["promise_id"], kind, text, href)


def execution_view(row: Row, children: list[Row], pending: list[Row], signals: list[Row],
                   source: Row | None) -> ExecutionView:
    status = row["status"]
    workflow = row["kind"] == "workflow"
    view = ExecutionView(
        id=row["id"], kind=row["kind"], name=row["name"], version=row["version"] or "",
        status=status, queue=row["queue"], attempt=row["attempt"], run_no=row["run_no"],
        created=when(row["created_at"]), started=when(row["started_at"]),
        finished=when(row["finished_at"]),
        parent_id=row["parent_id"],
        parent_href=execution_href(row["parent_id"]) if row["parent_id"] else None,
        cancel_requested=row["cancel_requested"], inputs=pretty(row["inputs"]),
        result=pretty(row["result"]) if status == "completed" else None,
        error=pretty(row["error"]) if row["error"] is not None else None,
        traceback=find_traceback(row["error"]),
        can_cancel=status in CANCELLABLE, can_retry=status in RETRYABLE,
        can_signal=workflow and status not in TERMINAL)
    view.children = child_views(children)
    view.awaits = [explain(p) for p in pending]
    view.signals = [BufferedSignal(s["channel"], pretty(s["payload"]), when(s["sent_at"]))
                    for s in signals]
    if source is not None:
        view.source_path = source["source_path"]
        view.source = [SourceLine(n, text)
                       for n, text in enumerate(source["source"].splitlines(), 1)]
    return view


@dataclass(frozen=True)
class UpgradeView:
    """The dry run of "Upgrade to latest", asking for a confirmation."""

    id: str
    href: str
    from_version: str
    to_version: str
    compatible: bool
    verdict: str  # "compatible", or why not (rhythm upgrade --dry-run's words)


def upgrade_view(outcome: Outcome, to_version: str) -> UpgradeView:
    return UpgradeView(outcome.id, execution_href(outcome.id), outcome.from_version,
                       to_version, outcome.outcome == "compatible", outcome.verdict)


@dataclass(frozen=True)
class QueueView:
    name: str
    ready: str
    scheduled: str
    held: str
    running: str
    suspended: str
    oldest_due: str
    rate: str
    rate_limit: str
    task_limits: str
    paused: bool


@dataclass(frozen=True)
class QueuesView:
    """The queues page: one line per queue, and what the estimated figures mean."""

    queues: list[QueueView]
    sample_note: str | None  # how the suspended counts were estimated (None: exact)
    rate_note: str


def _age(seconds: float) -> str:
    """A duration as text an operator reads at a glance: 42s, 17m, 5.2h, 3.0d."""
    if seconds < 120:
        return f"{max(seconds, 0):.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h" if seconds < 172800 else f"{seconds / 86400:.1f}d"


def queues_view(found: Overview, now: datetime) -> QueuesView:
    minutes = RATE_WINDOW.total_seconds() / 60
    approx = "≈ " if found.sample_percent is not None else ""
    at_least = "≥ " if found.rate_at_least else ""
    rows = [QueueView(
        q.name, f"{q.ready:,}", f"{q.scheduled:,}", f"{q.held:,}", f"{q.running:,}",
        f"{approx}{q.suspended:,}",
        "" if q.oldest_due is None else _age((now - q.oldest_due).total_seconds()),
        f"{at_least}{q.finished / minutes:,.1f}", q.rate_limit or "", q.task_limits or "",
        q.paused) for q in found.queues]
    sample = None
    if found.sample_percent is not None:
        sample = (f"≈ Suspended is estimated from a random sample of "
                  f"{found.sample_percent:.1f}% of the table's pages (no index holds "
                  "waiting workflows; an exact count reads the whole table: "
                  "rhythm queue list).")
    horizon = RATE_HORIZON.total_seconds() / 3600
    rate = (f"Finished/min: executions of the queue that ended (completed, failed or "
            f"cancelled) in the last {minutes:.0f} minutes, per minute, among those created "
            f"in the last {horizon:.0f} h (the {RATE_CAP:,} newest at most): one created "
            "before that (a long-running one) is not counted.")
    if found.rate_at_least:
        rate += (f" ≥: more than {RATE_CAP:,} executions were created in that time; "
                 "the older ones were not read, so the figure is a lower bound.")
    return QueuesView(rows, sample, rate)


@dataclass(frozen=True)
class WorkerView:
    id: str
    host: str
    pid: int
    queues: str
    started: str
    heartbeat: str
    heartbeat_age: str
    alive: bool
    running: int


def worker_views(rows: list[Row], now: datetime, stale_after: float) -> list[WorkerView]:
    views = []
    for r in rows:
        age = (now - r["heartbeat_at"]).total_seconds()
        views.append(WorkerView(r["id"], r["host"], r["pid"], ", ".join(r["queues"]),
                                when(r["started_at"]), when(r["heartbeat_at"]),
                                f"{max(age, 0):.0f}s", age <= stale_after, r["running"]))
    return views


@dataclass(frozen=True)
class ScheduleView:
    name: str
    target: str
    cron: str
    timezone: str
    queue: str
    paused: bool
    next_fire: str
    last_tick: str
    inputs: str


def schedule_views(rows: list[Row]) -> list[ScheduleView]:
    return [ScheduleView(r["name"], f"{r['target_kind']} {r['target']}", r["cron"],
                         r["timezone"], r["queue"] or "", r["paused"],
                         when(r["next_fire_at"]), when(r["last_tick"]),
                         json.dumps(r["inputs"], ensure_ascii=False))
            for r in rows]
