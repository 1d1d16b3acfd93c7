"""Server administration: creating and dropping whole databases (embedded server, tests)."""

from __future__ import annotations

from psycopg import sql

from rhythm.store.connect import connect, translate_errors
from rhythm.store.queries import QUERIES


def database_exists(admin_url: str, name: str) -> bool:
    with connect(admin_url, autocommit=True) as conn, translate_errors(admin_url):
        row = conn.execute(QUERIES["database_exists"], {"name": name}).fetchone()
    return bool(row and row[0])


def ensure_database(admin_url: str, name: str) -> None:
    """Create database ``name`` unless it exists (the caller serialises concurrent calls)."""
    if not database_exists(admin_url, name):
        run_admin(admin_url, "create_database", name=name)


def run_admin(admin_url: str, query_name: str, **identifiers: str) -> None:
    """Run an admin statement whose ``{placeholders}`` are identifiers (autocommit)."""
    statement = sql.SQL(QUERIES[query_name]).format(
        **{key: sql.Identifier(value) for key, value in identifiers.items()}
    )
    with connect(admin_url, autocommit=True) as conn, translate_errors(admin_url):
        conn.execute(statement)
