"""The worker's heartbeat thread: lease renewal that a busy event loop cannot starve.

Workflow activations and async tasks run on the worker's event loop. One that keeps
the loop busy for longer than a lease (a CPU-heavy activation, an async task that
blocks) would, with the heartbeat on that loop, stop every renewal: the leases of all
the innocent executions in flight would expire, another worker would reap and run them
again. So the heartbeat runs on a thread of its own with its own (synchronous)
connection: the thread gets the interpreter every few milliseconds whatever the loop
does (the GIL's switch interval), and psycopg releases it while a statement is under way.

The thread only talks to the database; judging what the renewal says (a lease lost, a
cancellation requested) touches the worker's state and is handed to the loop, which
does it as soon as it is free (see ``Worker._beat``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from rhythm.errors import RhythmError
from rhythm.runtime.database import connect
from rhythm.runtime.sql import Q

log = logging.getLogger("rhythm.worker")

STATEMENT_TIMEOUT_MS = 10_000  # a hung renew must not stop the heartbeat for good


class HeartbeatThread:
    """Calls ``beat(conn)`` at once and then every ``interval`` seconds on a daemon
    thread, with a connection of its own (reopened after a failure) until :meth:`stop`."""

    def __init__(
        self, url: str, interval: float, beat: Callable[[psycopg.Connection[Any]], None],
        name: str = "rhythm-heartbeat",
    ) -> None:
        self.url = url
        self.interval = interval
        self.beat = beat
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (after the beat under way, if any)."""
        self._stopped.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; False when it is still running."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self._stopped.is_set():
            try:
                if conn is None or conn.closed or conn.broken:
                    conn = self._open()
                self.beat(conn)
            except (psycopg.Error, RhythmError, OSError) as err:
                # Never let the heartbeat die: it also reaps dead workers' rows. A server
                # that is down raises DatabaseError from connect.
                log.warning("heartbeat failed (%s)", err)
                if conn is not None:
                    conn.close()
                conn = None
            except Exception:  # a bug: say so, and keep beating
                log.exception("heartbeat failed")
            self._stopped.wait(self.interval)
        if conn is not None:
            conn.close()

    def _open(self) -> psycopg.Connection[Any]:
        conn = connect(self.url)
        conn.execute(Q["heartbeat_session"], {"timeout": f"{STATEMENT_TIMEOUT_MS}ms"})
        return conn
