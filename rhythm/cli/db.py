"""`rhythm db start|stop|status|url`: manage the embedded Postgres server."""

from __future__ import annotations

import json
from typing import Any

import click

from rhythm.cli._options import json_option, with_settings
from rhythm.config import Settings
from rhythm.errors import EXIT_FAILED, ConfigError


@click.group("db")
def db_group() -> None:
    """Manage the embedded Postgres server (data under .rhythm/ or RHYTHM_HOME)."""


def _external(settings: Settings) -> dict[str, Any] | None:
    if settings.database_url is None:
        return None
    from rhythm.store.connect import describe

    return {"mode": "external", "running": None, "url": settings.database_url,
            "server": describe(settings.database_url)}


def _refuse_external(settings: Settings, action: str) -> None:
    if settings.database_url is not None:
        raise ConfigError(
            f"a database URL is configured, so the embedded server is not used; cannot {action}"
            " it (unset RHYTHM_DATABASE_URL / database_url to use the embedded server)"
        )


def _emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)


@db_group.command("start")
@with_settings
@json_option
def start_command(settings: Settings, as_json: bool) -> None:
    """Start the embedded server (initialising it the first time); no-op if running."""
    _refuse_external(settings, "start")
    from rhythm.store import embedded

    after = embedded.start(settings)
    verb = "started" if after.started else "already running"
    _emit(after.as_json(), as_json,
          f"embedded Postgres {verb} at {after.url} (data: {after.data_dir})")


@db_group.command("stop")
@with_settings
@json_option
def stop_command(settings: Settings, as_json: bool) -> None:
    """Stop the embedded server (fast shutdown; data is kept)."""
    _refuse_external(settings, "stop")
    from rhythm.store import embedded

    was_running = embedded.stop(settings)
    text = "embedded Postgres stopped" if was_running else "embedded Postgres was not running"
    _emit({**embedded.status(settings).as_json(), "stopped": was_running}, as_json, text)


@db_group.command("status")
@with_settings
@json_option
def status_command(settings: Settings, as_json: bool) -> None:
    """Show whether the embedded server runs (exit 0) or not (exit 1)."""
    external = _external(settings)
    if external is not None:
        _emit(external, as_json, f"using the configured database at {external['server']}")
        return
    from rhythm.store import embedded

    current = embedded.status(settings)
    if current.running:
        text = f"running at {current.url} (pid {current.pid}, data: {current.data_dir})"
    elif current.initialised:
        text = f"stopped (data: {current.data_dir}); start it with `rhythm db start`"
    else:
        text = f"not initialised yet (data will live in {current.data_dir})"
    _emit(current.as_json(), as_json, text)
    if not current.running:
        raise SystemExit(EXIT_FAILED)


@db_group.command("url")
@with_settings
@json_option
def url_command(settings: Settings, as_json: bool) -> None:
    """Print the database URL Rhythm uses (starting the embedded server if needed)."""
    from rhythm.store import database_url

    url = database_url(settings)
    mode = "embedded" if settings.database_url is None else "external"
    _emit({"url": url, "mode": mode}, as_json, url)


COMMANDS = [db_group]
