"""``rhythm upgrade`` and ``rhythm fork`` (docs/upgrades.md).

Thin click commands over :meth:`rhythm.Client.upgrade` (one line per execution:
``ID: compatible`` / ``moved`` or the reason it stays pinned, then a summary) and
:meth:`rhythm.Client.fork`.
"""

from __future__ import annotations

import json
from typing import Any

import click

from rhythm.cli._options import client_for, json_option, with_settings
from rhythm.config import Settings
from rhythm.errors import EXIT_USAGE, InputError


class BadSet(InputError):
    """A malformed ``--set VAR=JSON``: bad usage (exit 2)."""

    exit_code = EXIT_USAGE


def _values(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--set VAR=JSON`` pairs as a dict (bad usage: one line naming the option)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise BadSet(f"--set {pair!r}: expected VAR=JSON")
        try:
            values[name] = json.loads(text)
        except json.JSONDecodeError as err:
            raise BadSet(f"--set {name}: the value is not valid JSON: {err.msg}") from None
    return values


@click.command("upgrade")
@click.argument("name")
@click.option("--from", "from_version", default=None, metavar="VERSION",
              help="Only executions pinned to this version (SHA-256).  [default: any other]")
@click.option("--to", "to_version", default=None, metavar="VERSION",
              help="The version to move to.  [default: the current (newest registered) one]")
@click.option("--dry-run", is_flag=True, help="Only say, per execution, whether it can move.")
@click.option("--set", "sets", multiple=True, metavar="VAR=JSON",
              help="A value for a variable the new version needs that a snapshot lacks "
                   "(repeatable).")
@click.option("--generated", type=click.Path(file_okay=False), default="generated",
              show_default=True, help="rhythm build output to load versions from (else "
                                      "they are compiled from the stored source).")
@with_settings
@json_option
def upgrade_command(settings: Settings, name: str, from_version: str | None,
                    to_version: str | None, dry_run: bool, sets: tuple[str, ...],
                    generated: str, as_json: bool) -> None:
    """Move suspended executions of workflow NAME onto a newer version where they can.

    Each one moves in its own transaction at the await where it stands; the others stay
    pinned to their version, each with its reason. Running ones are skipped.
    """

    values = _values(sets)
    with client_for(settings) as client:
        report = client.upgrade(name, from_version=from_version, to_version=to_version,
                                dry_run=dry_run, values=values, generated=generated)
    if as_json:
        click.echo(json.dumps(report.as_json()))
        return
    for outcome in report.outcomes:
        click.echo(outcome.line())
    done = "compatible" if dry_run else "moved"
    click.echo(f"{report.count(done)} {done}, {report.count('incompatible')} incompatible, "
               f"{report.count('running') + report.count('changed')} skipped "
               f"(to {report.to_version[:12]})")


@click.command("fork")
@click.argument("execution_id", metavar="ID")
@click.option("--from-step", type=click.IntRange(min=1), default=None, metavar="N",
              help="Start from the snapshot of step N (`rhythm history ID` lists the "
                   "steps).  [default: the current snapshot of a suspended ID]")
@click.option("--to", "to_version", default=None, metavar="VERSION",
              help="Version the fork runs (same or a newer compatible one).  "
                   "[default: the source's]")
@click.option("--id", "new_id", default=None, help="Id of the new execution.  "
                                                   "[default: a fresh one]")
@click.option("--set", "sets", multiple=True, metavar="VAR=JSON",
              help="A value for a variable the new version needs (repeatable).")
@click.option("--generated", type=click.Path(file_okay=False), default="generated",
              show_default=True, help="rhythm build output to load versions from.")
@with_settings
@json_option
def fork_command(settings: Settings, execution_id: str, from_step: int | None,
                 to_version: str | None, new_id: str | None, sets: tuple[str, ...],
                 generated: str, as_json: bool) -> None:
    """Start a new execution from the snapshot of step N of execution ID.

    What ID did before is not done again: the fork resumes with the recorded outcomes of
    the effects ID saw settled, and the awaits still pending are issued for the fork.
    """

    values = _values(sets)
    with client_for(settings) as client:
        run = client.fork(execution_id, to_version=to_version, id=new_id,
                          from_step=from_step, values=values, generated=generated)
    if as_json:
        click.echo(json.dumps({"id": run.id, "forked_from": execution_id}))
    else:
        click.echo(f"{run.id}: forked from {execution_id}")


COMMANDS = [upgrade_command, fork_command]
