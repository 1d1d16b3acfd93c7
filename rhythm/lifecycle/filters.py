"""Which executions a command is about: the filters of ``rhythm list`` and of bulk retry
and cancel, their validation, and the keyset cursor of a listing (docs/lifecycle.md).

Times are ISO 8601 (a time without zone is UTC) or a duration back from now (``90s``,
``15m``, ``2h``, ``7d``, ``2w``), now being the caller's clock. A listing is newest first,
ties in ``created_at`` by id; its next page starts after the last row shown, named by a
cursor ``CREATED_AT,ID`` (keyset paging: no OFFSET, so page 100 costs what page 1 does,
and rows inserted meanwhile shift nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from rhythm.errors import BadFilter
from rhythm.runtime.operations import Op

STATUSES = ("pending", "running", "suspended", "completed", "failed", "cancelled")
KINDS = ("task", "workflow")
MAX_LIMIT = 10_000
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

Row = dict[str, Any]


def parse_time(value: str | datetime | None, flag: str, now: datetime) -> datetime | None:
    """``value`` as an aware datetime: ISO 8601 (UTC when it names no zone) or a duration
    before ``now``. BadFilter (naming ``flag``) otherwise."""
    if value is None or isinstance(value, datetime):
        return _aware(value) if value is not None else None
    text = value.strip()
    relative = _DURATION.fullmatch(text)
    if relative is not None:
        seconds = int(relative.group(1)) * _UNIT_SECONDS[relative.group(2)]
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:
            raise BadFilter(f"{flag}: {value!r} reaches too far back") from None
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        raise BadFilter(f"{flag}: {value!r} is neither an ISO 8601 time nor a duration "
                        "like 90s, 15m, 2h, 7d or 2w") from None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Filters:
    """A selection of executions; None means "any". Bulk operations take all but
    ``parent_id`` and ``id_prefix``."""

    status: str | None = None
    name: str | None = None
    kind: str | None = None
    queue: str | None = None
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    parent_id: str | None = None
    id_prefix: str | None = None

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def make_filters(
    now: datetime, *, status: str | None = None, name: str | None = None,
    kind: str | None = None, queue: str | None = None, since: str | datetime | None = None,
    until: str | datetime | None = None, parent_id: str | None = None,
    id_prefix: str | None = None,
) -> Filters:
    """Validated :class:`Filters` (BadFilter, one line naming the flag)."""
    if status is not None and status not in STATUSES:
        raise BadFilter(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    if kind is not None and kind not in KINDS:
        raise BadFilter(f"--kind must be task or workflow, got {kind!r}")
    for flag, text in (("--name", name), ("--queue", queue), ("--parent", parent_id),
                       ("--id-prefix", id_prefix)):
        if text is not None and (not isinstance(text, str) or not text):
            raise BadFilter(f"{flag} must be a non-empty string, got {text!r}")
    start, end = parse_time(since, "--since", now), parse_time(until, "--until", now)
    if start is not None and end is not None and start >= end:
        raise BadFilter(f"--since ({start.isoformat()}) must be before --until "
                        f"({end.isoformat()})")
    return Filters(status=status, name=name, kind=kind, queue=queue, since=start,
                   until=end, parent_id=parent_id, id_prefix=id_prefix)


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: after the row created at ``at`` with id ``id``."""

    at: datetime
    id: str

    def text(self) -> str:
        return f"{self.at.isoformat()},{self.id}"

    @classmethod
    def of(cls, row: Row) -> Cursor:
        return cls(row["created_at"], row["id"])

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """A cursor as printed by :meth:`text` (the time has no comma; an id may)."""
        at, comma, execution_id = text.partition(",")
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            moment = None
        if not comma or not execution_id or moment is None:
            raise BadFilter(f"--after: {text!r} is not a cursor (CREATED_AT,ID as a "
                            "listing prints it)")
        return cls(_aware(moment), execution_id)

    @staticmethod
    def params(cursor: Cursor | None) -> dict[str, Any]:
        if cursor is None:
            return {"after_at": None, "after_id": None}
        return {"after_at": cursor.at, "after_id": cursor.id}


@dataclass(frozen=True)
class Page:
    """Rows of a listing, and the cursor of the next page (None: this was the last)."""

    rows: list[Row]
    next: str | None


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise BadFilter(f"--limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


def list_page(filters: Filters, limit: int, after: str | Cursor | None = None) -> Op[Page]:
    """One page of executions matching ``filters``, newest first. One row more than
    ``limit`` is read to know whether a next page exists."""
    check_limit(limit)
    cursor = Cursor.parse(after) if isinstance(after, str) else after
    rows = yield "list_executions", {
        **filters.params(), **Cursor.params(cursor), "limit": limit + 1,
        # (the parent's partition holds its children: the driver binds `part` from `id`)
        "id": filters.parent_id, "part": None,
    }
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, Cursor.of(rows[-1]).text() if more else None)
