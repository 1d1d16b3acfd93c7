"""A bad URL or an unreachable server: one line on stderr, exit 3, never a traceback."""

from __future__ import annotations

import socket

import pytest
from dbfixtures import run_cli

from rhythm.errors import EXIT_ENVIRONMENT, DatabaseError
from rhythm.store.connect import connect


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # (the URL came from RHYTHM_DATABASE_URL: no advice to set it)
        ("postgresql://nobody@127.0.0.1:{port}/nothing",
         "is RHYTHM_DATABASE_URL (or --database-url) right?"),
        ("postgresql://127.0.0.1:{port}/x?bogus_option=1", "invalid database URL"),
        ("host=127.0.0.1 port={port} nonsense=1", "invalid database URL"),
    ],
)
def test_cli_reports_one_line_and_exit_3(url: str, expected: str) -> None:
    done = run_cli("migrate", env={"RHYTHM_DATABASE_URL": url.format(port=_closed_port())})
    assert done.returncode == EXIT_ENVIRONMENT
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("rhythm: error: ") and expected in done.stderr
    assert "Traceback" not in done.stderr


def test_url_that_is_not_a_url_is_a_config_error() -> None:
    done = run_cli("migrate", env={"RHYTHM_DATABASE_URL": "mysql://x"})
    assert done.returncode == EXIT_ENVIRONMENT
    assert "RHYTHM_DATABASE_URL" in done.stderr and done.stderr.count("\n") == 1


def test_connect_translates_refusal() -> None:
    with pytest.raises(DatabaseError, match=r"Connection refused.*rhythm db start"):
        connect(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x")


def test_unknown_database_names_the_database(pg_server: object, db_url: str) -> None:
    from rhythm.store.connect import with_database

    missing = with_database(db_url, "rhythm_no_such_db")
    with pytest.raises(DatabaseError, match='database "rhythm_no_such_db" does not exist'):
        connect(missing)
