"""``rhythm bench … --citus P``: the benchmarks on a Citus coordinator's database.

A fresh database per run (:func:`rhythm.bench.database.fresh_database`) does not work on
Citus: a new database lacks the extension and the node metadata. So the database named by
``--database-url`` is used itself: migrated and distributed over P partitions once
(:func:`prepare`, as ``rhythm migrate --partitions P --citus`` does), and its runtime
tables emptied before each run (:func:`rhythm.bench.database.run_database`). That
database's runtime rows are deleted: point it at a database kept for benchmarks.
"""

from __future__ import annotations

from typing import Any

from rhythm.bench.database import bench_queries
from rhythm.errors import EXIT_USAGE, RhythmError
from rhythm.store.connect import connect, describe, translate_errors
from rhythm.store.migrations import migrate
from rhythm.store.partitions import read_layout, set_layout
from rhythm.store.queries import QUERIES


class CitusRefused(RhythmError):
    """``--citus`` cannot use this database (no citus extension, or rows laid out
    over another number of partitions)."""

    exit_code = EXIT_USAGE


def prepare(url: str, partitions: int) -> None:
    """Make ``url`` a migrated database distributed over ``partitions`` partitions, or
    refuse before changing anything when it cannot be one."""
    with connect(url, autocommit=True) as conn, translate_errors(url):
        row = conn.execute(QUERIES["citus_installed"]).fetchone()
    if not (row and row[0]):
        raise CitusRefused(
            f"--citus: {describe(url)} has no citus extension: give --database-url a "
            f"Citus coordinator's database (where `CREATE EXTENSION citus` ran)")
    migrate(url)
    with connect(url, autocommit=True) as conn, translate_errors(url):
        layout = read_layout(conn)
        found = conn.execute(QUERIES["any_execution"]).fetchone()
    if layout.partitions != partitions and found is not None and found[0]:
        raise CitusRefused(
            f"--citus {partitions}: {describe(url)} holds executions in "
            f"{layout.partitions} partition(s); use --citus {layout.partitions}, or a "
            f"database without executions")
    set_layout(url, partitions, citus=True)


def cluster_settings(url: str) -> dict[str, Any]:
    """The Citus version, active worker nodes and partitions the figures were taken on."""
    with connect(url, autocommit=True) as conn, translate_errors(url):
        cur = conn.execute(bench_queries()["citus_settings"])
        row = cur.fetchone()
        assert row is not None and cur.description is not None
        return {col.name: value for col, value in zip(cur.description, row, strict=True)}
