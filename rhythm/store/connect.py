"""Opening psycopg connections, and turning driver failures into one-line Rhythm errors.

Every connection Rhythm opens goes through :func:`connect` (or :func:`connect_async`),
and code that talks to the database wraps its work in :func:`translate_errors`, so a
user sees ``cannot connect to Postgres at 127.0.0.1:5432/rhythm: Connection refused; ...``
and exit code 3 instead of a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from rhythm.errors import DatabaseError

DEFAULT_CONNECT_TIMEOUT = 10.0
WHAT_TO_DO = "is the server running? set RHYTHM_DATABASE_URL or run `rhythm db start`"


def what_to_do() -> str:
    """The hint after a failed connection: suggest RHYTHM_DATABASE_URL only when it is
    not set (when it is, the user chose this address: is it right, is it up?)."""
    if os.environ.get("RHYTHM_DATABASE_URL"):
        return "is the server running, and is RHYTHM_DATABASE_URL (or --database-url) right?"
    return WHAT_TO_DO


def where_the_url_is() -> str:
    if os.environ.get("RHYTHM_DATABASE_URL"):
        return "RHYTHM_DATABASE_URL"
    return "--database-url, or database_url in the project file"


def describe(url: str) -> str:
    """``host:port/dbname`` of a URL or conninfo string, without the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        return "<unparsable database URL>"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or ''}"


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as ``url``, another database."""
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + dbname))
    return make_conninfo(url, dbname=dbname)


def connect(
    url: str,
    *,
    autocommit: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    **kwargs: Any,
) -> psycopg.Connection[Any]:
    """Open a connection; failures become :class:`DatabaseError` with a one-line message."""
    with translate_errors(url):
        return psycopg.connect(
            url, autocommit=autocommit, connect_timeout=max(1, round(connect_timeout)), **kwargs
        )


async def connect_async(
    url: str,
    *,
    autocommit: bool = False,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    **kwargs: Any,
) -> psycopg.AsyncConnection[Any]:
    """The asyncio twin of :func:`connect`."""
    with translate_errors(url):
        return await psycopg.AsyncConnection.connect(
            url, autocommit=autocommit, connect_timeout=max(1, round(connect_timeout)), **kwargs
        )


@contextlib.contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn psycopg's connection-level failures inside the block into DatabaseError.

    Errors of a statement (constraint violations, SQL errors) are left alone: the caller
    knows what they mean. Connection loss, refusal and bad URLs are translated here.
    """
    try:
        yield
    except psycopg.OperationalError as err:
        raise DatabaseError(
            f"cannot connect to Postgres at {describe(url)}: {first_line(err)}; {what_to_do()}"
        ) from err
    except psycopg.ProgrammingError as err:
        if _is_bad_conninfo(err):
            raise DatabaseError(
                f"invalid database URL ({first_line(err)}): check {where_the_url_is()}"
            ) from err
        raise


def _is_bad_conninfo(err: psycopg.Error) -> bool:
    text = str(err)
    return (
        getattr(err, "sqlstate", None) is None
        and any(hint in text for hint in ("conninfo", "connection option", "URI", 'missing "="'))
    )


def first_line(err: BaseException) -> str:
    """The informative part of a libpq message (which may span several lines)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    # libpq repeats the address before the reason: keep what follows the last "failed: ".
    return text.rsplit("failed: ", 1)[-1].strip()
