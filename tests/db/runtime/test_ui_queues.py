"""The dashboard's queues page figures (rhythm/ui/queues.py): each state counted from
the index that holds it, the suspended count exact on a small table and sampled on a
large one, the rate from the newest rows with its cap; and no read of the whole table
when sampling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from rhythm.runtime.clock import SystemClock
from rhythm.ui import queues
from rhythm.ui.store import Store
from rhythm.ui.views import queues_view

# (id, status, queue, run_at offset in s (None: NULL), created s ago, finished s ago)
ROWS: list[tuple[str, str, str, int | None, int, int | None]] = [
    ("r1", "pending", "billing", -30, 40, None),     # ready for 30 s
    ("r2", "pending", "billing", -5, 10, None),      # ready
    ("r3", "pending", "billing", 600, 10, None),     # a retry's backoff: scheduled
    ("w1", "suspended", "billing", -1, 900, None),   # woken: ready
    ("w2", "suspended", "billing", None, 900, None),  # waiting
    ("w3", "suspended", "mail", None, 900, None),
    ("x1", "running", "mail", None, 100, None),
    ("x2", "running", "mail", None, 100, None),
    ("d1", "completed", "mail", None, 200, 60),      # ended in the window
    ("d2", "failed", "mail", None, 200, 120),
    ("d3", "completed", "mail", None, 900, 600),     # ended before it
    ("d4", "completed", "billing", None, 7200, 30),  # created before the horizon
]


def _fill(url: str) -> None:
    now = SystemClock().now()
    with psycopg.connect(url, autocommit=True) as conn:
        for ident, status, queue, run_in, created_ago, finished_ago in ROWS:
            kind = "workflow" if ident.startswith("w") else "task"
            conn.execute(
                "INSERT INTO rhythm.executions (id, kind, name, version, status, queue,"
                " run_at, created_at, finished_at) VALUES (%s, %s, 'job', 'v1', %s, %s, %s,"
                " %s, %s)",
                (ident, kind, status, queue,
                 None if run_in is None else now + timedelta(seconds=run_in),
                 now - timedelta(seconds=created_ago),
                 None if finished_ago is None else now - timedelta(seconds=finished_ago)))
        # held: a concurrency key's waiting row, a start waiting for a version
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, status, queue,"
                     " concurrency_key, concurrency_limit, admitted) VALUES"
                     " ('h1', 'task', 'job', 'pending', 'billing', 'k', 1, false)")
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, status, queue)"
                     " VALUES ('h2', 'workflow', 'later', 'pending', 'mail')")
        conn.execute("INSERT INTO rhythm.queues (name, paused, updated_at)"
                     " VALUES ('idle', true, now())")


def _by_name(store: Store) -> tuple[queues.Overview, dict[str, Any]]:
    found = store.queues()
    return found, {q.name: q for q in found.queues}


def test_each_state_from_its_index_and_the_rate(db_url: str) -> None:
    _fill(db_url)
    store = Store(db_url)
    try:
        found, by_name = _by_name(store)
    finally:
        store.close()
    assert found.sample_percent is None and not found.rate_at_least
    billing, mail, idle = by_name["billing"], by_name["mail"], by_name["idle"]
    assert (billing.ready, billing.scheduled, billing.held, billing.running,
            billing.suspended) == (3, 1, 1, 0, 1)
    assert (mail.ready, mail.scheduled, mail.held, mail.running, mail.suspended) \
        == (0, 0, 1, 2, 1)
    assert idle.paused and idle.ready == 0
    assert billing.oldest_due is not None
    assert 25 <= (SystemClock().now() - billing.oldest_due).total_seconds() <= 60
    assert (mail.finished, billing.finished) == (2, 0)  # d3 too early, d4 too old
    view = queues_view(found, SystemClock().now())
    line = next(q for q in view.queues if q.name == "mail")
    assert line.rate == "0.4" and line.suspended == "1" and view.sample_note is None


def test_the_rate_says_when_its_walk_was_cut_short(db_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(db_url)
    monkeypatch.setattr(queues, "RATE_CAP", 3)
    store = Store(db_url)
    try:
        found, _ = _by_name(store)
    finally:
        store.close()
    assert found.rate_at_least
    assert all(q.rate.startswith("≥ ") for q in queues_view(found, SystemClock().now()).queues)


def test_a_large_table_samples_suspended_rows(db_url: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Over 2 x SAMPLE_PAGES pages the count reads a sample: a Sample Scan, never a
    sequential one, and the page says it estimated."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, status, queue)"
                     " SELECT 's' || g, 'workflow', 'job', 'suspended', 'q'"
                     " FROM generate_series(1, 4000) g")
        pages = conn.execute("SELECT pg_relation_size('rhythm.executions') / 8192"
                             ).fetchone()
        assert pages is not None and pages[0] >= 20
        monkeypatch.setattr(queues, "SAMPLE_PAGES", pages[0] // 4)
        percent = queues.sample_percent(pages[0], citus=False)
        assert percent is not None and 20 <= percent <= 30
        plan = conn.execute("EXPLAIN " + _sql("ui_queue_suspended_sample"),
                            {"percent": percent}).fetchall()
        assert "Sample Scan" in str(plan) and "Seq Scan" not in str(plan)
        exact = conn.execute(_sql("ui_queue_suspended_sample"), {"percent": 100}).fetchall()
        assert exact == [("q", 4000)]  # (all pages: the exact count)
    store = Store(db_url)
    try:
        found, by_name = _by_name(store)
    finally:
        store.close()
    assert found.sample_percent == percent
    assert 0 <= by_name["q"].suspended <= 4000 * 100 / percent
    view = queues_view(found, SystemClock().now())
    assert view.queues[0].suspended.startswith("≈ ") and view.sample_note is not None
    assert queues.sample_percent(10**6, citus=True) is None


def _sql(name: str) -> str:
    from rhythm.runtime.sql import Q

    return Q[name]


@pytest.mark.parametrize(("name", "index"), [
    ("queues_runnable", "executions_due"), ("ui_queue_running", "executions_leases"),
    ("ui_queue_held", "executions_concurrency"), ("ui_queue_finished", "executions_created"),
])
def test_no_figure_reads_the_whole_table(db_url: str, name: str, index: str) -> None:
    """Among 20,000 ended executions, each count is a range of the index that holds its
    rows (the figures of test_each_state...), not a sequential scan."""
    _fill(db_url)
    now = SystemClock().now()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, status, queue,"
                     " created_at, finished_at)"
                     " SELECT 'e' || g, 'task', 'job', 'completed', 'mail',"
                     "        %(now)s - make_interval(secs => 86400 + g),"
                     "        %(now)s - make_interval(secs => 86400 + g)"
                     " FROM generate_series(1, 20000) g", {"now": now})
        conn.execute("ANALYZE rhythm.executions")
        params = {"now": now, "since": now - queues.RATE_WINDOW, "cap": queues.RATE_CAP,
                  "horizon": now - queues.RATE_HORIZON}
        plan = str(conn.execute("EXPLAIN " + _sql(name), params).fetchall())
    assert index in plan and "Seq Scan" not in plan, plan
