"""`rhythm migrate`: create or upgrade the schema, and lay out its partitions."""

from __future__ import annotations

import json

import click

from rhythm.cli._options import json_option, with_settings
from rhythm.config import Settings


@click.command("migrate")
@click.option("--partitions", type=click.IntRange(1, 4096), default=None, metavar="P",
              help="Number of partitions of the runtime tables (default: keep; a new "
                   "database has 1). Fixed once executions exist. See docs/scaling.md.")
@click.option("--citus", is_flag=True,
              help="Distribute the tables by partition on this Citus coordinator "
                   "(needs `CREATE EXTENSION citus` in the database).")
@with_settings
@json_option
def migrate_command(
    settings: Settings, partitions: int | None, citus: bool, as_json: bool
) -> None:
    """Apply pending migrations (each in its own transaction); safe to run concurrently."""
    from rhythm.store import database_url
    from rhythm.store.connect import describe
    from rhythm.store.migrations import migrate, schema_state
    from rhythm.store.partitions import set_layout

    url = database_url(settings)
    applied = migrate(url)
    layout = set_layout(url, partitions, citus)
    version = schema_state(url).version
    if as_json:
        click.echo(json.dumps({"applied": [m.label for m in applied], "version": version,
                               "layout": layout, "database": describe(url)},
                              sort_keys=True))
        return
    for migration in applied:
        click.echo(f"applied {migration.label}")
    for change in layout:
        click.echo(change)
    click.echo(f"schema is at version {version} ({describe(url)})")


COMMANDS = [migrate_command]
