"""How the runtime tables are laid out: the number of partitions, and Citus.

``rhythm migrate --partitions P`` fixes P (kept in ``rhythm.installation``; every row's
key holds its partition, so P changes only while no execution exists), and ``--citus``
distributes the tables on a Citus coordinator by partition (``distribute_tables``).
Both are idempotent: asking again for what is already so changes nothing. The runtime
reads the layout when it connects (:mod:`rhythm.runtime.partitions`). Design, and what
crosses partitions: docs/scaling.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from rhythm.errors import InputError, MigrationError
from rhythm.store.connect import connect, first_line, translate_errors
from rhythm.store.queries import QUERIES

MAX_PARTITIONS = 4096


@dataclass(frozen=True)
class Layout:
    partitions: int
    citus: bool


def read_layout(conn: psycopg.Connection[Any]) -> Layout:
    row = conn.execute(QUERIES["read_layout"]).fetchone()
    assert row is not None  # (migration 0001 writes the one row)
    return Layout(partitions=int(row[0]), citus=bool(row[1]))


def set_layout(url: str, partitions: int | None, citus: bool) -> list[str]:
    """Make the database's layout ``partitions`` (None: keep it) and, with ``citus``,
    distributed; returns what changed, one line each. Run after :func:`migrate`."""
    if partitions is not None and not 1 <= partitions <= MAX_PARTITIONS:
        raise InputError(f"--partitions must be between 1 and {MAX_PARTITIONS}, "
                         f"got {partitions}")
    changed: list[str] = []
    with connect(url, autocommit=True) as conn, translate_errors(url):
        layout = read_layout(conn)
        if partitions is not None and partitions != layout.partitions:
            row = conn.execute(QUERIES["any_execution"]).fetchone()
            if row is not None and row[0]:
                raise InputError(
                    f"the database has {layout.partitions} partition(s) and holds "
                    f"executions: the number of partitions cannot change now (it is part "
                    f"of every row's key); set it on a new database")
            conn.execute(QUERIES["set_partitions"], {"partitions": partitions})
            changed.append(f"partitions: {layout.partitions} -> {partitions}")
        if citus and not layout.citus:
            _distribute(conn)
            changed.append("tables distributed on Citus by partition")
    return changed


def _distribute(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(QUERIES["citus_installed"]).fetchone()
    if not (row and row[0]):
        raise MigrationError("--citus: this database has no citus extension: connect to a "
                             "Citus coordinator's database where `CREATE EXTENSION citus` ran")
    # One statement at a time: Citus refuses to forward some of them from a multi-
    # statement string. (Not one transaction: a failure leaves the tables as far as they
    # got, and the citus flag unset.)
    try:
        for statement in _statements(QUERIES["distribute_tables"]):
            conn.execute(statement)
    except psycopg.Error as err:
        raise MigrationError(f"--citus: distributing the tables failed: {first_line(err)}"
                             ) from err


def _statements(script: str) -> list[str]:
    """The statements of a named script (no statement of it has a ';' inside)."""
    return [part.strip() for part in script.split(";") if part.strip()]
