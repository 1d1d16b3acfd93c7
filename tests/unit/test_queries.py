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


def test_runtime_queries_fit_psycopgs_parse_cache() -> None:
    """psycopg converts the placeholders of a query longer than this again on every call
    (seen in the workflow step profile: ~80 us for the old 30-parameter commit). The
    runtime's statements, comments stripped, stay below it - except statements with a
    single parameter, whose conversion costs ~9 us per call (measured), and those sent
    raw (converted once, rhythm.runtime.sql.RAW), such as commit_activations."""
    import re

    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

    from rhythm.runtime.sql import RAW, Q

    too_long = {name: len(sql) for name, sql in Q.items()
                if len(sql) > MAX_CACHED_STATEMENT_LENGTH and name not in RAW
                and len(set(re.findall(r"%\((\w+)\)s", sql))) > 1}
    assert too_long == {}


def test_compact_drops_comment_lines_and_indentation_only() -> None:
    from rhythm.runtime.sql import compact

    sql = "-- name: x\n-- doc\nSELECT a,\n       'x -- y'  AS b  -- why\n\n  FROM t\n"
    assert compact(sql) == "SELECT a,\n'x -- y'  AS b  -- why\nFROM t"


def test_raw_statements_number_each_name_once() -> None:
    from rhythm.runtime.sql import raw

    statement = raw("SELECT %(a)s, %(b)s::int, %(a)s")
    assert statement.text == "SELECT $1, $2::int, $1"
    assert statement.args({"b": 2, "a": 1, "c": 3}) == [1, 2]


def test_wake_payloads_name_a_partition_or_none() -> None:
    from rhythm.runtime.notices import parse_wake, wake_payload

    assert parse_wake(wake_payload(3, "orders:eu")) == (3, "orders:eu")
    assert parse_wake("default") == (None, "default")
    assert parse_wake("x:default") == (None, "x:default")
