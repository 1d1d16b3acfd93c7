"""The Postgres host of one workflow activation: the machine's view of its promises.

Pure and synchronous (no I/O): the activation (:mod:`rhythm.runtime.activation`) loads
the records the machine can reach, hands them to a :class:`WorkflowHost`, runs the
machine, and then writes what changed. Promise semantics — combinators, first-in-time
ties, abandoned signal waits — are the engine's (:mod:`rhythm.engine.promises`), the very
code the in-memory host runs, so both hosts agree by construction.

Effects requested during ``run()`` are only buffered here (guarantee 1): new task, child,
timer and signal-wait records become rows when the activation commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rhythm.engine.host import PromiseTableHost
from rhythm.engine.promises import PromiseRecord, PromiseTable
from rhythm.flowrt.codec import promise_ids
from rhythm.flowrt.protocol import Limits

JsonValue = Any


@dataclass
class CancelState:
    """A cancellation request is thrown into the workflow once, at an await.

    ``boundary``: the first promise id requested after it was thrown (set on delivery).
    What the workflow started before it is cancelled; what its catch/finally start from
    there on runs normally (compensation), whatever is requested later."""

    requested: bool = False
    delivered: bool = False
    boundary: int | None = None

    @property
    def pending(self) -> bool:
        return self.requested and not self.delivered


@dataclass
class WorkflowHost(PromiseTableHost):
    """:class:`rhythm.flowrt.protocol.Host` over a loaded :class:`PromiseTable`."""

    table: PromiseTable
    inputs: dict[str, JsonValue]
    context: dict[str, JsonValue]
    now: int  # epoch ms, fixed for the activation
    cancel: CancelState = field(default_factory=CancelState)
    limits: Limits = field(default_factory=Limits)
    logs: list[str] = field(default_factory=list)
    requested: list[int] = field(default_factory=list)  # new effects, in request order
    read: list[int] = field(default_factory=list)  # outcomes the machine read (history)

    def now_ms(self) -> int:
        return self.now

    def cancellation_pending(self) -> bool:
        return self.cancel.pending

    def cancellation_delivered(self) -> None:
        self.cancel.delivered = True
        self.cancel.boundary = self.table.next_id
        self.table.abandon_waits(self.cancel.boundary)  # (the commit drops unloaded ones)

    def log(self, text: str) -> None:
        self.logs.append(text)

    def new_records(self) -> list[PromiseRecord]:
        return [self.table.get(pid) for pid in self.requested]


def referenced_promises(snapshot: JsonValue) -> set[int]:
    """Promise ids a snapshot can reach: handles in its variables, and the promise it
    waits on. Only these (and open combinators) are loaded per activation."""
    if not isinstance(snapshot, dict):
        return set()
    found = promise_ids(snapshot.get("vars"))
    waiting = snapshot.get("waiting")
    if isinstance(waiting, int):
        found.add(waiting)
    return found


def member_ids(records: Iterable[PromiseRecord]) -> set[int]:
    """Promise ids that the given combinators refer to."""
    ids: set[int] = set()
    for record in records:
        if record.kind == "combinator":
            ids.update(ref["promise"] for ref in record.params["members"] if "promise" in ref)
    return ids


def reachable(table: PromiseTable, refs: list[int]) -> list[PromiseRecord]:
    """The records a load of a snapshot with these ``refs`` returns: those it refers to,
    every open combinator, and their members."""
    keep = {pid for pid in refs if pid in table.records}
    keep |= {r.id for r in table if r.kind == "combinator" and not r.settled}
    frontier = set(keep)
    while frontier:
        found = member_ids(table.get(pid) for pid in frontier) & table.records.keys()
        frontier = found - keep
        keep |= frontier
    return [table.get(pid) for pid in sorted(keep)]


def forgettable(table: PromiseTable, refs: list[int]) -> set[int]:
    """Promises a suspending activation deletes: those of ``table`` (what it loaded and
    created) that the new snapshot, whose references are ``refs``, can no longer reach.
    No later activation would load them; a task, child or timer still pending then
    settles nothing and wakes nobody when it ends, which is what an un-awaited one does
    in memory too. A pending signal wait is kept unless a race abandoned it: un-awaited,
    it still takes the next signal of its channel (spec section 6)."""
    keep = {r.id for r in reachable(table, refs)}
    return {r.id for r in table if r.id not in keep
            and (r.kind != "signal" or r.settled or r.abandoned)}


def settle_due(table: PromiseTable, now: int) -> list[int]:
    """Settle timers and signal-wait timeouts that are due at ``now``, at their due instant.

    The worker's timer statement does the same in the database; doing it here as well
    means an activation or a signal never sees a due timer as pending just because that
    statement has not run yet, so "first in time" races and abandoned waits are decided
    as the in-memory host decides them."""
    fired = []
    for record in sorted(table, key=lambda r: (r.params.get("due") or 0, r.id)):
        due = record.params.get("due")
        if record.settled or record.abandoned or due is None or int(due) > now:
            continue
        if record.kind == "timer":
            table.settle(record.id, True, None, int(due))
        elif record.kind == "signal" and "timeout_error" in record.params:
            table.settle(record.id, False, record.params["timeout_error"], int(due))
        else:
            continue
        fired.append(record.id)
    return fired
