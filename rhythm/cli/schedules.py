"""``rhythm schedule create|list|pause|resume|delete|apply`` (docs/cli.md, docs/lifecycle.md).

Thin click commands over :mod:`rhythm.lifecycle.schedules` (through ``client.schedules``
and its operations). A bad definition - a malformed cron expression, an unknown time
zone, a bad catch-up policy, a workflow or task nobody registered - is bad usage: one
line naming the option, exit 2, nothing written.

The project file's ``[schedules.NAME]`` tables are applied by ``rhythm schedule apply``
(all of them, or NAME's): one explicit step at deploy time, as ``rhythm queue set`` does
for ``[queues.NAME]``, rather than by each worker as it starts (workers on several hosts
may carry different files; the database holds the one definition they all fire). Apply
creates or replaces each schedule of the file and deletes none; a target not registered
yet is a warning there, not a refusal (a deploy applies the file before its workers
register; the ticks then wait, pending, for them).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from rhythm.cli._inputs import HELP, json_value
from rhythm.cli._options import client_for, json_option, with_settings
from rhythm.config import Settings, read_schedule_tables
from rhythm.errors import ConfigError, RhythmError

CATCH_UP_HELP = ("Ticks missed while no worker ran: skip them, start the latest once, or "
                 "start all of them.")
OPTIONS = {"name": "NAME", "cron": "--cron", "workflow": "--workflow", "task": "--task",
           "inputs": "--inputs", "timezone": "--timezone", "catch_up": "--catch-up",
           "queue": "--queue", "paused": "--paused", "replace": "--replace"}


def cli_label(field: str) -> str:
    return OPTIONS.get(field, field)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def _when(moment: datetime | None) -> str:
    from rhythm.lifecycle.schedules import NEVER, iso_tick

    return "-" if moment is None or moment >= NEVER else iso_tick(moment)


def _target(row: dict[str, Any]) -> str:
    return f"{row['target_kind']} {row['target']}"


def _describe(row: dict[str, Any]) -> str:
    state = "paused" if row["paused"] else f"next fire {_when(row['next_fire_at'])}"
    return (f"schedule {row['name']}: {_target(row)} on '{row['cron']}' ({row['timezone']}), "
            f"catch-up {row['catch_up']}, {state}")


def _print(row: dict[str, Any], as_json: bool, action: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(dict(sorted(_jsonable(row).items()))))
    else:
        click.echo(_describe(row) + (f" ({action})" if action else ""))


@click.group("schedule")
def schedule_group() -> None:
    """Start workflows or tasks on a cron schedule: create, list, pause, resume, delete,
    apply the project file's [schedules.NAME] tables."""


@schedule_group.command("create")
@click.argument("name")
@click.option("--cron", required=True, metavar="EXPR",
              help="Cron expression: 5 fields 'min hour day month weekday', or 6 with "
                   "seconds first.")
@click.option("--workflow", default=None, metavar="W", help="Workflow to start on each tick.")
@click.option("--task", default=None, metavar="T", help="Task to queue on each tick.")
@click.option("--inputs", default=None, metavar="JSON", help=f"Inputs object ({HELP}).")
@click.option("--timezone", default="UTC", show_default=True, metavar="TZ",
              help="IANA time zone the cron expression is read in.")
@click.option("--catch-up", "catch_up", type=click.Choice(("skip", "once", "all")),
              default="once", show_default=True, help=CATCH_UP_HELP)
@click.option("--queue", default=None, metavar="Q",
              help="Queue of the executions.  [default: the target's own]")
@click.option("--paused/--running", "paused", default=None,
              help="Create it paused, or running.  [default: running; --replace: unchanged]")
@click.option("--replace", is_flag=True, help="Change the schedule if NAME exists already.")
@with_settings
@json_option
def create_command(settings: Settings, name: str, cron: str, workflow: str | None,
                   task: str | None, inputs: str | None, timezone: str, catch_up: str,
                   queue: str | None, paused: bool | None, replace: bool,
                   as_json: bool) -> None:
    """Create schedule NAME: start --workflow W (or queue --task T) on every tick of
    --cron. Refused when NAME exists, unless --replace."""
    from rhythm.lifecycle.schedules import make_spec
    from rhythm.runtime.clock import SystemClock

    data = json_value(inputs, "--inputs", want_object=True)
    spec = make_spec(name, cron=cron, workflow=workflow, task=task, inputs=data,
                     timezone=timezone, catch_up=catch_up, queue=queue, paused=paused,
                     label=cli_label, now=SystemClock().now())
    with client_for(settings) as client:
        row = client.schedules.create_spec(spec, replace=replace, label=cli_label)
    _print(row, as_json, None if as_json else ("created" if row["created"] else "replaced"))


@schedule_group.command("list")
@with_settings
@json_option
def list_command(settings: Settings, as_json: bool) -> None:
    """Every schedule: target, cron, time zone, next fire, last tick, paused."""
    with client_for(settings) as client:
        rows = client.schedules.list()
    if as_json:
        click.echo(json.dumps({"schedules": [dict(sorted(_jsonable(r).items()))
                                             for r in rows]}))
        return
    click.echo("NAME\tTARGET\tCRON\tTIMEZONE\tCATCH-UP\tNEXT FIRE\tLAST TICK\tPAUSED")
    for row in rows:
        click.echo(f"{row['name']}\t{_target(row)}\t{row['cron']}\t{row['timezone']}\t"
                   f"{row['catch_up']}\t{'-' if row['paused'] else _when(row['next_fire_at'])}"
                   f"\t{_when(row['last_tick'])}\t{'yes' if row['paused'] else 'no'}")


@schedule_group.command("pause")
@click.argument("name")
@with_settings
def pause_command(settings: Settings, name: str) -> None:
    """Fire NAME no more until resumed (its ticks meanwhile are skipped)."""
    with client_for(settings) as client:
        click.echo(_describe(client.schedules.pause(name)))


@schedule_group.command("resume")
@click.argument("name")
@with_settings
def resume_command(settings: Settings, name: str) -> None:
    """Fire NAME again, from its first tick after now."""
    with client_for(settings) as client:
        click.echo(_describe(client.schedules.resume(name)))


@schedule_group.command("delete")
@click.argument("name")
@with_settings
def delete_command(settings: Settings, name: str) -> None:
    """Delete schedule NAME (the executions it started stay)."""
    with client_for(settings) as client:
        client.schedules.delete(name)
    click.echo(f"schedule {name}: deleted")


@schedule_group.command("apply")
@click.argument("name", required=False)
@with_settings
def apply_command(settings: Settings, name: str | None) -> None:
    """Create or replace the project file's [schedules.NAME] tables (all of them, or
    NAME's); deletes none."""
    from rhythm.runtime.clock import SystemClock

    specs = _file_specs(settings, name, SystemClock().now())
    with client_for(settings) as client:
        for spec in specs:
            row = client.schedules.create_spec(spec, replace=True, allow_unknown=True)
            if row["warning"]:
                click.echo(f"rhythm: warning: schedules.{spec.name}.{row['warning']}; its "
                           "ticks wait (pending) until a worker registers it", err=True)
            click.echo(_describe(row) + f" ({'created' if row['created'] else 'applied'})")


def _file_specs(settings: Settings, name: str | None, now: datetime) -> list[Any]:
    """The definitions of the project file's tables, every one checked before any is
    applied (a bad one changes nothing; exit 3 with the key named)."""
    from rhythm.lifecycle.schedules import ScheduleError, make_spec

    tables, label = read_schedule_tables(settings.project_dir)
    if name is not None:
        if name not in tables:
            raise RhythmError(f"{label} has no [schedules.{name}] table")
        tables = {name: tables[name]}
    if not tables:
        raise RhythmError(f"{label} has no [schedules.NAME] table")
    specs = []
    for key, table in sorted(tables.items()):
        def where(field: str, key: str = key) -> str:
            return f"schedules.{key}" if field == "name" else f"schedules.{key}.{field}"

        try:
            specs.append(make_spec(key, **{k: v for k, v in table.items()},
                                   label=where, now=now))
        except ScheduleError as err:
            raise ConfigError(f"{label}: {err}") from None
    return specs


COMMANDS = [schedule_group]
