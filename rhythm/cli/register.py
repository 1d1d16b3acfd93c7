"""`rhythm register [PATHS]`: store built workflow versions without starting a worker.

So that `rhythm start` (or ``client.start``) finds a version before any worker runs:
executions started earlier, while the name had none, can then run as soon as a worker
serves their queue. PATHS are ``rhythm build`` output folders (with ``index.json``),
folders of ``.flow`` files or single ``.flow`` files (compiled here); default:
``generated/`` when it holds a build, else ``workflows/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rhythm.cli._options import client_for, json_option, with_settings
from rhythm.config import Settings

if TYPE_CHECKING:
    from rhythm.runtime.versions import WorkflowVersions


@click.command("register")
@click.argument("paths", nargs=-1, type=click.Path())
@with_settings
@json_option
def register_command(settings: Settings, paths: tuple[str, ...], as_json: bool) -> None:
    """Register workflow versions (generated/ output or .flow files) without a worker.

    Each becomes the current version of its name; workflows started while their name
    had no version can then run (their first claim takes the current version).
    """

    versions = _collect(list(paths) or [_default_path()])
    entries = [versions.local[key] for key in versions.order]
    unregistered = [e for e in entries if e.source is None]
    for entry in unregistered:
        click.echo(f"rhythm: warning: {entry.name}@{entry.version[:12]}: its .flow source is "
                   "missing or changed since the build; not registered", err=True)
    with client_for(settings) as client:
        released = client.register(versions)
    registered = sorted({(e.name, e.version) for e in entries if e.source is not None})
    _report(registered, released, as_json)


def _default_path() -> str:
    if (Path("generated") / "index.json").is_file():
        return "generated"
    if Path("workflows").is_dir():
        return "workflows"
    raise click.UsageError("nothing to register: no generated/index.json and no workflows/ "
                           "folder here (give PATHS, or run `rhythm build` first)")


def _collect(paths: list[str]) -> WorkflowVersions:
    from rhythm.runtime.versions import WorkflowVersions

    versions = WorkflowVersions()
    for text in paths:
        path = Path(text)
        if (path / "index.json").is_file():
            versions.add_generated(path)
        elif path.is_dir():
            versions.add_folder(path)
        elif path.is_file() and path.suffix == ".flow":
            versions.add_source(path.read_text(encoding="utf-8"), str(path))
        else:
            raise click.UsageError(
                f"{text}: not a build folder (index.json), a folder or a .flow file")
    return versions


def _report(registered: list[tuple[str, str]], released: int, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({
            "registered": [{"name": n, "version": v} for n, v in registered],
            "released": released}, sort_keys=True))
        return
    for name, version in registered:
        click.echo(f"registered {name}@{version[:12]}")
    click.echo(f"{len(registered)} version(s) registered"
               + (f"; {released} waiting start(s) can run now" if released else ""))


COMMANDS = [register_command]
