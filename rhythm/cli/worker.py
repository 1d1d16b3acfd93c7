"""`rhythm worker` (placeholder until the durable runtime lands)."""

from __future__ import annotations

import click

from rhythm.cli._stub import not_built


@click.command("worker", context_settings={"ignore_unknown_options": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def worker_command(args: tuple[str, ...]) -> None:
    """Not built yet: the durable runtime."""
    not_built("worker", "the durable runtime")


COMMANDS = [worker_command]
