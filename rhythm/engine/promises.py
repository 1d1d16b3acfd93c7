"""The promise table of one execution, and combinator settlement. Pure: no I/O, no clock.

Every promise a workflow can hold is a record here: its kind (task, child, timer, signal,
combinator), the parameters it was requested with, and once settled its state, value (or
rejection) and the logical time and sequence number at which it settled. The in-memory
host keeps a table in memory; the Postgres runtime can load the same records from rows
(``PromiseRecord.to_json``/``from_json``) and call the same functions.

Timing rules (spec section 7):
- A member that had already settled when a combinator was created counts as settling at
  the combinator's creation instant, and so does a plain (non-promise) value. This is
  what makes ``Promise.race([settled, 5])`` pick the first in list order, as in JavaScript.
- ``race`` and ``any`` pick the earliest settlement (fulfilment for ``any``), ties in list
  order; ``all`` rejects with the earliest rejection, ties in list order.
- When ``race`` or ``any`` settles, its pending signal waits (also inside nested pending
  combinators) are *abandoned*: they give up their place in the channel and never
  consume a later signal. An abandoned wait stays pending for ever.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rhythm.engine.flow_errors import aggregate_error
from rhythm.flowrt.protocol import CombinatorKind, Promise

PromiseKind = Literal["task", "child", "timer", "signal", "combinator"]
PromiseState = Literal["pending", "fulfilled", "rejected"]
COMBINATOR_KINDS: frozenset[str] = frozenset({"all", "allSettled", "race", "any"})


@dataclass
class PromiseRecord:
    """One promise of one execution. ``value`` is the fulfilment value or the rejection."""

    id: int
    kind: PromiseKind
    params: dict[str, Any]
    created_at: int
    state: PromiseState = "pending"
    value: Any = None
    settled_at: int | None = None
    settled_seq: int | None = None
    abandoned: bool = False

    @property
    def settled(self) -> bool:
        return self.state != "pending"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "params": self.params,
            "created_at": self.created_at,
            "state": self.state,
            "value": self.value,
            "settled_at": self.settled_at,
            "settled_seq": self.settled_seq,
            "abandoned": self.abandoned,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromiseRecord:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a promise settles: ``ok`` (fulfilled) or not, the value or error, and when."""

    ok: bool
    value: Any
    at: int


@dataclass(frozen=True, slots=True)
class MemberView:
    """A combinator member as settlement sees it (plain values are already fulfilled)."""

    state: PromiseState
    value: Any
    settled_at: int | None


def combinator_outcome(
    kind: str, members: Sequence[MemberView], keys: Sequence[str] | None, created_at: int
) -> Outcome | None:
    """The settlement of ``Promise.<kind>`` over ``members``, or None while it is undecided."""
    timed = [_effective(m, created_at) for m in members]
    if kind == "all":
        return _all(members, timed, keys, created_at)
    if kind == "allSettled":
        return _all_settled(members, timed, keys, created_at)
    if kind == "race":
        return _first(members, timed, lambda m: m.state != "pending")
    if kind == "any":
        return _any(members, timed, created_at)
    raise ValueError(f"unknown combinator {kind!r}")


def _effective(member: MemberView, created_at: int) -> int | None:
    if member.settled_at is None:
        return None if member.state == "pending" else created_at
    return max(member.settled_at, created_at)


def _shape(values: list[Any], keys: Sequence[str] | None) -> Any:
    return dict(zip(keys, values, strict=True)) if keys is not None else values


def _latest(timed: list[int | None], created_at: int) -> int:
    return max((t for t in timed if t is not None), default=created_at)


def _first(members: Sequence[MemberView], timed: list[int | None], wanted: Any) -> Outcome | None:
    """The earliest member that satisfies ``wanted`` (ties in list order)."""
    best: tuple[int, int] | None = None
    for index, member in enumerate(members):
        at = timed[index]
        if at is not None and wanted(member) and (best is None or at < best[0]):
            best = (at, index)
    if best is None:
        return None
    chosen = members[best[1]]
    return Outcome(chosen.state == "fulfilled", chosen.value, best[0])


def _all(
    members: Sequence[MemberView], timed: list[int | None], keys: Sequence[str] | None, created: int
) -> Outcome | None:
    first_error = _first(members, timed, lambda m: m.state == "rejected")
    if first_error is not None:
        return first_error
    if any(m.state == "pending" for m in members):
        return None
    return Outcome(True, _shape([m.value for m in members], keys), _latest(timed, created))


def _all_settled(
    members: Sequence[MemberView], timed: list[int | None], keys: Sequence[str] | None, created: int
) -> Outcome | None:
    if any(m.state == "pending" for m in members):
        return None
    items = [
        {"status": "fulfilled", "value": m.value}
        if m.state == "fulfilled"
        else {"status": "rejected", "reason": m.value}
        for m in members
    ]
    return Outcome(True, _shape(items, keys), _latest(timed, created))


def _any(members: Sequence[MemberView], timed: list[int | None], created: int) -> Outcome | None:
    winner = _first(members, timed, lambda m: m.state == "fulfilled")
    if winner is not None:
        return winner
    if any(m.state == "pending" for m in members):
        return None
    return Outcome(False, aggregate_error([m.value for m in members]), _latest(timed, created))


@dataclass
class Propagation:
    """What one :meth:`PromiseTable.propagate` pass changed."""

    settled: list[int] = field(default_factory=list)
    abandoned: list[int] = field(default_factory=list)


class PromiseTable:
    """All promises of one execution, with ids increasing from 1."""

    def __init__(
        self, records: Sequence[PromiseRecord] = (), next_id: int | None = None, next_seq: int = 1
    ) -> None:
        """``records`` may be a subset (say, the ones a worker loaded); then pass ``next_id``."""
        self.records: dict[int, PromiseRecord] = {r.id: r for r in records}
        self.next_id = next_id if next_id is not None else max(self.records, default=0) + 1
        self.next_seq = next_seq

    def __iter__(self) -> Iterator[PromiseRecord]:
        return iter(self.records.values())

    def get(self, promise_id: int) -> PromiseRecord:
        try:
            return self.records[promise_id]
        except KeyError:
            raise KeyError(f"no promise {promise_id} in this execution") from None

    def create(self, kind: PromiseKind, params: dict[str, Any], now: int) -> PromiseRecord:
        record = PromiseRecord(self.next_id, kind, params, now)
        self.next_id += 1
        self.records[record.id] = record
        return record

    def combine(
        self, kind: CombinatorKind, members: Sequence[Any], keys: Sequence[str] | None, now: int
    ) -> PromiseRecord:
        """A combinator over promises and plain values, settled at once if it can be."""
        if kind not in COMBINATOR_KINDS:
            raise ValueError(f"unknown combinator {kind!r}")
        refs = [{"promise": m.id} if isinstance(m, Promise) else {"value": m} for m in members]
        for ref in refs:
            if "promise" in ref:
                self.get(ref["promise"])  # a foreign handle is a host bug; fail loudly
        params = {
            "combinator": kind, "members": refs, "keys": list(keys) if keys is not None else None
        }
        if keys is not None and len(keys) != len(refs):
            raise ValueError("combinator keys and members differ in length")
        record = self.create("combinator", params, now)
        self.propagate()
        return record

    def settle(self, promise_id: int, ok: bool, value: Any, at: int) -> bool:
        """Settle a pending promise; False (and nothing changes) if it was settled already."""
        record = self.get(promise_id)
        if record.settled:
            return False
        record.state = "fulfilled" if ok else "rejected"
        record.value = value
        record.settled_at = at
        record.settled_seq = self.next_seq
        self.next_seq += 1
        return True

    def members_of(self, record: PromiseRecord) -> list[MemberView]:
        views = []
        for ref in record.params["members"]:
            if "promise" in ref:
                m = self.get(ref["promise"])
                views.append(MemberView(m.state, m.value, m.settled_at))
            else:
                views.append(MemberView("fulfilled", ref["value"], None))
        return views

    def propagate(self) -> Propagation:
        """Settle every combinator that its members now decide, to a fixed point."""
        done = Propagation()
        changed = True
        while changed:
            changed = False
            for record in list(self.records.values()):
                if record.kind != "combinator" or record.settled:
                    continue
                params = record.params
                outcome = combinator_outcome(
                    params["combinator"], self.members_of(record), params["keys"], record.created_at
                )
                if outcome is None:
                    continue
                self.settle(record.id, outcome.ok, outcome.value, outcome.at)
                done.settled.append(record.id)
                changed = True
                if params["combinator"] in ("race", "any"):
                    done.abandoned.extend(self._abandon_members(record))
        return done

    def abandon_waits(self, below: int) -> list[int]:
        """Abandon the pending timers and signal waits with ids below ``below`` (the
        ones a delivered cancellation drops); returns their ids."""
        dropped = []
        for record in self.records.values():
            if record.id < below and record.kind in ("timer", "signal") \
                    and not record.settled and not record.abandoned:
                record.abandoned = True
                dropped.append(record.id)
        return dropped

    def _abandon_members(self, record: PromiseRecord) -> list[int]:
        """Mark the pending signal waits under a settled race/any as abandoned."""
        abandoned = []
        for ref in record.params["members"]:
            member = self.records.get(ref.get("promise", 0))
            if member is None or member.settled:
                continue
            if member.kind == "signal" and not member.abandoned:
                member.abandoned = True
                abandoned.append(member.id)
            elif member.kind == "combinator":
                abandoned.extend(self._abandon_members(member))
        return abandoned
