"""The database fixtures themselves: isolation per test, restartable private servers."""

from __future__ import annotations

import psycopg
import pytest
from dbfixtures import PrivateServer, SessionServer

from rhythm.errors import DatabaseError
from rhythm.store.connect import connect


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_a_fresh_migrated_database(db_url: str, round_: int) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE rhythm.scratch (n int)")  # would fail in a reused db
        conn.execute("INSERT INTO rhythm.scratch VALUES (%s)", (round_,))
        assert conn.execute("SELECT count(*) FROM rhythm.scratch").fetchone() == (1,)


def test_databases_are_distinct_on_one_server(db_url: str, pg_server: SessionServer) -> None:
    with psycopg.connect(db_url) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0].startswith("rhythm_test_")
    assert pg_server.url_for(name[0]) == db_url


def test_private_server_restarts_with_the_same_url(private_server: PrivateServer) -> None:
    with psycopg.connect(private_server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE rhythm.kept (n int)")
        conn.execute("INSERT INTO rhythm.kept VALUES (42)")
    private_server.stop()
    with pytest.raises(DatabaseError, match="is the server running"):
        connect(private_server.url)
    private_server.start()
    with connect(private_server.url) as conn:
        assert conn.execute("SELECT n FROM rhythm.kept").fetchone() == (42,)
