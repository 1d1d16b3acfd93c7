"""What the dashboard reads and does, through the runtime's operations and named SQL.

Reads the operations already have (listing, one execution, schedules) and every
action (cancel, retry, signal, bulk retry and cancel, queue and schedule pause/resume)
go through :class:`rhythm.Client` and :mod:`rhythm.runtime.limits`, the code the CLI
runs, so the dashboard obeys the same rules. The reads only the dashboard needs (the
queues page's figures among them, :mod:`rhythm.ui.queues`) are
named queries of ``rhythm/store/sql/ui.sql``, run as operations (:func:`ops.drive`) on a
connection of the store's own. Both connections are used under a lock: the dashboard is
a handful of operators, and one connection each keeps its cost on the server fixed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from rhythm.errors import UnknownName
from rhythm.lifecycle.bulk import BulkResult
from rhythm.lifecycle.filters import Page
from rhythm.runtime import operations as ops
from rhythm.runtime.client import Client
from rhythm.runtime.clock import Clock, SystemClock
from rhythm.runtime.database import connect, still_usable, translated
from rhythm.runtime.limits import set_queue
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q
from rhythm.ui.queues import Overview, overview
from rhythm.upgrade.move import Outcome, current_version_op, upgrade_execution

Row = dict[str, Any]
T = TypeVar("T")
DETAIL_LIMIT = 200  # children, pending awaits, buffered signals shown on one page
CHECK_IDLE = 1.0  # seconds idle after which the kept connection is checked before use


@dataclass(frozen=True)
class BulkFilters:
    """The filters of a bulk action (those of the list page a bulk action accepts)."""

    status: str | None = None
    name: str | None = None
    kind: str | None = None
    queue: str | None = None
    since: str | None = None
    until: str | None = None

    def given(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _children(execution_id: str) -> ops.Op[list[Row]]:
    rows = yield "ui_children", {"id": execution_id, "limit": DETAIL_LIMIT}
    return rows


def _pending(execution_id: str) -> ops.Op[list[Row]]:
    rows = yield "ui_pending_promises", {"id": execution_id, "limit": DETAIL_LIMIT}
    return rows


def _buffered(execution_id: str) -> ops.Op[list[Row]]:
    rows = yield "ui_buffered_signals", {"id": execution_id, "limit": DETAIL_LIMIT}
    return rows


def _source(name: str, version: str) -> ops.Op[Row | None]:
    rows = yield "get_version_source", {"name": name, "version": version}
    return rows[0] if rows else None


def _workers() -> ops.Op[list[Row]]:
    rows = yield "ui_workers", {}
    return rows


class Store:
    """The dashboard's access to one Rhythm database."""

    def __init__(self, url: str, clock: Clock | None = None) -> None:
        self.url = url
        self.clock = clock or SystemClock()
        self.client = Client(url, clock=self.clock)
        self._conn: psycopg.Connection[Any] | None = None
        self._idle_since = 0.0
        self._lock = threading.Lock()
        self._topology: Topology | None = None

    def close(self) -> None:
        self.client.close()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        conn = still_usable(self._conn, self._idle_since, CHECK_IDLE)
        self._conn = conn = conn or connect(self.url)
        self._idle_since = time.monotonic()
        return conn

    def topology(self) -> Topology:
        with self._lock, translated("read the layout"):
            if self._topology is None:
                row = self._connection().execute(Q["read_layout"]).fetchone()
                self._topology = Topology.from_row(row)
            return self._topology

    def _run(self, op: ops.Op[Any], action: str) -> Any:
        topology = self.topology()
        with self._lock, translated(action):
            return ops.drive(self._connection(), op, topology)

    def with_connection(self, read: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``read(conn)`` on the store's connection (for readers that take one: the
        history contract's ``read_history``, ``inspect_execution``)."""
        with self._lock, translated("read the history"):
            return read(self._connection())

    # Reads

    def list_page(self, filters: dict[str, str], after: str | None, limit: int) -> Page:
        return self.client.list_page(after=after, limit=limit, **filters)

    def execution(self, execution_id: str) -> Row:
        return self.client.get(execution_id)

    def children(self, execution_id: str) -> list[Row]:
        rows: list[Row] = self._run(_children(execution_id), f"read {execution_id!r}")
        return rows

    def pending(self, execution_id: str) -> list[Row]:
        rows: list[Row] = self._run(_pending(execution_id), f"read {execution_id!r}")
        return rows

    def buffered_signals(self, execution_id: str) -> list[Row]:
        rows: list[Row] = self._run(_buffered(execution_id), f"read {execution_id!r}")
        return rows

    def source(self, name: str, version: str) -> Row | None:
        row: Row | None = self._run(_source(name, version), f"read workflow {name!r}")
        return row

    def queues(self) -> Overview:
        """The queues page's figures (:mod:`rhythm.ui.queues`: no scan of the table)."""
        found: Overview = self._run(overview(self.clock.now(), self.topology().citus),
                                    "list queues")
        return found

    def current_version(self, name: str) -> str | None:
        """The newest registered version of workflow ``name`` (None: none registered)."""
        try:
            found: str = self._run(current_version_op(name), f"read workflow {name!r}")
        except UnknownName:
            return None
        return found

    def latest_version_of(self, execution_id: str) -> str | None:
        """The newest registered version of the workflow ``execution_id`` runs."""
        return self.current_version(self.execution(execution_id)["name"])

    def workers(self) -> list[Row]:
        rows: list[Row] = self._run(_workers(), "list workers")
        return rows

    def schedules(self) -> list[Row]:
        return self.client.schedules.list()

    # Actions

    def cancel(self, execution_id: str) -> str:
        return self.client.cancel(execution_id)

    def retry(self, execution_id: str) -> None:
        self.client.retry(execution_id)

    def signal(self, execution_id: str, channel: str, payload: Any) -> Row:
        return self.client.signal(execution_id, channel, payload)

    def bulk(self, action: str, filters: BulkFilters, dry_run: bool) -> BulkResult:
        run = self.client.cancel_many if action == "cancel" else self.client.retry_many
        return run(dry_run=dry_run, **filters.given())

    def upgrade(self, execution_id: str, to_version: str | None, dry_run: bool) -> Outcome:
        """Move one suspended workflow onto ``to_version`` (default the current one), or
        with ``dry_run`` only say whether it can (``rhythm upgrade``'s plan and fence)."""
        topology = self.topology()
        with self._lock, translated(f"upgrade {execution_id!r}"):
            return upgrade_execution(self._connection(), topology, self.clock, execution_id,
                                     to_version=to_version, dry_run=dry_run)

    def fork(self, execution_id: str, step: int, to_version: str | None) -> str:
        """A new execution from the snapshot of step ``step`` (``rhythm fork``); its id."""
        return self.client.fork(execution_id, from_step=step, to_version=to_version).id

    def pause_queue(self, name: str, paused: bool) -> Row:
        partitions = self.topology().partitions
        with self._lock, translated(f"change queue {name!r}"):
            return set_queue(self._connection(), name, self.clock.now(),
                             partitions=partitions, paused=paused)

    def pause_schedule(self, name: str, paused: bool) -> Row:
        schedules = self.client.schedules
        return schedules.pause(name) if paused else schedules.resume(name)
