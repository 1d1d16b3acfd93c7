"""`rhythm db` (placeholder until the foundation lands)."""

from __future__ import annotations

import click

from rhythm.cli._stub import not_built


@click.group("db")
def db_group() -> None:
    """Manage the embedded Postgres server."""


for _name in ("start", "stop", "status", "url"):

    @db_group.command(_name, help=f"{_name} the embedded Postgres (not built yet).")
    def _cmd(_name: str = _name) -> None:
        not_built(f"db {_name}", "the foundation")


COMMANDS = [db_group]
