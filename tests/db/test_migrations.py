"""The migration runner against a real Postgres: order, idempotence, concurrency, refusal."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from dbfixtures import run_cli

from rhythm.errors import EXIT_ENVIRONMENT, MigrationError
from rhythm.store.migrations import (
    check_schema,
    discover,
    migrate,
    migrations_dir,
    schema_state,
)


def _recorded(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT version, name FROM rhythm.schema_migrations ORDER BY 1")
        return [(int(v), str(n)) for v, n in rows]


def _check_schema(url: str) -> None:
    """What every database command does when it first connects (rhythm.runtime.database)."""
    with psycopg.connect(url, autocommit=True) as conn:
        check_schema(conn)


def test_migrated_schema_matches_the_files(db_url: str) -> None:
    files = [(m.version, m.name) for m in discover()]
    assert _recorded(db_url) == files
    state = schema_state(db_url)
    assert state.pending == [] and state.version == len(files)
    _check_schema(db_url)
    with psycopg.connect(db_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'rhythm'")}
        assert {"schema_migrations", "installation"} <= tables
        assert conn.execute("SELECT count(*) FROM rhythm.installation").fetchone() == (1,)


def test_applies_in_order_then_is_idempotent(empty_db: str) -> None:
    applied = migrate(empty_db)
    assert [m.version for m in applied] == list(range(1, len(discover()) + 1))
    assert migrate(empty_db) == []
    assert len(_recorded(empty_db)) == len(discover())


def test_unmigrated_database_is_refused_with_advice(empty_db: str) -> None:
    with pytest.raises(MigrationError, match="run `rhythm migrate`"):
        _check_schema(empty_db)


def test_concurrent_migrations_apply_each_file_once(empty_db: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: migrate(empty_db), range(4)))
    applied = [m.version for result in results for m in result]
    assert sorted(applied) == [m.version for m in discover()]
    assert len(_recorded(empty_db)) == len(discover())


def test_newer_schema_is_refused(db_url: str) -> None:
    newer = len(discover()) + 1
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "INSERT INTO rhythm.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (newer, "from_the_future", "x"),
        )
    with pytest.raises(MigrationError, match=f"version {newer} .* newer Rhythm"):
        migrate(db_url)
    with pytest.raises(MigrationError, match="newer Rhythm"):
        _check_schema(db_url)
    done = run_cli("migrate", env={"RHYTHM_DATABASE_URL": db_url})
    assert done.returncode == EXIT_ENVIRONMENT
    assert done.stderr.count("\n") == 1 and "newer Rhythm" in done.stderr


def test_edited_migration_is_refused(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    first = sorted(folder.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(db_url, folder)


def test_failing_migration_is_rolled_back(empty_db: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    bad = folder / f"{len(discover()) + 1:04d}_broken.sql"
    bad.write_text("CREATE TABLE rhythm.half_done (id int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="broken failed and was rolled back"):
        migrate(empty_db, folder)
    state = schema_state(empty_db, folder)
    assert [m.name for m in state.pending] == ["broken"]
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('rhythm.half_done')").fetchone() == (None,)


def test_migrate_command_reports_what_it_applied(empty_db: str) -> None:
    env = {"RHYTHM_DATABASE_URL": empty_db}
    first = run_cli("migrate", "--json", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["applied"] == [m.label for m in discover()]
    assert report["version"] == len(discover())
    second = run_cli("migrate", env=env)
    assert second.returncode == 0 and "applied" not in second.stdout
    assert f"schema is at version {len(discover())}" in second.stdout
