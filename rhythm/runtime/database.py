"""Connections for the runtime, and the translation of driver errors at this boundary.

Opening connections and resolving the default database belong to ``rhythm.store``;
this module adds the runtime's conventions on top: autocommit connections (every
runtime transaction is explicit) and :func:`translated`, which turns any driver error
of a client call into one ``DatabaseError`` line naming what was being done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from rhythm.errors import DatabaseError
from rhythm.store import connect as store_connect
from rhythm.store.connect import first_line
from rhythm.store.migrations import check_schema, check_schema_async

log = logging.getLogger("rhythm.database")
T = TypeVar("T")


def resolve_url(url: str | None) -> str:
    """The URL to use: ``url`` if given, else RHYTHM_DATABASE_URL/config, else embedded."""
    if url:
        return url
    from rhythm.store import database_url

    return database_url()


# Databases whose schema version this process has checked (see _checked_schema): every
# command that uses the database refuses a missing or older schema with "run `rhythm
# migrate`" on its first connection, and pays nothing for it after that.
_SCHEMA_CHECKED: set[str] = set()


def connect(url: str) -> psycopg.Connection[Any]:
    conn = store_connect.connect(url, autocommit=True)
    if url not in _SCHEMA_CHECKED:
        with _closing_on_error(conn):
            check_schema(conn)
        _SCHEMA_CHECKED.add(url)
    return conn


async def connect_async(url: str) -> psycopg.AsyncConnection[Any]:
    conn = await store_connect.connect_async(url, autocommit=True)
    if url not in _SCHEMA_CHECKED:
        try:
            await check_schema_async(conn)
        except BaseException:
            await conn.close()
            raise
        _SCHEMA_CHECKED.add(url)
    return conn


@contextmanager
def _closing_on_error(conn: psycopg.Connection[Any]) -> Iterator[None]:
    try:
        yield
    except BaseException:
        conn.close()
        raise


# Sessions that only run keyed statements (a worker's outcome flusher, activation pool
# and group commit: every lookup there names an id or a primary key). A generic plan
# cached while the tables were small — a new database is not analysed for a minute or
# more — may otherwise seq-scan executions or every promise of an execution on each
# call: per-step cost that grows with history. Keyed statements have one good plan
# whatever their parameters, so these sessions prepare each statement on its first use
# and keep its generic plan from the start: by default psycopg sends a statement
# unprepared 5 times and Postgres then plans 5 more executions for their parameters
# before it settles on the generic plan, and planning the big commit and load
# statements costs 0.5-1.5 ms each time - which a worker's first few hundred
# activations paid on every one of its connections.
# On Citus, generic plans are not forced: Citus routes a statement to its shard by
# planning it for the partition it is given (a generic plan of the big commit statement
# is refused: "could not create distributed plan").
# jit off as in the claim session (rhythm.runtime.claiming): a disabled node's cost would
# have Postgres compile the big commit statement, ~30 ms, on every call.
KEYED_SESSION = ("SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan",
                 "SET jit = off")
KEYED_SESSION_CITUS = ("SET enable_seqscan = off", "SET jit = off")


async def configure_keyed(conn: psycopg.AsyncConnection[Any], citus: bool = False) -> None:
    """Apply :data:`KEYED_SESSION` (or its Citus form) to an autocommit connection."""
    for statement in KEYED_SESSION_CITUS if citus else KEYED_SESSION:
        await conn.execute(statement)
    conn.prepare_threshold = 0


async def connect_keyed(url: str, citus: bool = False) -> psycopg.AsyncConnection[Any]:
    conn = await connect_async(url)
    await configure_keyed(conn, citus)
    return conn


async def check_if_idle(
    conn: psycopg.AsyncConnection[Any], idle_since: float, after: float
) -> None:
    """Check ``conn`` with a round trip if it sat idle more than ``after`` seconds since
    ``idle_since`` (``time.monotonic``): a restart of the server breaks idle connections,
    while a busy one is used again within milliseconds and a round trip each time would
    be a tax. Raises the driver's error when the connection is broken."""
    if time.monotonic() - idle_since > after:
        await AsyncConnectionPool.check_connection(conn)


def still_usable(
    conn: psycopg.Connection[Any] | None, idle_since: float, after: float
) -> psycopg.Connection[Any] | None:
    """A kept connection if it is still usable, else None (closed): None when there is
    none, it is closed or broken, or - idle more than ``after`` seconds - a round trip
    finds it dead (a restart of the server breaks idle connections without the client
    noticing until its next statement fails). The synchronous :func:`check_if_idle`."""
    if conn is None or conn.closed or conn.broken:
        return None
    if time.monotonic() - idle_since <= after:
        return conn
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        conn.close()
        return None
    return conn


async def still_usable_async(
    conn: psycopg.AsyncConnection[Any] | None, idle_since: float, after: float
) -> psycopg.AsyncConnection[Any] | None:
    """The asyncio twin of :func:`still_usable`."""
    if conn is None or conn.closed or conn.broken:
        return None
    try:
        await check_if_idle(conn, idle_since, after)
    except psycopg.Error:
        await conn.close()
        return None
    return conn


Connect = Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]
"""Gives a connection to code that needs one only sometimes (a resumed activation, a
version not compiled yet): called only then."""


def using(conn: psycopg.AsyncConnection[Any]) -> Connect:
    """A :data:`Connect` that hands out ``conn``, a connection the caller already holds."""
    async def given() -> psycopg.AsyncConnection[Any]:
        return conn
    return given


ATTEMPTS = 3
"""Runs of a client's transaction that a deadlock (or a serialization failure) aborted:
it changed nothing, and the workers' commit it met over the same rows has ended by the
next run (a signal or a cancel queued on a workflow's row can be the victim of a
deadlock between two workers' commits; bulk pages too)."""


def lost_a_deadlock(err: DatabaseError) -> bool:
    """Whether ``err`` (from :func:`translated`) says the transaction lost a deadlock and
    may run again."""
    return isinstance(err.__cause__, (psycopg.errors.DeadlockDetected,
                                      psycopg.errors.SerializationFailure))


def again_after_deadlock(transaction: Callable[[], T]) -> T:
    """``transaction()`` (one whole transaction, translated), run again while it loses a
    deadlock, up to ATTEMPTS runs in all."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return transaction()
        except DatabaseError as err:
            if attempt == ATTEMPTS or not lost_a_deadlock(err):
                raise
            log.info("a transaction lost a deadlock (%s); running it again", err)
    raise AssertionError("unreachable")


async def again_after_deadlock_async(transaction: Callable[[], Awaitable[T]]) -> T:
    """Like :func:`again_after_deadlock` for a coroutine's transaction."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await transaction()
        except DatabaseError as err:
            if attempt == ATTEMPTS or not lost_a_deadlock(err):
                raise
            log.info("a transaction lost a deadlock (%s); running it again", err)
    raise AssertionError("unreachable")


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn driver errors into one-line DatabaseErrors naming what was being done."""
    try:
        yield
    except psycopg.errors.UndefinedTable as err:
        raise DatabaseError(
            f"{action}: the runtime tables are missing: run `rhythm migrate`"
        ) from err
    except psycopg.Error as err:
        raise DatabaseError(f"{action}: {first_line(err)}") from err
