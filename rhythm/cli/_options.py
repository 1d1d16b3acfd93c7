"""Options shared by commands that need settings (``--database-url``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
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
