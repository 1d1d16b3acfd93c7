"""`rhythm build` (placeholder until the .flow compiler lands)."""

from __future__ import annotations

import click

from rhythm.cli._stub import not_built


@click.command("build", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def build_command(args: tuple[str, ...]) -> None:
    """Not built yet: the .flow compiler."""
    not_built("build", "the .flow compiler")


COMMANDS = [build_command]
