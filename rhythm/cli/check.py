"""`rhythm check` (placeholder until the .flow front end lands)."""

from __future__ import annotations

import click

from rhythm.cli._stub import not_built


@click.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def check_command(args: tuple[str, ...]) -> None:
    """Not built yet: the .flow front end."""
    not_built("check", "the .flow front end")


COMMANDS = [check_command]
