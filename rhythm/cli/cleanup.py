"""``rhythm cleanup``: delete ended executions now (docs/cli.md, docs/lifecycle.md).

The same deletion code as the workers' cleaners (:mod:`rhythm.lifecycle.retention`):
batches of 500 executions, one short transaction each, under the cleaners' advisory
lock (a batch that finds a worker's cleaner working waits for it, ``--wait`` seconds). Without
``--older-than`` each execution's retention decides (its queue's, else the project
file's ``[retention]``, else 7 days for tasks and 30 for workflows). Bad options are one
line naming the option (exit 2), checked before anything is read or written.
"""

from __future__ import annotations

import json
from typing import Any

import click

from rhythm.cli._options import json_option, with_settings
from rhythm.config import Settings, read_retention_table
from rhythm.errors import ConfigError, RhythmError

ENDED = ("completed", "failed", "cancelled")


def _older_than(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    from rhythm.lifecycle.retention import parse_retention

    if value is None:
        return None
    if value.strip().lower() == "never":
        raise click.BadParameter("must be a duration such as 7d, 12h, 30m or 90s",
                                 ctx=ctx, param=param)
    try:
        return parse_retention(value, "--older-than")
    except ValueError as err:
        raise click.BadParameter(str(err).removeprefix("--older-than "),
                                 ctx=ctx, param=param) from None


@click.command("cleanup")
@click.option("--older-than", "older_than", default=None, metavar="DURATION",
              callback=_older_than,
              help="Delete ended executions that finished longer ago than this (7d, 12h, "
                   "30m, 90s; 0 = every ended one).  [default: each one's retention]")
@click.option("--status", "statuses", multiple=True, type=click.Choice(ENDED),
              help="Only executions that ended so (repeatable).  [default: any ended]")
@click.option("--queue", default=None, metavar="QUEUE", help="Only executions of QUEUE.")
@click.option("--name", default=None, metavar="NAME", help="Only this task or workflow name.")
@click.option("--kind", default=None, type=click.Choice(("task", "workflow")),
              help="Only tasks, or only workflows.")
@click.option("--dry-run", "dry_run", is_flag=True,
              help="Count what would be deleted (by kind and status); delete nothing.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for another cleaner (a worker's) to finish its batches.")
@with_settings
@json_option
def cleanup_command(settings: Settings, older_than: int | None, statuses: tuple[str, ...],
                    queue: str | None, name: str | None, kind: str | None, dry_run: bool,
                    wait_s: float, as_json: bool) -> None:
    """Delete ended executions (completed, failed, cancelled) past their retention, with
    everything of them. Pending, running and suspended executions are never deleted, nor
    an ended workflow whose child still runs."""
    from rhythm.lifecycle.retention import Filters, sweep

    filters = Filters(older_than_s=older_than, kind=kind, statuses=statuses or None,
                      queue=queue, name=name)
    defaults = _defaults(settings)
    summary = _run(settings, lambda conn, topology, now: sweep(
        conn, topology, now, defaults, filters, dry_run=dry_run, wait_s=wait_s))
    _print(summary, dry_run, as_json)
    if summary.busy:
        raise RhythmError(f"another cleaner kept the cleanup lock for {wait_s:g} s; deleted "
                          f"{summary.total} so far; try again")


def _defaults(settings: Settings) -> Any:
    from rhythm.lifecycle.retention import Retention, with_defaults

    table, label = read_retention_table(settings.project_dir)
    try:
        return with_defaults(Retention(), table.get("tasks"), table.get("workflows"))
    except ValueError as err:
        raise ConfigError(f"{label}: {err}") from None


def _run(settings: Settings, sweep: Any) -> Any:
    from rhythm.runtime.clock import SystemClock
    from rhythm.runtime.database import connect, translated
    from rhythm.runtime.partitions import Topology
    from rhythm.runtime.sql import Q
    from rhythm.store import database_url

    with connect(database_url(settings)) as conn, translated("cleaning up"):
        topology = Topology.from_row(conn.execute(Q["read_layout"]).fetchone())
        return sweep(conn, topology, SystemClock().now())


def _print(summary: Any, dry_run: bool, as_json: bool) -> None:
    rows = summary.by_kind_status()
    if as_json:
        key = "would_delete" if dry_run else "deleted"
        click.echo(json.dumps({key: summary.total, "by_kind_status": rows}, sort_keys=True))
        return
    verb = "would delete" if dry_run else "deleted"
    detail = ", ".join(f"{r['count']} {r['kind']} {r['status']}" for r in rows)
    noun = "execution" if summary.total == 1 else "executions"
    click.echo(f"{verb} {summary.total} {noun}" + (f" ({detail})" if detail else ""))


COMMANDS = [cleanup_command]
