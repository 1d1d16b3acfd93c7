"""`rhythm migrate --partitions P [--citus]` on plain Postgres (issue 17). The Citus
side runs on a real cluster in tests/db/citus/."""

from __future__ import annotations

import psycopg
from dbfixtures import run_cli

from rhythm.errors import EXIT_ENVIRONMENT, EXIT_FAILED
from rhythm.runtime.client import Client
from rhythm.runtime.partitions import part_of


def _partitions(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT partitions FROM rhythm.installation").fetchone()
    assert row is not None
    return int(row[0])


def test_partitions_are_set_on_an_empty_database_and_used_by_the_runtime(db_url: str) -> None:
    env = {"RHYTHM_DATABASE_URL": db_url}
    done = run_cli("migrate", "--partitions", "4", env=env)
    assert done.returncode == 0, done.stderr
    assert "partitions: 1 -> 4" in done.stdout
    assert _partitions(db_url) == 4
    again = run_cli("migrate", "--partitions", "4", env=env)
    assert again.returncode == 0 and "partitions:" not in again.stdout
    with Client(db_url) as client:
        ids = [client.queue_task("add", {"a": i}, id=f"order-{i}").id for i in range(12)]
    with psycopg.connect(db_url) as conn:
        stored = dict(conn.execute("SELECT id, part FROM rhythm.executions").fetchall())
    assert stored == {i: part_of(i, 4) for i in ids}
    assert len(set(stored.values())) > 1


def test_partitions_cannot_change_once_executions_exist(db_url: str) -> None:
    with Client(db_url) as client:
        client.queue_task("add", {"a": 1})
    done = run_cli("migrate", "--partitions", "2", env={"RHYTHM_DATABASE_URL": db_url})
    assert done.returncode == EXIT_FAILED
    assert done.stderr.strip().splitlines() == [
        "rhythm: error: the database has 1 partition(s) and holds executions: the number of "
        "partitions cannot change now (it is part of every row's key); set it on a new "
        "database"]
    assert _partitions(db_url) == 1


def test_citus_is_refused_without_the_extension(db_url: str) -> None:
    done = run_cli("migrate", "--citus", env={"RHYTHM_DATABASE_URL": db_url})
    assert done.returncode == EXIT_ENVIRONMENT
    assert "no citus extension" in done.stderr and "Traceback" not in done.stderr


def test_partitions_out_of_range_is_bad_usage(db_url: str) -> None:
    done = run_cli("migrate", "--partitions", "0", env={"RHYTHM_DATABASE_URL": db_url})
    assert done.returncode == 2 and "0 is not in the range" in done.stderr
