"""``rhythm list``, ``rhythm cancel`` and ``rhythm retry``: executions by filters or ids.

Thin click commands over :meth:`rhythm.Client.list_page`, ``cancel_many`` and
``retry_many`` (:mod:`rhythm.lifecycle`). ``cancel``/``retry`` with one id and nothing
else print what they always printed; with several ids or with filters they print counts.
A bad time, ids and filters together, or no filter at all is bad usage (exit 2, one line).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from rhythm.cli._options import client_for, json_option, with_settings
from rhythm.cli.executions import _jsonable, _row_json, _unserved, _with_reason
from rhythm.config import Settings
from rhythm.errors import UnknownName

STATUSES = ("pending", "running", "suspended", "completed", "failed", "cancelled")
TIME_HELP = ("ISO 8601 (UTC unless it names a zone) or a duration back from now: "
             "90s, 15m, 2h, 7d, 2w.")


def _filter_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The filters every command here takes (``list`` adds its own)."""
    options = [
        click.option("--status", type=click.Choice(STATUSES), default=None,
                      help="Only executions in this status."),
        click.option("--name", default=None, help="Only executions of this task or workflow."),
        click.option("--kind", type=click.Choice(("task", "workflow")), default=None,
                     help="Only tasks, or only workflows."),
        click.option("--queue", default=None, help="Only executions of this queue."),
        click.option("--since", default=None, metavar="TIME",
                     help=f"Only executions created at or after TIME: {TIME_HELP}"),
        click.option("--until", default=None, metavar="TIME",
                     help=f"Only executions created before TIME: {TIME_HELP}"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("list")
@_filter_options
@click.option("--parent", "parent_id", default=None, metavar="ID",
              help="Only the children (tasks and workflows) of workflow execution ID.")
@click.option("--id-prefix", default=None, help="Only executions whose id starts so.")
@click.option("--limit", type=click.IntRange(min=1, max=10_000), default=50,
              show_default=True, help="Rows of this page.")
@click.option("--after", default=None, metavar="CURSOR",
              help="The next page: the cursor the previous page printed.")
@with_settings
@json_option
def list_command(settings: Settings, limit: int, after: str | None, as_json: bool,
                 **filters: Any) -> None:
    """List executions, newest first, a page at a time.

    When more rows match, the text output ends with the cursor of the next page on
    stderr (`--after CURSOR`); --json gives it as "next" (null on the last page).
    """
    with client_for(settings) as client:
        page = client.list_page(limit=limit, after=after, **filters)
        unserved = _unserved(client, page.rows)
    rows = [_with_reason(_jsonable(r), unserved) for r in page.rows]
    if as_json:
        click.echo('{"executions": [' + ", ".join(_row_json(r) for r in rows) + "], "
                   f'"next": {json.dumps(page.next)}}}')
        return
    click.echo("ID\tKIND\tNAME\tSTATUS\tCREATED\tKEY\tREASON")
    for row in rows:
        click.echo(f"{row['id']}\t{row['kind']}\t{row['name']}\t{row['status']}\t"
                   f"{row['created_at']}\t{row.get('idempotency_key') or ''}\t"
                   f"{row['reason'] or ''}".rstrip("\t"))
    if page.next is not None:
        click.echo(f"more rows: next page with --after '{page.next}'", err=True)


def _bulk_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--dry-run", is_flag=True,
                           help="Count what would change; change nothing.")(command)
    command = _filter_options(command)
    return click.argument("ids", nargs=-1, metavar="[ID]...")(command)


def _single(ids: tuple[str, ...], dry_run: bool, as_json: bool, filters: dict[str, Any]
            ) -> bool:
    """One id and nothing else: the command as it always was."""
    return len(ids) == 1 and not dry_run and not as_json and not any(
        v is not None for v in filters.values())


@click.command("cancel")
@_bulk_options
@with_settings
@json_option
def cancel_command(settings: Settings, ids: tuple[str, ...], dry_run: bool, as_json: bool,
                   **filters: Any) -> None:
    """Cancel executions: the IDs given, or those the filters select.

    A pending one ends at once; a running or suspended one is asked to stop (a workflow
    meets CancelledError at its current await). Ended ones are counted, not changed.
    """
    with client_for(settings) as client:
        if _single(ids, dry_run, as_json, filters):
            status = client.cancel(ids[0])
            done = "cancelled" if status == "cancelled" else "cancel requested"
            click.echo(f"{ids[0]}: {done}")
            return
        result = client.cancel_many(list(ids), dry_run=dry_run, **filters)
    _report(result, as_json, "already ended")


@click.command("retry")
@_bulk_options
@with_settings
@json_option
def retry_command(settings: Settings, ids: tuple[str, ...], dry_run: bool, as_json: bool,
                  **filters: Any) -> None:
    """Run failed or cancelled executions again from the start, with the same inputs:
    the IDs given, or those the filters select. Others are counted, not changed."""
    with client_for(settings) as client:
        if _single(ids, dry_run, as_json, filters):
            client.retry(ids[0])
            click.echo(f"{ids[0]}: queued again")
            return
        result = client.retry_many(list(ids), dry_run=dry_run, **filters)
    _report(result, as_json, "not failed or cancelled")


def _report(result: Any, as_json: bool, why_not: str) -> None:
    """Counts on stdout; ids that do not exist end the command with exit 1."""
    if as_json:
        click.echo(json.dumps(result.as_dict(), sort_keys=True))
    else:
        click.echo(_summary(result, why_not))
    if result.missing:
        shown = ", ".join(repr(i) for i in result.missing[:5])
        more = f" and {len(result.missing) - 5} more" if len(result.missing) > 5 else ""
        raise UnknownName(f"no execution with id {shown}{more}")


def _summary(result: Any, why_not: str) -> str:
    head = f"{result.action}{' (dry run)' if result.dry_run else ''}: {result.matched} matched"
    if result.dry_run:
        return f"{head}, {result.changed} would change, {result.unchanged} would not ({why_not})"
    if result.action == "cancel":
        done = (f"{result.changed} changed ({result.ended} cancelled, "
                f"{result.changed - result.ended} asked to stop)")
    else:
        done = f"{result.changed} queued again"
    return f"{head}, {done}, {result.unchanged} not changed ({why_not})"


COMMANDS = [list_command, cancel_command, retry_command]
