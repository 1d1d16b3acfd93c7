"""The runtime's named SQL queries.

They are written in ``rhythm/store/sql/runtime.sql`` and loaded by the store's loader
(:mod:`rhythm.store.queries`); :data:`Q` maps a query name to its SQL text, with comment
lines and indentation stripped: psycopg caches the conversion of a query's placeholders
only up to 4,096 characters, and the hot statements are documented at length.
A hot statement longer than that even so (the group commit's, :data:`RAW`) is converted
once here to Postgres's own ``$n`` placeholders and sent through a raw cursor, which
converts nothing: psycopg would otherwise re-parse its 5 kB on every call (~90 us).
Nothing in the runtime builds SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rhythm.store.queries import QUERIES


def compact(sql: str) -> str:
    """The statement without comment lines and indentation (no query has a string
    literal that spans lines)."""
    lines = (line.strip() for line in sql.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


Q: Mapping[str, str] = {name: compact(sql) for name, sql in QUERIES.items()}


@dataclass(frozen=True)
class RawStatement:
    """A named query with ``$n`` placeholders, and the parameter name of each ``n``."""

    text: str
    names: tuple[str, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


def raw(sql: str) -> RawStatement:
    """``%(name)s`` placeholders as ``$n`` (the same name, the same n)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return RawStatement(re.sub(r"%\((\w+)\)s", number, sql), tuple(names))


RAW: Mapping[str, RawStatement] = {name: raw(Q[name]) for name in ("commit_activations",)}
