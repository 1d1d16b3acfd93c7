"""`rhythm.store.database_url`: a configured URL switches the embedded server off."""

from __future__ import annotations

from pathlib import Path

from rhythm.config import load_settings
from rhythm.store import database_url
from rhythm.store.connect import describe, with_database


def test_configured_url_is_returned_untouched(tmp_path: Path) -> None:
    url = "postgresql://app:secret@db.internal:5433/app"
    settings = load_settings(cwd=tmp_path, environ={"RHYTHM_DATABASE_URL": url})
    assert database_url(settings) == url
    assert not (tmp_path / ".rhythm").exists()


def test_describe_hides_the_password() -> None:
    assert describe("postgresql://app:secret@db.internal:5433/app") == "db.internal:5433/app"
    assert describe("host=h port=7 dbname=d password=secret") == "h:7/d"


def test_with_database_keeps_server_and_credentials() -> None:
    url = "postgresql://app:secret@db.internal:5433/app?sslmode=require"
    assert with_database(url, "other") == (
        "postgresql://app:secret@db.internal:5433/other?sslmode=require"
    )
    assert "dbname=other" in with_database("host=h dbname=d", "other")
