"""Options shared by commands that need settings (``--database-url``)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from rhythm.config import Settings, load_settings


def with_settings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--database-url`` and pass the resolved :class:`Settings` as ``settings``."""

    @click.option(
        "--database-url",
        metavar="URL",
        default=None,
        help="Postgres URL (overrides RHYTHM_DATABASE_URL and the project file).",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, database_url: str | None, **kwargs: Any) -> Any:
        settings: Settings = load_settings(database_url=database_url)
        return command(*args, settings=settings, **kwargs)

    return wrapper


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: print one JSON object instead of text."""
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(
        command
    )


class _EchoWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"rhythm: warning: {record.getMessage()}", err=True)


@contextmanager
def warnings_on_stderr(logger_name: str = "rhythm.client") -> Iterator[None]:
    """The library's warnings (e.g. a start that waits for a version) as
    ``rhythm: warning: ...`` lines on stderr while a command runs, printed once."""
    logger = logging.getLogger(logger_name)
    handler = _EchoWarnings(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def client_for(settings: Settings) -> Any:
    """A runtime Client on the settings' database (imported here, not at module load: the
    CLI starts without psycopg until a command needs it)."""
    from rhythm.runtime.client import Client
    from rhythm.store import database_url

    return Client(database_url(settings))
