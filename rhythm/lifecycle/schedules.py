"""Schedules: a workflow or task started on a cron expression (docs/lifecycle.md).

* **Model and validation** (:func:`make_spec`): every bad field is refused before any
  I/O with one line naming its option (:class:`ScheduleError`, bad usage, exit 2). The
  option names depend on the caller (``--cron``, ``cron``, ``schedules.NAME.cron``):
  a ``label`` function gives them.
* **Ticks** (:class:`Cron`): cron expressions by ``cronsim`` - 5 fields, or 6 with
  seconds first - in an IANA time zone by ``zoneinfo``. Daylight-saving changes are
  cronsim's: a fixed-time job whose local time does not exist that day fires at the
  first valid minute after it, one whose time occurs twice fires once (the first);
  "every N minutes/hours" jobs follow real (UTC) time.
* **Catch-up** (:func:`plan_firing`): which due ticks one firing starts.
* **Operations** (create, list, pause, resume, delete): generators run by the clients'
  drivers (:mod:`rhythm.runtime.operations`), each one transaction that takes the
  schedule's advisory lock and tells the workers (``NOTIFY rhythm_wake,
  '!schedules'``). :class:`Schedules` and :class:`AsyncSchedules` are
  ``client.schedules``.

The worker side, which fires them, is :mod:`rhythm.lifecycle.scheduler`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from rhythm.errors import EXIT_USAGE, InputError, RhythmError, UnknownName, closest
from rhythm.runtime import operations as ops
from rhythm.runtime.notices import WAKE
from rhythm.runtime.payloads import encode_object

if TYPE_CHECKING:
    from rhythm.runtime.client import AsyncClient, Client

SCHEDULES_PAYLOAD = "!schedules"
"""The ``rhythm_wake`` payload that makes every worker's scheduler read the next fire."""
LOCK_CLASS = 19012  # first key of a schedule's advisory lock (second: hashtext(name))
KINDS = ("workflow", "task")
CATCH_UP = ("skip", "once", "all")
DEFAULT_CATCH_UP = "once"
GRACE = timedelta(seconds=60)  # a tick later than min(GRACE, its period) is "missed"
MAX_CATCH_UP = 1000  # missed ticks "all" starts at most: the latest ones; older are skipped
PER_FIRING = 100  # ticks one firing (one transaction) starts at most; the rest fire next
MAX_NAME = 150  # (an execution id, NAME@tick, has at most 200 characters)
NEVER = datetime(9999, 12, 31, tzinfo=UTC)  # next fire of a cron with no tick left

Label = Callable[[str], str]


class ScheduleError(InputError):
    """A bad schedule definition: one line naming the option; bad usage (exit 2)."""

    exit_code = EXIT_USAGE


def python_label(field: str) -> str:
    """Option names of the Python API (``client.schedules.create``)."""
    return field


def iso_tick(tick: datetime) -> str:
    """A tick as in execution ids and ``scheduledAt``: ISO 8601, UTC, ``Z``."""
    return tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------- ticks


@dataclass(frozen=True)
class Cron:
    """A cron expression in a time zone; every tick in and out is aware, UTC out."""

    expr: str
    timezone: str

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _first(self, start: datetime, reverse: bool = False) -> datetime | None:
        try:
            tick = next(CronSim(self.expr, start.astimezone(self.zone), reverse=reverse))
        except StopIteration:  # (no tick within cronsim's 50 years)
            return None
        return tick.astimezone(UTC)

    def after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after ``moment``."""
        return self._first(moment)

    def at_or_after(self, moment: datetime) -> datetime | None:
        """The first tick at ``moment`` or later (ticks are whole seconds)."""
        whole = moment.replace(microsecond=0)
        return self._first(whole - timedelta(seconds=1) if whole == moment else whole)

    def at_or_before(self, moment: datetime) -> datetime | None:
        """The last tick at ``moment`` or earlier."""
        return self._first(moment.replace(microsecond=0) + timedelta(seconds=1), True)

    def before(self, moment: datetime) -> datetime | None:
        """The last tick strictly before ``moment``."""
        whole = moment.replace(microsecond=0)
        return self.at_or_before(whole - timedelta(seconds=1) if whole == moment else whole)


def parse_cron(expr: Any, timezone: Any, label: Label, now: datetime) -> Cron:
    """The checked :class:`Cron` (ScheduleError naming the option)."""
    if not isinstance(timezone, str) or not timezone.strip():
        raise ScheduleError(f"{label('timezone')} must be an IANA time zone name such as "
                            f"'Europe/Berlin', got {timezone!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        match = closest(timezone, available_timezones())
        guess = f" (did you mean {match!r}?)" if match else ""
        raise ScheduleError(f"{label('timezone')} {timezone!r} is not a known IANA time "
                            f"zone{guess}") from None
    if not isinstance(expr, str):
        raise ScheduleError(f"{label('cron')} must be a string, got {expr!r}")
    try:
        CronSim(expr, now)
    except (CronSimError, ValueError, IndexError) as err:
        reason = (str(err) or type(err).__name__).lower()
        if "number of fields" in reason:
            reason += " (5 fields 'min hour day month weekday', or 6 with seconds first)"
        raise ScheduleError(f"{label('cron')} {expr!r} is not a valid cron expression: "
                            f"{reason}") from None
    cron = Cron(" ".join(expr.split()), timezone)
    if cron.after(now) is None:
        raise ScheduleError(f"{label('cron')} {expr!r} never fires")
    return cron


# ----------------------------------------------------------------- catch-up


@dataclass(frozen=True)
class Firing:
    """What one firing does: the ticks it starts, then the schedule's new state."""

    starts: list[datetime]
    last_tick: datetime
    next_fire_at: datetime


def on_time(cron: Cron, tick: datetime, now: datetime) -> bool:
    """A tick not later than the grace: min(:data:`GRACE`, the gap to the next tick)."""
    following = cron.after(tick) or NEVER
    return now - tick <= min(GRACE, following - tick)


def plan_firing(cron: Cron, due: datetime, now: datetime, catch_up: str) -> Firing:
    """The ticks in [``due``, ``now``] to start (``due``: the schedule's next fire).

    On-time ticks always start. Of the missed ones, ``skip`` starts none, ``once`` the
    latest, ``all`` every one - the latest :data:`MAX_CATCH_UP` at most, and
    :data:`PER_FIRING` per firing (one transaction stays short): the schedule's next
    fire is then the tick after the last one started, still due, fired next."""
    if catch_up == "all":
        return _plan_all(cron, due, now)
    # (only the ticks of the last grace can be on time: a long outage costs no walk)
    window = []
    tick = cron.at_or_after(max(due, now - GRACE))
    while tick is not None and tick <= now:
        window.append(tick)
        tick = cron.after(tick)
    starts = [t for t in window if on_time(cron, t, now)]
    latest = cron.at_or_before(now) or due
    if catch_up == "once":
        late = [t for t in window if t not in starts]
        missed = late[-1] if late else (cron.before(max(due, now - GRACE))
                                        if due < now - GRACE else None)
        if missed is not None and missed >= due:
            starts = sorted([missed, *starts])
    return Firing(starts, latest, cron.after(now) or NEVER)


def _walk(cron: Cron, start: datetime | None, now: datetime, most: int) -> list[datetime]:
    """Up to ``most`` ticks from ``start`` (a tick) to ``now``."""
    ticks: list[datetime] = []
    while start is not None and start <= now and len(ticks) < most:
        ticks.append(start)
        start = cron.after(start)
    return ticks


def _plan_all(cron: Cron, due: datetime, now: datetime) -> Firing:
    start: datetime | None = due
    if len(_walk(cron, due, now, MAX_CATCH_UP + 1)) > MAX_CATCH_UP:
        start = cron.at_or_before(now)  # (back to the oldest of the latest MAX_CATCH_UP)
        for _ in range(MAX_CATCH_UP - 1):
            start = cron.before(start) if start is not None else None
    starts = _walk(cron, start or due, now, PER_FIRING)
    return Firing(starts, starts[-1], cron.after(starts[-1]) or NEVER)


# ----------------------------------------------------------------- definitions


@dataclass(frozen=True)
class ScheduleSpec:
    """A checked schedule definition (:func:`make_spec`)."""

    name: str
    target_kind: str
    target: str
    inputs: str  # JSON object text
    cron: Cron
    catch_up: str
    queue: str | None
    paused: bool | None  # None: a new one runs, a replaced one keeps its flag

    def params(self, now: datetime) -> dict[str, Any]:
        return {
            "name": self.name, "target_kind": self.target_kind, "target": self.target,
            "inputs": self.inputs, "cron": self.cron.expr, "timezone": self.cron.timezone,
            "catch_up": self.catch_up, "queue": self.queue, "paused": self.paused,
            "next_fire_at": self.cron.after(now) or NEVER, "now": now,
            "lock_class": LOCK_CLASS,
        }


def make_spec(
    name: Any, *, cron: Any, workflow: Any = None, task: Any = None, inputs: Any = None,
    timezone: Any = "UTC", catch_up: Any = DEFAULT_CATCH_UP, queue: Any = None,
    paused: bool | None = None, label: Label = python_label, now: datetime,
) -> ScheduleSpec:
    """Check a definition; ScheduleError (one line naming the option) when it is bad."""
    check_name(name, label)
    if (workflow is None) == (task is None):
        raise ScheduleError(f"give exactly one of {label('workflow')} or {label('task')}")
    kind = "workflow" if workflow is not None else "task"
    target = workflow if workflow is not None else task
    if not isinstance(target, str) or not target.strip():
        raise ScheduleError(f"{label(kind)} must be a non-empty name, got {target!r}")
    if catch_up not in CATCH_UP:
        raise ScheduleError(f"{label('catch_up')} must be one of {', '.join(CATCH_UP)}, "
                            f"got {catch_up!r}")
    if queue is not None and (not isinstance(queue, str) or not queue.strip()):
        raise ScheduleError(f"{label('queue')} must be a non-empty name, got {queue!r}")
    if paused is not None and not isinstance(paused, bool):
        raise ScheduleError(f"{label('paused')} must be true or false, got {paused!r}")
    try:
        text = encode_object({} if inputs is None else inputs, label("inputs"))
    except InputError as err:
        raise ScheduleError(str(err)) from None
    return ScheduleSpec(name, kind, target, text, parse_cron(cron, timezone, label, now),
                        catch_up, queue, paused)


def check_name(name: Any, label: Label = python_label) -> str:
    if (not isinstance(name, str) or not name or name != name.strip()
            or len(name) > MAX_NAME):
        raise ScheduleError(f"{label('name')} must be 1 to {MAX_NAME} characters without "
                            f"leading or trailing spaces, got {name!r}")
    return name


# ----------------------------------------------------------------- operations


def _lock(name: str) -> tuple[str, dict[str, Any]]:
    return "schedule_lock", {"lock_class": LOCK_CLASS, "name": name}


def _announce() -> tuple[str, dict[str, Any]]:
    return "notify", {"channels": [WAKE], "payloads": [SCHEDULES_PAYLOAD]}


def missing_target(spec: ScheduleSpec, label: Label = python_label) -> ops.Op[str | None]:
    """Why the schedule's workflow or task is unknown ("did you mean"), or None: a
    workflow must have a registered version, a task a worker that registered it."""
    query = "workflow_names" if spec.target_kind == "workflow" else "schedule_task_names"
    rows = yield query, {}
    known = [row["name"] for row in rows]
    if spec.target in known:
        return None
    match = closest(spec.target, known)
    guess = f" (did you mean {match!r}?)" if match else ""
    what = ("is registered" if spec.target_kind == "workflow"
            else "is registered by any worker")
    return f"{label(spec.target_kind)}: no {spec.target_kind} named {spec.target!r} {what}{guess}"


def create_op(
    spec: ScheduleSpec, now: datetime, *, replace: bool = False, allow_unknown: bool = False,
    label: Label = python_label,
) -> ops.Op[dict[str, Any]]:
    """Create the schedule (refused when its name exists unless ``replace``, or when its
    target is unknown unless ``allow_unknown``: the row then says ``warning``)."""
    warning = yield from missing_target(spec, label)
    if warning is not None and not allow_unknown:
        raise ScheduleError(warning)
    yield _lock(spec.name)
    rows = yield "insert_schedule", spec.params(now)
    created = bool(rows)
    if not created:
        if not replace:
            raise RhythmError(f"schedule {spec.name!r} exists already; give "
                              f"{label('replace')} to change it")
        rows = yield "replace_schedule", spec.params(now)
        if not rows:  # (cannot happen under the lock; the row count is checked all the same)
            raise RhythmError(f"schedule {spec.name!r} changed meanwhile; try again")
    yield _announce()
    return {**rows[0], "created": created, "warning": warning}


def list_op() -> ops.Op[list[dict[str, Any]]]:
    rows = yield "list_schedules", {}
    return rows


def _existing(name: str) -> ops.Op[dict[str, Any]]:
    rows = yield "read_schedule", {"name": name}
    if rows:
        return rows[0]
    names = yield "schedule_names", {}
    match = closest(name, [row["name"] for row in names])
    guess = f" (did you mean {match!r}?)" if match else ""
    raise UnknownName(f"no schedule named {name!r}{guess}")


def set_paused_op(name: str, paused: bool, now: datetime) -> ops.Op[dict[str, Any]]:
    """Pause or resume; a resumed schedule fires next at its first tick after now (the
    ticks of the pause are skipped, not caught up). Already so: unchanged."""
    yield _lock(name)
    row = yield from _existing(name)
    if row["paused"] == paused:
        return row
    after = None if paused else Cron(row["cron"], row["timezone"]).after(now) or NEVER
    rows = yield "set_schedule_paused", {"name": name, "paused": paused,
                                         "next_fire_at": after, "now": now}
    if not rows:  # (cannot happen under the lock; the row count is checked all the same)
        raise RhythmError(f"schedule {name!r} changed meanwhile; try again")
    yield _announce()
    return rows[0]


def delete_op(name: str) -> ops.Op[dict[str, Any]]:
    """Delete the schedule (the executions it started stay)."""
    yield _lock(name)
    row = yield from _existing(name)
    rows = yield "delete_schedule", {"name": name}
    if not rows:
        raise RhythmError(f"schedule {name!r} changed meanwhile; try again")
    yield _announce()
    return row


# ----------------------------------------------------------------- Python API


class Schedules:
    """``client.schedules``: create, list, pause, resume and delete schedules."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self, name: str, *, cron: str, workflow: str | None = None, task: str | None = None,
        inputs: dict[str, Any] | None = None, timezone: str = "UTC",
        catch_up: str = DEFAULT_CATCH_UP, queue: str | None = None,
        paused: bool | None = None, replace: bool = False,
    ) -> dict[str, Any]:
        """Start ``workflow`` (or queue ``task``) with ``inputs`` on every tick of
        ``cron`` in ``timezone``; ``replace``: change an existing one. The row."""
        spec = make_spec(name, cron=cron, workflow=workflow, task=task, inputs=inputs,
                         timezone=timezone, catch_up=catch_up, queue=queue, paused=paused,
                         now=self._client.clock.now())
        return self.create_spec(spec, replace=replace)

    def create_spec(self, spec: ScheduleSpec, *, replace: bool = False,
                    allow_unknown: bool = False, label: Label = python_label
                    ) -> dict[str, Any]:
        """Create from a checked definition (:func:`make_spec`; the CLI's way):
        ``allow_unknown`` accepts a target nobody registered yet (the row's ``warning``
        says so); ``label`` names the options in errors."""
        op = create_op(spec, self._client.clock.now(), replace=replace,
                       allow_unknown=allow_unknown, label=label)
        row: dict[str, Any] = self._client._run(op, f"create schedule {spec.name!r}")
        return row

    def list(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._client._run(list_op(), "list schedules")
        return rows

    def pause(self, name: str) -> dict[str, Any]:
        row: dict[str, Any] = self._client._run(
            set_paused_op(name, True, self._client.clock.now()), f"pause schedule {name!r}")
        return row

    def resume(self, name: str) -> dict[str, Any]:
        row: dict[str, Any] = self._client._run(
            set_paused_op(name, False, self._client.clock.now()), f"resume schedule {name!r}")
        return row

    def delete(self, name: str) -> dict[str, Any]:
        row: dict[str, Any] = self._client._run(delete_op(name), f"delete schedule {name!r}")
        return row


class AsyncSchedules:
    """``async_client.schedules``: :class:`Schedules` as coroutines."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(
        self, name: str, *, cron: str, workflow: str | None = None, task: str | None = None,
        inputs: dict[str, Any] | None = None, timezone: str = "UTC",
        catch_up: str = DEFAULT_CATCH_UP, queue: str | None = None,
        paused: bool | None = None, replace: bool = False,
    ) -> dict[str, Any]:
        client = self._client
        spec = make_spec(name, cron=cron, workflow=workflow, task=task, inputs=inputs,
                         timezone=timezone, catch_up=catch_up, queue=queue, paused=paused,
                         now=client.clock.now())
        row: dict[str, Any] = await client._run(
            create_op(spec, client.clock.now(), replace=replace), f"create schedule {name!r}")
        return row

    async def list(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._client._run(list_op(), "list schedules")
        return rows

    async def pause(self, name: str) -> dict[str, Any]:
        row: dict[str, Any] = await self._client._run(
            set_paused_op(name, True, self._client.clock.now()), f"pause schedule {name!r}")
        return row

    async def resume(self, name: str) -> dict[str, Any]:
        row: dict[str, Any] = await self._client._run(
            set_paused_op(name, False, self._client.clock.now()), f"resume schedule {name!r}")
        return row

    async def delete(self, name: str) -> dict[str, Any]:
        row: dict[str, Any] = await self._client._run(delete_op(name),
                                                      f"delete schedule {name!r}")
        return row
