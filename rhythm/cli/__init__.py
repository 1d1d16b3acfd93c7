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
from rhythm.errors import EXIT_FAILED, EXIT_OK, RhythmError


class RhythmGroup(click.Group):
    """A click group that translates Rhythm errors, and click's own usage errors (an
    unknown option, a missing argument, a task module that cannot be imported), at the
    boundary: one ``rhythm: error: ...`` line, never click's usage block or a traceback."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            returned = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # bare `rhythm`: the help
            click.echo(err.format_message(), err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"rhythm: error: {_one_line(err)}", err=True)
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("rhythm: interrupted", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(returned if isinstance(returned, int) else EXIT_OK)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RhythmError as err:
            click.echo(f"rhythm: error: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            click.echo("rhythm: interrupted", err=True)
            sys.exit(EXIT_FAILED)


def _one_line(err: click.ClickException) -> str:
    message = " ".join(err.format_message().split())
    ctx = getattr(err, "ctx", None)
    if isinstance(err, click.UsageError) and ctx is not None and not message.endswith(")"):
        message = f"{message.rstrip('.')} (see '{ctx.command_path} --help')"
    return message


@click.group(cls=RhythmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rhythm")
def main() -> None:
    """Rhythm: durable workflows in .flow files, tasks in Python, Postgres as the only moving part.

    Exit codes: 0 success; 1 the command's subject failed (errors found, workflow
    failed, stale build); 2 bad usage or a command not built yet; 3 environment
    problem (database unreachable, bad configuration).
    """


def _register() -> None:
    from rhythm.cli import (
        bench,
        build,
        bulk,
        check,
        cleanup,
        db,
        executions,
        lsp,
        migrate,
        observe,
        queues,
        register,
        run,
        schedules,
        ui,
        upgrade,
        worker,
    )

    for module in (check, build, run, migrate, register, worker, executions, bulk, queues,
                   schedules, cleanup, db, bench, observe, upgrade, lsp, ui):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
