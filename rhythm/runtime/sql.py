"""The runtime's named SQL queries.

They are written in ``rhythm/store/sql/runtime.sql`` and loaded by the store's loader
(:mod:`rhythm.store.queries`); :data:`Q` maps a query name to its SQL text, with comment
lines and indentation stripped: psycopg caches the conversion of a query's placeholders
only up to 4,096 characters, and the hot statements are documented at length.
Nothing in the runtime builds SQL text.
"""

from __future__ import annotations

from collections.abc import Mapping

from rhythm.store.queries import QUERIES


def compact(sql: str) -> str:
    """The statement without comment lines and indentation (no query has a string
    literal that spans lines)."""
    lines = (line.strip() for line in sql.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


Q: Mapping[str, str] = {name: compact(sql) for name, sql in QUERIES.items()}
