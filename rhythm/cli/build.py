"""`rhythm build [PATHS]`: compile .flow files into generated/ (see rhythm.codegen.build)."""

from __future__ import annotations

import sys

import click

from rhythm.errors import EXIT_FAILED


@click.command("build")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--out", "out_dir", default="generated", show_default=True, help="Output folder.")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if the output is stale.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
def build_command(paths: tuple[str, ...], out_dir: str, check: bool, quiet: bool) -> None:
    """Compile .flow files (folders recursively; default: workflows/) into Python modules.

    One module per workflow version, named <name>__<sha12>.py, plus index.json. Only
    changed files are written, nothing is deleted, and a file with errors generates
    nothing (its errors print as file:line:col: message; exit code 1).
    """
    from rhythm.codegen.build import DEFAULT_SOURCES, build

    report = build(list(paths) or [DEFAULT_SOURCES], out_dir, check=check)
    for line in report.errors:
        click.echo(line, err=True)
    if check:
        for path in report.stale:
            click.echo(f"stale: {path}", err=True)
        if not quiet and report.ok:
            click.echo(f"{out_dir} is up to date ({len(report.unchanged)} files)")
    elif not quiet:
        for path in report.written:
            click.echo(f"wrote {path}")
        click.echo(f"{len(report.written)} written, {len(report.unchanged)} unchanged")
    if not report.ok:
        sys.exit(EXIT_FAILED)


COMMANDS = [build_command]
