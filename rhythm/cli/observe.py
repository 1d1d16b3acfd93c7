"""``rhythm history`` and ``rhythm inspect``: look inside one execution
(docs/observability.md "History" and "Inspect"; thin wrappers over
:meth:`rhythm.Client.history` and :meth:`rhythm.Client.inspect`)."""

from __future__ import annotations

import json

import click

from rhythm.cli._options import client_for, json_option, with_settings
from rhythm.config import Settings


@click.command("history")
@click.argument("execution_id", metavar="ID")
@with_settings
@json_option
def history_command(settings: Settings, execution_id: str, as_json: bool) -> None:
    """The history of execution ID: one line per entry (seq, time, kind, what happened)."""
    from rhythm.observe.timeline import timeline

    with client_for(settings) as client:
        entries = client.history(execution_id)
    if as_json:
        click.echo(json.dumps({"id": execution_id, "entries": [e.to_json() for e in entries]}))
        return
    if not entries:
        click.echo(f"{execution_id}: no history (started before history was kept?)")
    for line in timeline(entries):
        click.echo(line)


@click.command("inspect")
@click.argument("execution_id", metavar="ID")
@click.option("--at", "at_step", type=click.IntRange(min=1), default=None, metavar="N",
              help="As it was after activation N (see `rhythm history`), not now.")
@with_settings
@json_option
def inspect_command(settings: Settings, execution_id: str, at_step: int | None,
                    as_json: bool) -> None:
    """Where execution ID waits (source line and context), on what, with which variables."""
    from rhythm.observe.show import render

    with client_for(settings) as client:
        found = client.inspect(execution_id, at=at_step)
    if as_json:
        click.echo(json.dumps(found.to_json()))
        return
    for line in render(found, at_step):
        click.echo(line)


COMMANDS = [history_command, inspect_command]
