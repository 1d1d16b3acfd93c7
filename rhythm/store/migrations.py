"""The schema migration runner.

Migrations are files ``NNNN_name.sql`` (versions 1, 2, 3... without gaps) in
``<repo>/migrations`` in a checkout, or ``rhythm/_data/migrations`` in an installed wheel.
:func:`migrate` applies the pending ones in order, each in its own transaction together
with its row in ``rhythm.schema_migrations`` (version, name, sha256 of the file). A
session-level advisory lock makes concurrent runs safe: the second waits, then finds
nothing to do. A database that records a migration this code does not know, or whose
recorded checksum differs from the file, is refused with a clear message.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from rhythm.errors import MigrationError
from rhythm.store.connect import connect, first_line, translate_errors
from rhythm.store.queries import QUERIES

# Arbitrary constant shared by every Rhythm process: "RHYTHM" in ASCII.
MIGRATION_LOCK_KEY = 0x524859544D
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path

    @property
    def label(self) -> str:
        """``0001_schema_meta``: how migrations are named in messages and output."""
        return f"{self.version:04d}_{self.name}"

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class SchemaState:
    """How a database's recorded migrations compare with the files this code has."""

    known: list[Migration]
    applied: dict[int, tuple[str, str]]  # version -> (name, checksum)

    @property
    def pending(self) -> list[Migration]:
        return [m for m in self.known if m.version not in self.applied]

    @property
    def version(self) -> int:
        return max(self.applied, default=0)

    def check_compatible(self) -> None:
        """Refuse a schema that is newer than this code, or was changed after the fact."""
        known_versions = {m.version for m in self.known}
        newer = sorted(v for v in self.applied if v not in known_versions)
        if newer:
            name = self.applied[newer[-1]][0]
            raise MigrationError(
                f"the database schema is at version {newer[-1]} ({name}) but this Rhythm only"
                f" knows migrations up to {max(known_versions, default=0)}: the database was"
                " migrated by a newer Rhythm; upgrade Rhythm (pip install -U rhythm)"
            )
        for migration in self.known:
            recorded = self.applied.get(migration.version)
            if recorded and recorded[1] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.label} was changed after it was applied to this"
                    " database: restore the file and put the change in a new migration"
                )


def migrations_dir() -> Path:
    """Where the migration files are: the wheel's copy, else the checkout's folder."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_data" / "migrations"
    return installed if installed.is_dir() else package.parent / "migrations"


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files, in order; a misnamed file or a gap in versions is an error."""
    folder = directory or migrations_dir()
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} is missing: reinstall Rhythm")
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNNN_name.sql")
        found.append(Migration(int(match["version"]), match["name"], path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{migration.path}: expected version {expected:04d} (versions must run 1, 2, 3...)"
            )
    return found


def read_state(conn: psycopg.Connection[Any], known: list[Migration]) -> SchemaState:
    """The recorded migrations of the database behind ``conn``."""
    present = conn.execute(QUERIES["migrations_table_exists"]).fetchone()
    applied: dict[int, tuple[str, str]] = {}
    if present and present[0]:
        for version, name, checksum in conn.execute(QUERIES["applied_migrations"]):
            applied[int(version)] = (str(name), str(checksum))
    return SchemaState(known=known, applied=applied)


def migrate(url: str, directory: Path | None = None) -> list[Migration]:
    """Apply every pending migration; return those applied now (empty when up to date)."""
    known = discover(directory)
    with connect(url, autocommit=True) as conn, translate_errors(url):
        conn.execute(QUERIES["lock_migrations"], {"key": MIGRATION_LOCK_KEY})
        try:
            with conn.transaction():
                conn.execute(QUERIES["create_migrations_table"])
            state = read_state(conn, known)
            state.check_compatible()
            for migration in state.pending:
                _apply(conn, migration)
            return state.pending
        finally:
            if not conn.closed:
                conn.execute(QUERIES["unlock_migrations"], {"key": MIGRATION_LOCK_KEY})


def _apply(conn: psycopg.Connection[Any], migration: Migration) -> None:
    record = {"version": migration.version, "name": migration.name, "checksum": migration.checksum}
    try:
        with conn.transaction():
            conn.execute(migration.sql)
            conn.execute(QUERIES["record_migration"], record)
    except psycopg.OperationalError:
        raise  # connection trouble: translate_errors says what to do
    except psycopg.Error as err:
        raise MigrationError(
            f"migration {migration.label} failed and was rolled back: {first_line(err)}"
        ) from err


def schema_state(url: str, directory: Path | None = None) -> SchemaState:
    """Read-only look at where a database stands."""
    known = discover(directory)
    with connect(url) as conn, translate_errors(url):
        return read_state(conn, known)


@functools.cache
def expected_version() -> int:
    """The schema version this code needs: its newest migration (files read once)."""
    return max((m.version for m in discover()), default=0)


def schema_version_error(found: int | None) -> MigrationError | None:
    """Why a database whose schema is at version ``found`` (None: no schema at all) is
    not usable by this code, or None when it is."""
    expected = expected_version()
    if found is None or found == 0:
        return MigrationError(
            "the database has no Rhythm schema: run `rhythm migrate`")
    if found < expected:
        return MigrationError(
            f"the database schema is at version {found}, this Rhythm needs {expected}:"
            " run `rhythm migrate`")
    if found > expected:
        return MigrationError(
            f"the database schema is at version {found} but this Rhythm only knows"
            f" migrations up to {expected}: the database was migrated by a newer Rhythm;"
            " upgrade Rhythm (pip install -U rhythm)")
    return None


def check_schema(conn: psycopg.Connection[Any]) -> None:
    """Refuse a database whose schema is missing, older or newer than this code (one
    query; ``conn`` must be in autocommit mode). MigrationError says what to do."""
    try:
        row = conn.execute(QUERIES["schema_version"]).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        row = None
    error = schema_version_error(row[0] if row else None)
    if error is not None:
        raise error


async def check_schema_async(conn: psycopg.AsyncConnection[Any]) -> None:
    """The asyncio twin of :func:`check_schema`."""
    try:
        cur = await conn.execute(QUERIES["schema_version"])
        row = await cur.fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        row = None
    error = schema_version_error(row[0] if row else None)
    if error is not None:
        raise error
