"""Commands that operate on executions: start, signal, status, list, cancel, retry (placeholders)."""

from __future__ import annotations

import click

from rhythm.cli._stub import not_built


def _placeholder(name: str, summary: str) -> click.Command:
    @click.command(name, help=f"{summary} (not built yet).", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args: tuple[str, ...]) -> None:
        not_built(name, "the durable runtime")

    return command


COMMANDS = [
    _placeholder("start", "Start a workflow"),
    _placeholder("signal", "Send a signal to an execution"),
    _placeholder("status", "Show one execution"),
    _placeholder("list", "List executions"),
    _placeholder("cancel", "Cancel an execution"),
    _placeholder("retry", "Retry a failed execution"),
]
