"""A fresh, migrated database per benchmark run, on the configured or embedded server.

The caller names a server by any URL on it (``--database-url``, RHYTHM_DATABASE_URL or the
embedded server); each run creates ``rhythm_bench_<random>`` next to it, migrates it, and
drops it afterwards, so no run sees another's rows, dead tuples or statistics. With
``--citus P`` (:mod:`rhythm.bench.citus`) each run uses the coordinator's database itself,
its runtime tables emptied first (TRUNCATE: no rows, no dead tuples).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from rhythm.bench.context import BenchContext
from rhythm.store import admin
from rhythm.store.connect import connect, with_database
from rhythm.store.migrations import migrate
from rhythm.store.queries import Queries, load_queries


@cache
def bench_queries() -> Queries:
    """The harness's own named SQL (``rhythm/bench/sql/``)."""
    return load_queries(Path(__file__).parent / "sql")


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """URL of a new migrated database on ``server_url``'s server, dropped on exit."""
    name = f"rhythm_bench_{uuid.uuid4().hex[:12]}"
    admin.run_admin(server_url, "create_database", name=name)
    try:
        url = with_database(server_url, name)
        migrate(url)
        yield url
    finally:
        admin.run_admin(server_url, "drop_database", name=name)


@contextmanager
def run_database(ctx: BenchContext) -> Iterator[str]:
    """URL of the database one run uses: a fresh one (dropped on exit), or with
    ``--citus`` the prepared coordinator database with its runtime tables emptied."""
    if ctx.citus_partitions is None:
        with fresh_database(ctx.server_url) as url:
            yield url
        return
    with connect(ctx.server_url, autocommit=True) as conn:
        conn.execute(bench_queries()["empty_runtime_tables"])
    yield ctx.server_url


def server_settings(url: str) -> dict[str, Any]:
    """Server version and the durability settings the figures depend on."""
    with connect(url, autocommit=True) as conn:
        cur = conn.execute(bench_queries()["server_settings"])
        row = cur.fetchone()
        assert row is not None and cur.description is not None
        return {col.name: value for col, value in zip(cur.description, row, strict=True)}
