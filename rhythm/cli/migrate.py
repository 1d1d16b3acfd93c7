"""`rhythm migrate`: create or upgrade the schema."""

from __future__ import annotations

import json

import click

from rhythm.cli._options import json_option, with_settings
from rhythm.config import Settings


@click.command("migrate")
@with_settings
@json_option
def migrate_command(settings: Settings, as_json: bool) -> None:
    """Apply pending migrations (each in its own transaction); safe to run concurrently."""
    from rhythm.store import database_url
    from rhythm.store.connect import describe
    from rhythm.store.migrations import migrate, schema_state

    url = database_url(settings)
    applied = migrate(url)
    version = schema_state(url).version
    if as_json:
        click.echo(json.dumps({"applied": [m.label for m in applied], "version": version,
                               "database": describe(url)}, sort_keys=True))
        return
    for migration in applied:
        click.echo(f"applied {migration.label}")
    click.echo(f"schema is at version {version} ({describe(url)})")


COMMANDS = [migrate_command]
