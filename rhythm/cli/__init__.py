"""The ``rhythm`` command line: a thin click layer over the library.

This module owns the command group and the error boundary: every :class:`RhythmError`
that escapes a command becomes one line on stderr (``rhythm: error: ...``) and its
documented exit code (docs/cli.md); no traceback is shown for user mistakes. Each
command lives in its own module and imports heavy machinery (compiler, psycopg) only
inside the command, so ``rhythm --help`` is fast and a worker never loads the build
toolchain.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from rhythm import __version__
from rhythm.errors import EXIT_FAILED, RhythmError


class RhythmGroup(click.Group):
    """A click group that translates Rhythm errors at the boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RhythmError as err:
            click.echo(f"rhythm: error: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("rhythm: interrupted", err=True)
            sys.exit(EXIT_FAILED)


@click.group(cls=RhythmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rhythm")
def main() -> None:
    """Rhythm: durable workflows in .flow files, tasks in Python, Postgres as the only moving part.

    Exit codes: 0 success; 1 the command's subject failed (errors found, workflow
    failed, stale build); 2 bad usage or a command not built yet; 3 environment
    problem (database unreachable, bad configuration).
    """


def _register() -> None:
    from rhythm.cli import bench, build, check, db, executions, migrate, run, worker

    for module in (check, build, run, migrate, worker, executions, db, bench):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
