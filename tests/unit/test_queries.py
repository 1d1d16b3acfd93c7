"""The named-SQL loader and the store's own query files."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhythm.store.queries import QUERIES, QueryError, load_queries, parse_queries


def test_parses_names_docs_and_bodies() -> None:
    text = (
        "-- a file comment\n\n"
        "-- name: first_one\n-- Says what it does.\nSELECT 1\n\n"
        "-- name: second\nSELECT %(x)s;\n"
    )
    queries = parse_queries(text, "x.sql")
    assert [(q.name, q.sql, q.doc) for q in queries] == [
        ("first_one", "SELECT 1", "Says what it does."),
        ("second", "SELECT %(x)s;", ""),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("SELECT 1\n-- name: a\nSELECT 2\n", "before the first"),
        ("-- name: Bad-Name\nSELECT 1\n", "bad query name"),
        ("-- name: empty\n-- only a comment\n", "has no SQL"),
    ],
)
def test_malformed_files(text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_queries(text, "x.sql")


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text("-- name: same\nSELECT 1\n")
    (tmp_path / "b.sql").write_text("-- name: same\nSELECT 2\n")
    with pytest.raises(QueryError, match=r"'same' defined in a\.sql and b\.sql"):
        load_queries(tmp_path)


def test_store_queries_load_and_unknown_names_are_helpful() -> None:
    assert "record_migration" in QUERIES
    assert QUERIES["database_exists"].startswith("SELECT")
    with pytest.raises(KeyError, match="no SQL query named 'nope'"):
        QUERIES["nope"]
