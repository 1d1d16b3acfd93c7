"""`rhythm migrate` (placeholder until the foundation lands)."""

from __future__ import annotations

import click

from rhythm.cli._stub import not_built


@click.command("migrate", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def migrate_command(args: tuple[str, ...]) -> None:
    """Not built yet: the foundation."""
    not_built("migrate", "the foundation")


COMMANDS = [migrate_command]
