"""Bulk retry and cancel: the single-id rules applied to many executions, a page at a time.

The executions are named by id or selected by filters (never both; a selection with no
filter at all is refused: "everything" is never one keystroke away). Selection walks
each partition in pages of :data:`PAGE` rows, newest first, keyset by (created_at, id);
each page is then changed by :func:`rhythm.runtime.operations.cancel_ids` or
:func:`~rhythm.runtime.operations.retry_ids` - the very statements ``rhythm cancel ID``
and ``rhythm retry ID`` run - in one short transaction of its own, so a bulk retry of a
million rows never holds a lock for long, and what it did is committed page by page (an
interrupted run leaves whole pages done, and running it again finds the rest).

The plan is a generator of operations (:data:`Steps`: each step a function that makes
the operation, so that a page whose transaction lost a deadlock to a worker's commit can
run again, up to :data:`ATTEMPTS` times); the sync and async clients run it with their
own driver (:func:`run_steps`, :func:`run_steps_async`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from rhythm.errors import BadFilter
from rhythm.lifecycle.filters import Cursor, Filters, make_filters
from rhythm.runtime import operations as ops
from rhythm.runtime.database import again_after_deadlock, again_after_deadlock_async
from rhythm.runtime.partitions import Topology

PAGE = 500  # rows a page changes in one transaction

Row = dict[str, Any]
Step = Callable[[], ops.Op[Any]]
Steps = Generator[Step, Any, "BulkResult"]
ACTIONS = ("cancel", "retry")


@dataclass
class BulkResult:
    """What a bulk operation found and did (with ``dry_run``: would do)."""

    action: str
    dry_run: bool = False
    matched: int = 0  # executions selected (by id: found)
    changed: int = 0  # cancelled or asked to stop / run again
    ended: int = 0  # cancel: of ``changed``, those that ended at once (were pending)
    missing: list[str] = field(default_factory=list)  # ids given that do not exist

    @property
    def unchanged(self) -> int:
        """Matched but not changed: already ended (cancel), not failed or cancelled
        (retry)."""
        return self.matched - self.changed

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "unchanged": self.unchanged}


@dataclass(frozen=True)
class Target:
    """The executions a bulk operation is about: ``ids``, or those ``filters`` select."""

    ids: tuple[str, ...] = ()
    filters: Filters | None = None


def target(ids: str | Iterable[str] | None, now: datetime, **filters: Any) -> Target:
    """Validated :class:`Target` (BadFilter: both ids and filters, or neither)."""
    given = {k: v for k, v in filters.items() if v is not None}
    id_list = [ids] if isinstance(ids, str) else list(ids or ())
    if id_list and given:
        raise BadFilter("give ids or filters, not both")
    if not id_list:
        if not given:
            raise BadFilter("give ids or at least one filter")
        return Target(filters=make_filters(now, **given))
    bad = [i for i in id_list if not isinstance(i, str) or not i]
    if bad:
        raise BadFilter(f"an execution id must be a non-empty string, got {bad[0]!r}")
    return Target(ids=tuple(dict.fromkeys(id_list)))  # (each once, in the order given)


def plan(action: str, goal: Target, now: datetime, topology: Topology,
         dry_run: bool = False, page: int | None = None) -> Steps:
    """The bulk operation as steps: each yields one operation (one transaction) and
    receives its outcome. Returns the counts. ``page``: rows a page (:data:`PAGE`)."""
    assert action in ACTIONS
    page = page or PAGE
    result = BulkResult(action, dry_run=dry_run)
    if goal.ids:
        for chunk in _chunks_by_partition(goal.ids, topology, page):
            rows = yield partial(_read, chunk)
            found = {r["id"] for r in rows}
            result.missing += [i for i in chunk if i not in found]
            yield from _apply(action, rows, now, dry_run, result)
        return result
    assert goal.filters is not None
    for part in topology.all_parts():
        cursor = None
        while True:
            rows = yield partial(_select, part, goal.filters, cursor, page)
            yield from _apply(action, rows, now, dry_run, result)
            if len(rows) < page:
                break
            cursor = Cursor.of(rows[-1])
    return result


def _chunks_by_partition(ids: Iterable[str], topology: Topology, page: int
                         ) -> list[list[str]]:
    """``ids`` grouped by partition (each statement works in one), at most ``page`` a
    group."""
    groups: dict[int, list[str]] = {}
    for execution_id in ids:
        groups.setdefault(topology.part_of(execution_id), []).append(execution_id)
    return [group[i:i + page] for _, group in sorted(groups.items())
            for i in range(0, len(group), page)]


def _read(ids: list[str]) -> ops.Op[list[Row]]:
    rows = yield "read_executions", {"ids": ids}
    return rows


def _select(part: int, filters: Filters, cursor: Cursor | None, page: int
            ) -> ops.Op[list[Row]]:
    rows = yield "select_for_bulk", {"part": part, **filters.params(),
                                     **Cursor.params(cursor), "limit": page}
    return rows


def _apply(action: str, rows: list[Row], now: datetime, dry_run: bool, result: BulkResult
           ) -> Generator[Step, Any, None]:
    """Change one page (one partition): the statements check each row's status again,
    so a row that changed since it was selected is counted as it is now."""
    result.matched += len(rows)
    if not rows:
        return
    if dry_run:
        able = ops.CANCELLABLE if action == "cancel" else ops.RETRYABLE
        result.changed += sum(1 for r in rows if r["status"] in able)
        return
    ids = [r["id"] for r in rows]
    if action == "cancel":
        changed = yield partial(ops.cancel_ids, ids, now)
        result.changed += len(changed)
        result.ended += sum(1 for r in changed if r["status"] == "cancelled")
    else:
        _, changed = yield partial(ops.retry_ids, ids, now)
        result.changed += len(changed)


def run_steps(steps: Steps, run: Callable[[ops.Op[Any]], Any]) -> BulkResult:
    """Run ``steps`` with ``run`` (one operation, one transaction, on a sync client); a
    page's transaction that lost a deadlock changed nothing and runs again."""
    def attempt(step: Step) -> Any:
        return again_after_deadlock(lambda: run(step()))

    try:
        step = next(steps)
        while True:
            step = steps.send(attempt(step))
    except StopIteration as stop:
        return stop.value


async def run_steps_async(steps: Steps, run: Callable[[ops.Op[Any]], Awaitable[Any]]
                          ) -> BulkResult:
    """Like :func:`run_steps` with an async ``run``."""
    async def attempt(step: Step) -> Any:
        return await again_after_deadlock_async(lambda: run(step()))

    try:
        step = next(steps)
        while True:
            step = steps.send(await attempt(step))
    except StopIteration as stop:
        return stop.value
