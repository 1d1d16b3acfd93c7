"""``rhythm queue list|pause|resume|set``: queue controls (docs/cli.md, docs/flow-control.md).

Thin click commands over :mod:`rhythm.runtime.limits`. Every change is one transaction
that also tells the workers (NOTIFY ``'!limits'``); a bad rate spec is bad usage (exit 2,
one line naming ``--rate-limit``).

The project file's ``[queues.NAME]`` tables are applied by ``rhythm queue set`` without
options (every queue of the file, or QUEUE's only): one explicit step, at deploy time,
rather than by each worker as it starts (workers on several hosts may carry different
files; the database holds the one setting they all obey).
"""

from __future__ import annotations

import json
from typing import Any

import click

from rhythm.cli._options import json_option, with_settings
from rhythm.config import Settings, read_queue_tables
from rhythm.errors import ConfigError, RhythmError

RATE_HELP = "Rate limit N/s, N/min or N/h (N a positive integer), or 'none' to clear it."
RETENTION_HELP = ("How long ended {kind} of the queue are kept: a duration (7d, 12h, 30m, "
                  "90s; 0 = until the next cleanup pass), 'never', or 'default' (the "
                  "[retention] setting).")


def _rate_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from rhythm.runtime.limits import UNSET
    from rhythm.runtime.ratespec import optional_rate_limit

    if value is None:
        return UNSET
    try:
        return optional_rate_limit(value, "--rate-limit")
    except ValueError as err:
        raise click.BadParameter(str(err).removeprefix("--rate-limit: "),
                                 ctx=ctx, param=param) from None


def retention_value(value: Any, what: str) -> Any:
    """A queue's retention as given: seconds, NEVER, None for 'default' (ValueError
    naming ``what``)."""
    from rhythm.lifecycle.retention import parse_retention

    if isinstance(value, str) and value.strip().lower() == "default":
        return None
    return parse_retention(value, what)


def _retention_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from rhythm.runtime.limits import UNSET

    if value is None:
        return UNSET
    try:
        return retention_value(value, param.opts[0])
    except ValueError as err:
        raise click.BadParameter(str(err).removeprefix(f"{param.opts[0]} "),
                                 ctx=ctx, param=param) from None


def _connect(settings: Settings) -> Any:
    from rhythm.runtime.database import connect
    from rhythm.store import database_url

    return connect(database_url(settings))


def _change(settings: Settings, name: str, **change: Any) -> dict[str, Any]:
    from rhythm.runtime.clock import SystemClock
    from rhythm.runtime.database import translated
    from rhythm.runtime.limits import set_queue
    from rhythm.runtime.partitions import Topology
    from rhythm.runtime.sql import Q

    if not name.strip():
        raise click.BadParameter("a queue name cannot be empty", param_hint="'QUEUE'")
    with _connect(settings) as conn, translated(f"changing queue {name!r}"):
        topology = Topology.from_row(conn.execute(Q["read_layout"]).fetchone())
        return set_queue(conn, name, SystemClock().now(), partitions=topology.partitions,
                         **change)


def _describe(row: dict[str, Any]) -> str:
    from rhythm.lifecycle.retention import describe_retention

    state = "paused" if row["paused"] else "running"
    text = f"queue {row['name']}: {state}, rate limit {row['rate_limit'] or 'none'}"
    tasks, workflows = row["task_retention_s"], row["workflow_retention_s"]
    if tasks is not None or workflows is not None:  # (else: the defaults, said by no one)
        text += (f", retention tasks {describe_retention(tasks)}, "
                 f"workflows {describe_retention(workflows)}")
    return text


@click.group("queue")
def queue_group() -> None:
    """Inspect and control queues: depth, pause/resume, rate limits."""


@queue_group.command("list")
@with_settings
@json_option
def list_command(settings: Settings, as_json: bool) -> None:
    """Every queue known from live executions, task routes or settings: depth by status,
    age of the oldest pending execution, rate limits, paused."""
    from rhythm.runtime.clock import SystemClock
    from rhythm.runtime.database import translated
    from rhythm.runtime.limits import queue_overview

    with _connect(settings) as conn, translated("listing queues"):
        rows = queue_overview(conn, SystemClock().now())
    if as_json:
        click.echo(json.dumps({"queues": rows}, sort_keys=True))
        return
    click.echo("QUEUE\tPENDING\tREADY\tRUNNING\tSUSPENDED\tOLDEST\tRATE\tPAUSED\tTASK LIMITS")
    for row in rows:
        oldest = row["oldest_pending_s"]
        click.echo(
            f"{row['name']}\t{row['pending']}\t{row['ready']}\t{row['running']}\t"
            f"{row['suspended']}\t{'-' if oldest is None else f'{oldest:.1f}s'}\t"
            f"{row['rate_limit'] or '-'}\t{'yes' if row['paused'] else 'no'}\t"
            f"{row['task_limits'] or '-'}")


@queue_group.command("pause")
@click.argument("queue")
@with_settings
def pause_command(settings: Settings, queue: str) -> None:
    """Stop claiming QUEUE on every worker (what runs now finishes)."""
    click.echo(_describe(_change(settings, queue, paused=True)))


@queue_group.command("resume")
@click.argument("queue")
@with_settings
def resume_command(settings: Settings, queue: str) -> None:
    """Claim QUEUE again (workers are woken at once)."""
    click.echo(_describe(_change(settings, queue, paused=False)))


@queue_group.command("set")
@click.argument("queue", required=False)
@click.option("--rate-limit", "rate_limit", default=None, metavar="SPEC",
              callback=_rate_option, expose_value=True, help=RATE_HELP)
@click.option("--paused/--running", "paused", default=None,
              help="Pause the queue, or let it run.  [default: unchanged]")
@click.option("--task-retention", "task_retention", default=None, metavar="DURATION",
              callback=_retention_option, help=RETENTION_HELP.format(kind="tasks"))
@click.option("--workflow-retention", "workflow_retention", default=None, metavar="DURATION",
              callback=_retention_option, help=RETENTION_HELP.format(kind="workflows"))
@with_settings
def set_command(settings: Settings, queue: str | None, rate_limit: Any,
                paused: bool | None, task_retention: Any, workflow_retention: Any) -> None:
    """Change QUEUE's settings; without options, apply the project file's
    [queues.NAME] tables (all of them, or QUEUE's)."""
    from rhythm.runtime.limits import UNSET

    given = {"rate_limit": rate_limit, "task_retention_s": task_retention,
             "workflow_retention_s": workflow_retention}
    if any(v is not UNSET for v in given.values()) or paused is not None:
        if queue is None:
            raise click.UsageError("--rate-limit, --paused/--running and the retention "
                                   "options need a QUEUE")
        click.echo(_describe(_change(settings, queue, paused=paused, **given)))
        return
    for name, change in _file_changes(settings, queue):
        click.echo(_describe(_change(settings, name, **change)))


def _file_changes(settings: Settings, queue: str | None) -> list[tuple[str, dict[str, Any]]]:
    """The changes the project file's [queues.NAME] tables ask for (checked first, all
    of them, so that a bad one changes nothing)."""
    from rhythm.runtime.limits import UNSET
    from rhythm.runtime.ratespec import optional_rate_limit

    tables, label = read_queue_tables(settings.project_dir)
    if queue is not None:
        if queue not in tables:
            raise RhythmError(f"{label} has no [queues.{queue}] table; give --rate-limit or "
                              "--paused/--running")
        tables = {queue: tables[queue]}
    if not tables:
        raise RhythmError(f"{label} has no [queues.NAME] table; give QUEUE and "
                          "--rate-limit or --paused/--running")
    changes = []
    for name, table in sorted(tables.items()):
        rate: Any = UNSET
        if "rate_limit" in table:
            try:
                rate = optional_rate_limit(table["rate_limit"], f"queues.{name}.rate_limit")
            except ValueError as err:
                raise ConfigError(f"{label}: {err}") from None
        change = {"rate_limit": rate, "paused": table.get("paused")}
        for kind in ("task", "workflow"):
            key = f"{kind}_retention"
            if key in table:
                try:
                    change[f"{key}_s"] = retention_value(table[key], f"queues.{name}.{key}")
                except ValueError as err:
                    raise ConfigError(f"{label}: {err}") from None
        changes.append((name, change))
    return changes


COMMANDS = [queue_group]
