"""`rhythm lsp`: the .flow language server over stdio, for editors (docs/editors.md).

The server lives in rhythm/lsp/ and needs the ``lsp`` extra (pygls); without it the
command says so in one line instead of failing on an import.
"""

from __future__ import annotations

import click

from rhythm.errors import EXIT_ENVIRONMENT, RhythmError


class MissingExtra(RhythmError):
    """An optional part of Rhythm is not installed."""

    exit_code = EXIT_ENVIRONMENT


@click.command("lsp")
@click.option("--stdio", is_flag=True,
              help="Talk LSP over stdin/stdout (the default and only transport; accepted "
                   "because editors pass it).")
def lsp_command(stdio: bool) -> None:
    """Run the .flow language server for an editor (diagnostics, hover, completion...)."""
    try:
        from rhythm.lsp.server import main
    except ImportError as err:
        missing = (err.name or "pygls").split(".")[0]
        raise MissingExtra(
            f"rhythm lsp needs the lsp extra: pip install 'rhythm[lsp]' ({missing} is missing)"
        ) from None
    main()


COMMANDS = [lsp_command]
