"""The queues page's figures, read without a scan of the whole table (docs/ui.md "Queues").

``rhythm queue list`` counts every live execution exactly: a read of the whole table,
275 ms at a million rows. The page reads instead what the indexes of the claim path
hold (ready and scheduled rows, running ones, rows held back by a concurrency key or a
missing version: each a range of a partial index, as large as that state is, whatever
the table size), and estimates the one figure no index holds, the workflows suspended
and waiting: counted exactly up to ``SAMPLE_PAGES * 2`` pages of table, beyond that in
a random sample of ``SAMPLE_PAGES`` pages, scaled up and marked as an estimate. On
Citus the count is exact (the shards count in parallel; the sample is not used there).

The rate, executions finished per minute over the last ``RATE_WINDOW``, comes from the
newest rows by ``created_at`` (executions_created): no index on ``finished_at`` exists,
and one would cost every completion. So it counts the executions created in the last
``RATE_HORIZON`` (at most the ``RATE_CAP`` newest) that ended in the window: one that
ran longer than the horizon is missed, and when the cap cut the walk short the figure
is a lower bound (``at_least``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rhythm.runtime.operations import Op

Row = dict[str, Any]
SAMPLE_PAGES = 2_000  # pages the suspended estimate reads (about 16 MB)
RATE_WINDOW = timedelta(minutes=5)
RATE_HORIZON = timedelta(hours=1)
RATE_CAP = 20_000


@dataclass
class QueueFigures:
    """One queue's line on the page."""

    name: str
    ready: int = 0  # claimable now (new, retried after its backoff, or woken)
    scheduled: int = 0  # claimable later (a delayed start, a retry's backoff)
    held: int = 0  # pending, held by a concurrency key or waiting for a version
    running: int = 0
    suspended: int = 0  # workflows waiting (estimated when ``Overview.sample_percent``)
    oldest_due: datetime | None = None  # the earliest run_at among the ready rows
    finished: int = 0  # ended in the last RATE_WINDOW (see the module's docstring)
    rate_limit: str | None = None
    task_limits: str | None = None
    paused: bool = False


@dataclass
class Overview:
    """Every queue's figures, and how the estimated ones were had."""

    queues: list[QueueFigures] = field(default_factory=list)
    sample_percent: float | None = None  # None: suspended counts are exact
    rate_at_least: bool = False  # the rate walk reached RATE_CAP before RATE_HORIZON


def sample_percent(pages: int, citus: bool) -> float | None:
    """The percentage of pages to sample for the suspended count (None: count exactly)."""
    if citus or pages <= 2 * SAMPLE_PAGES:
        return None
    return 100.0 * SAMPLE_PAGES / pages


def overview(now: datetime, citus: bool) -> Op[Overview]:
    """The queues page's figures: a handful of index reads and one bounded sample."""
    found: dict[str, QueueFigures] = {}

    def queue(name: str) -> QueueFigures:
        return found.setdefault(name, QueueFigures(name))

    for row in (yield "ui_queue_settings", {}):
        figures = queue(row["name"])
        figures.rate_limit, figures.task_limits = row["rate_limit"], row["task_limits"]
        figures.paused = row["paused"]
    for row in (yield "queues_runnable", {"now": now}):  # (the metrics poller's too)
        figures = queue(row["queue"])
        figures.ready, figures.scheduled = row["depth"], row["scheduled"]
        figures.oldest_due = row["oldest"]
    for row in (yield "ui_queue_running", {}):
        queue(row["queue"]).running = row["running"]
    for row in (yield "ui_queue_held", {}):
        queue(row["queue"]).held = row["held"]
    result = Overview()
    pages = (yield "ui_executions_pages", {})[0]["pages"]
    result.sample_percent = sample_percent(int(pages), citus)
    if result.sample_percent is None:
        suspended = yield "ui_queue_suspended", {}
    else:
        suspended = yield "ui_queue_suspended_sample", {"percent": result.sample_percent}
    for row in suspended:
        scale = 1.0 if result.sample_percent is None else 100.0 / result.sample_percent
        queue(row["queue"]).suspended = round(row["suspended"] * scale)
    finished = yield "ui_queue_finished", {"since": now - RATE_WINDOW, "cap": RATE_CAP,
                                           "horizon": now - RATE_HORIZON}
    for row in finished:
        queue(row["queue"]).finished = row["finished"]
        result.rate_at_least = row["walked"] >= RATE_CAP
    result.queues = sorted(found.values(), key=lambda q: q.name)
    return result
