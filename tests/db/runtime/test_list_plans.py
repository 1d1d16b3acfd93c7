"""``list_executions`` (one named query, every filter optional) stays an index scan: the
common listing walks ``executions_created`` and stops at its limit, however many rows
there are and wherever the page starts; ``--parent`` goes through ``executions_parent``;
a bulk page reads one page. Checked with statistics taken on an empty table (stale) and
real ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql
from test_runtime_plans import _rows_read

from rhythm.runtime.client import Client
from rhythm.runtime.sql import Q, raw

ROWS = 6_000
AT = datetime(2026, 6, 1, tzinfo=UTC)

NO_FILTER = {"status": None, "name": None, "kind": None, "queue": None, "parent_id": None,
             "id_prefix": None, "since": None, "until": None, "after_at": None,
             "after_id": None, "part": 0, "limit": 51, "notify": True}


def _many(url: str, analysed: bool) -> None:
    """ROWS executions a second apart (ties by 3), 20 children of workflow 'w-10'."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE rhythm.executions")
        conn.execute(
            "INSERT INTO rhythm.executions (id, kind, name, status, parent_id,"
            " parent_promise, created_at)"
            " SELECT 'w-' || g, 'workflow', 'n' || (g %% 7), 'completed',"
            "        CASE WHEN g %% 300 = 0 THEN 'w-10' END, CASE WHEN g %% 300 = 0 THEN g END,"
            "        %(at)s::timestamptz + make_interval(secs => g / 3)"
            " FROM generate_series(1, %(n)s) g", {"n": ROWS, "at": AT})
        if analysed:
            conn.execute("ANALYZE rhythm.executions")


def _plan(url: str, name: str, params: dict[str, Any], mode: str) -> dict[str, Any]:
    """The plan of ``name`` prepared, under ``mode``: the generic plan, or (as the
    runtime always runs these queries: never prepared) the one made for these values."""
    statement = raw(Q[name])
    args = sql.SQL(", ").join(sql.Literal(v) for v in statement.args(params))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('plan_cache_mode', %s, false)", [mode])
        conn.execute(sql.SQL("PREPARE listing AS {}").format(sql.SQL(statement.text)))
        row = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE listing ({})")
                           .format(args)).fetchone()
    assert row is not None
    doc = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    return dict(doc[0]["Plan"])


def _indexes(plan: dict[str, Any]) -> set[str]:
    own = {plan["Index Name"]} if "Index Name" in plan else set()
    return own.union(*(_indexes(child) for child in plan.get("Plans", [])))


@pytest.mark.parametrize("analysed", [False, True])
def test_the_common_listing_walks_executions_created(db_url: str, analysed: bool) -> None:
    _many(db_url, analysed)
    mode = "force_custom_plan"
    first = _plan(db_url, "list_executions", NO_FILTER, mode)
    assert _indexes(first) == {"executions_created"} and _rows_read(first) <= 51
    deep = {**NO_FILTER, "after_at": datetime(2026, 6, 1, 0, 10, tzinfo=UTC),
            "after_id": "w-1800"}  # (page after row 1800 of 6000, in a tie of 3)
    later = _plan(db_url, "list_executions", deep, mode)
    assert _indexes(later) == {"executions_created"} and _rows_read(later) <= 51 + 3


@pytest.mark.parametrize("analysed", [False, True])
def test_a_time_window_is_an_index_range(db_url: str, analysed: bool) -> None:
    _many(db_url, analysed)
    window = {**NO_FILTER, "since": datetime(2026, 6, 1, 0, 5, tzinfo=UTC),
              "until": datetime(2026, 6, 1, 0, 6, tzinfo=UTC), "limit": 1000}
    plan = _plan(db_url, "list_executions", window, "force_custom_plan")
    # (a bitmap scan: its index and heap nodes each count the 180 rows of the minute)
    assert _indexes(plan) == {"executions_created"} and _rows_read(plan) <= 2 * (180 + 1)


@pytest.mark.parametrize("analysed", [False, True])
def test_parent_goes_through_executions_parent(db_url: str, analysed: bool) -> None:
    _many(db_url, analysed)
    children = {**NO_FILTER, "parent_id": "w-10"}
    plan = _plan(db_url, "list_executions", children, "force_custom_plan")
    assert "executions_parent" in _indexes(plan) and _rows_read(plan) <= 20


def test_a_bulk_page_reads_one_page(db_url: str) -> None:
    """(With statistics taken on the empty table, the planner believes it holds one row
    and sorts a sequential scan: autovacuum's next analyse mends that.)"""
    _many(db_url, analysed=True)
    page = {**NO_FILTER, "limit": 500, "status": "completed"}
    plan = _plan(db_url, "select_for_bulk", page, "force_custom_plan")
    assert _indexes(plan) == {"executions_created"} and _rows_read(plan) <= 500



def test_the_client_never_prepares_them(db_url: str) -> None:
    """A generic plan could use no index for an optional filter: the listing is planned
    for its values on every run, however often a long-lived client lists."""
    _many(db_url, analysed=True)
    with Client(db_url) as client:
        for _ in range(12):
            client.list(parent_id="w-10", limit=5)
            client.cancel_many(name="nobody")
        conn = client._connection()
        prepared = conn.execute("SELECT statement FROM pg_prepared_statements").fetchall()
    assert not [s for (s,) in prepared if "ORDER BY created_at DESC" in s]

