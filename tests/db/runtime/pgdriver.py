"""Runs workflows on Postgres the way ``rhythm run`` runs them in memory, for tests that
compare the two hosts (the conformance cases, the differential test).

Mocked tasks become real ``@rhythm.task`` definitions that answer from the mocks (every
attempt takes the next reply, as ``rhythm run`` does). Time is a :class:`ManualClock`
that the :class:`Driver` moves: when nothing is runnable, the clock jumps to the next
timer, mocked signal or mocked cancellation (sent through the client at their instant),
so hours pass in milliseconds and every timestamp is what the in-memory run sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from conftest import wait_for

from rhythm.engine.mocks import MockReply, Mocks, TaskReplies
from rhythm.errors import InputError
from rhythm.runtime.client import Client
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.notices import wake_payload
from rhythm.runtime.tasks import Backoff, TaskDefinition, TaskRegistry

START = datetime(2030, 1, 1, tzinfo=UTC)


def mocked_registry(mocks: Mocks) -> TaskRegistry:
    """One real task per mocked name, answering from the mocks."""
    registry = TaskRegistry()
    replies = TaskReplies(mocks)
    for name in mocks.tasks:
        registry.add(TaskDefinition(name=name, fn=_answer(name, replies),
                                    backoff=Backoff(initial=0.0)))
    return registry


def _answer(name: str, replies: TaskReplies) -> Any:
    def task(**inputs: Any) -> Any:
        reply = replies.next_reply(name)
        assert reply is not None
        return _apply(reply, inputs)

    task.__name__ = task.__qualname__ = f"mock_{name}"
    return task


def _apply(reply: MockReply, inputs: dict[str, Any]) -> Any:
    if reply.kind == "echo":
        return inputs
    if reply.kind == "returns":
        return reply.value
    error_type = type(reply.error_type, (Exception,), {})
    raise error_type(reply.message)


@dataclass(order=True)
class _Mocked:
    """A mocked signal (``name``, ``payload``) or cancellation (``name`` None) of a root."""

    at: datetime
    seq: int
    root: str = field(compare=False)
    name: str | None = field(compare=False)
    payload: Any = field(compare=False, default=None)


class Driver:
    """Runs root workflows to their ends: the clock stands still while anything is
    runnable, then jumps to the next event of any of them."""

    def __init__(self, url: str, clock: ManualClock) -> None:
        self.url = url
        self.clock = clock
        self.client = Client(url, clock=clock)
        self.events: list[_Mocked] = []

    def start(self, name: str, inputs: dict[str, Any], mocks: Mocks) -> str:
        """Start ``name`` now; its mocked signals and cancellation happen at their instants."""
        root = self.client.start(name, inputs).id
        for signal in mocks.signals:
            at = START + timedelta(milliseconds=signal.after_ms)
            self.events.append(_Mocked(at, len(self.events), root, signal.name, signal.payload))
        if mocks.cancel_after_ms is not None:
            at = START + timedelta(milliseconds=mocks.cancel_after_ms)
            self.events.append(_Mocked(at, len(self.events), root, None))
        self.events.sort()
        return root

    def run(self, roots: list[str]) -> dict[str, dict[str, Any]]:
        """Drive until every root ended or nothing is left to happen; their outcomes."""
        for _ in range(10_000):
            self._settle_down()
            if all(self.client.get(r)["status"] in ("completed", "failed", "cancelled")
                   for r in roots):
                break
            if not self._advance():
                break
        return {root: self._outcome(root) for root in roots}

    def _busy(self) -> bool:
        """Is anything runnable, or about to be? Due promises are read before runnable
        executions, in two statements: settling a promise makes its execution runnable
        in the same transaction, so read in this order no step falls between the two. (One
        statement is not one snapshot on Citus: it ran the executions half first, then the
        promises half after a timer had fired in between, and saw nothing to do.)"""
        now = self.clock.now()
        with psycopg.connect(self.url, autocommit=True) as conn:
            due = conn.execute("SELECT count(*) FROM rhythm.promises WHERE state = 'pending'"
                               " AND due_at <= %(now)s", {"now": now}).fetchone()
            runnable = conn.execute(
                "SELECT count(*) FROM rhythm.executions WHERE status = 'running'"
                " OR (run_at IS NOT NULL AND run_at <= %(now)s)", {"now": now}).fetchone()
        return bool(due and due[0]) or bool(runnable and runnable[0])

    def _settle_down(self) -> None:
        def quiet() -> bool:
            if not self._busy():
                return True
            self._nudge()
            return False

        wait_for(quiet, timeout=20, what="the workflows to settle down")

    def _nudge(self) -> None:
        """Wake the workers on every partition (they ignore a payload that names none)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT partitions FROM rhythm.installation").fetchone()
            parts = range(int(row[0]) if row else 1)
            conn.execute("SELECT pg_notify('rhythm_wake', p) FROM unnest(%s::text[]) AS p",
                         ([wake_payload(part, "default") for part in parts],))

    def _advance(self) -> bool:
        """Move the clock to the next timer or mocked event; False when there is none."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT min(due_at) FROM rhythm.promises "
                               "WHERE state = 'pending' AND due_at IS NOT NULL").fetchone()
        timer = row[0] if row else None
        mocked = self.events[0].at if self.events else None
        candidates = [t for t in (timer, mocked) if t is not None]
        if not candidates:
            return False
        moment = max(min(candidates), self.clock.now())
        self.clock.set(moment)
        while self.events and self.events[0].at <= moment:
            event = self.events.pop(0)
            try:
                if event.name is None:
                    self.client.cancel(event.root)
                else:
                    self.client.signal(event.root, event.name, event.payload)
            except InputError:  # it has ended; in memory the event is simply stale
                pass
        self._nudge()
        return True

    def _outcome(self, root: str) -> dict[str, Any]:
        """What ``rhythm run --json`` says: status, result, error, calls."""
        row = self.client.get(root)
        status = row["status"]
        if status not in ("completed", "failed", "cancelled"):
            status = "suspended"
        with psycopg.connect(self.url, autocommit=True) as conn:
            # (from the executions it requested: the promises of a running workflow
            # are deleted as its snapshot stops reaching them)
            rows = conn.execute("SELECT kind, name, inputs FROM rhythm.executions"
                                " WHERE parent_id = %s ORDER BY parent_promise",
                                (root,)).fetchall()
        calls = [{"kind": kind, "name": name, "inputs": inputs} for kind, name, inputs in rows]
        return {"status": status, "result": row["result"], "error": row["error"],
                "calls": calls}
