"""Named SQL: every statement Rhythm sends lives in a ``.sql`` file, loaded by name.

A file holds one or more queries, each introduced by a header comment::

    -- name: claim_tasks
    -- Claim up to %(limit)s runnable tasks of a queue.   (optional doc lines)
    SELECT ...

Parameters use psycopg's ``%(name)s`` style. Identifiers that cannot be parameters (a
database name) are written ``{name}`` and filled with ``psycopg.sql.Identifier`` by the
caller, never with f-strings. The store's own queries live in ``rhythm/store/sql/``;
``QUERIES["claim_tasks"]`` returns the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).parent / "sql"
_HEADER = re.compile(r"^--\s*name:\s*(?P<name>\S+)\s*$")
_VALID_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Query:
    """One named statement and where it was written."""

    name: str
    sql: str
    doc: str
    origin: str


class QueryError(ValueError):
    """A malformed query file: a programming error, caught by the unit tests."""


class Queries(Mapping[str, str]):
    """Read-only mapping from query name to SQL text."""

    def __init__(self, queries: dict[str, Query]) -> None:
        self._queries = queries

    def __getitem__(self, name: str) -> str:
        try:
            return self._queries[name].sql
        except KeyError:
            known = ", ".join(sorted(self._queries))
            raise KeyError(f"no SQL query named {name!r} (known: {known})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def query(self, name: str) -> Query:
        """The full :class:`Query` record (with its doc and origin)."""
        self[name]  # raises the helpful KeyError
        return self._queries[name]


def parse_queries(text: str, origin: str) -> list[Query]:
    """Split one file's text into its named queries."""
    found: list[Query] = []
    name: str | None = None
    body: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line.strip())
        if header:
            if name is not None:
                found.append(_make_query(name, body, origin))
            name, body = header["name"], []
            if not _VALID_NAME.match(name):
                raise QueryError(f"{origin}:{number}: bad query name {name!r}")
        elif name is None:
            if line.strip() and not line.strip().startswith("--"):
                raise QueryError(f"{origin}:{number}: SQL before the first '-- name:' header")
        else:
            body.append(line)
    if name is not None:
        found.append(_make_query(name, body, origin))
    return found


def _make_query(name: str, body: list[str], origin: str) -> Query:
    doc_lines: list[str] = []
    while body and (not body[0].strip() or body[0].lstrip().startswith("--")):
        line = body.pop(0).strip()
        if line:
            doc_lines.append(line.removeprefix("--").strip())
    sql = "\n".join(body).strip()
    if not sql:
        raise QueryError(f"{origin}: query {name!r} has no SQL")
    return Query(name=name, sql=sql, doc=" ".join(doc_lines), origin=origin)


def load_queries(directory: Path) -> Queries:
    """Load every ``*.sql`` file of ``directory``; a name defined twice is an error."""
    queries: dict[str, Query] = {}
    for path in sorted(directory.glob("*.sql")):
        for query in parse_queries(path.read_text(encoding="utf-8"), path.name):
            if query.name in queries:
                raise QueryError(
                    f"query {query.name!r} defined in {queries[query.name].origin} and {path.name}"
                )
            queries[query.name] = query
    return Queries(queries)


@cache
def store_queries() -> Queries:
    """The queries in ``rhythm/store/sql/`` (loaded once)."""
    return load_queries(SQL_DIR)


class _LazyQueries(Mapping[str, str]):
    """``QUERIES``: the store's queries, read from disk on first use."""

    def __getitem__(self, name: str) -> str:
        return store_queries()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(store_queries())

    def __len__(self) -> int:
        return len(store_queries())


QUERIES: Mapping[str, str] = _LazyQueries()
