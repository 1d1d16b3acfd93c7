"""A signal or a cancel queued on a workflow's row can be the victim of a deadlock
between two other transactions over that row (the Citus chaos test met it: two workers'
commits, a client's signal holding the row's place in the queue between them). The
client's transaction changed nothing; it runs again instead of raising.

The deadlock here is real: ``holder`` locks the workflow's row, the client's signal
queues on it (and so holds the row's tuple lock), ``other`` locks a second row and then
asks for the workflow's (queued behind the signal), and ``holder`` asks for ``other``'s
row. The two sessions wait 10 s before they look for a deadlock, the signal's 1 s
(the server's default), so the signal's backend finds the cycle and is its victim."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import register_flow, wait_for

from rhythm.runtime.client import Client

FLOW = 'const n = await Signal.next("tick")\nreturn n\n'


def _session(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url)
    conn.execute("SET deadlock_timeout = '10s'")
    return conn


def _lock(conn: psycopg.Connection[Any], execution_id: str) -> None:
    with contextlib.suppress(psycopg.errors.QueryCanceled):  # (the test ends the
        conn.execute("SELECT 1 FROM rhythm.executions WHERE id = %s FOR UPDATE",  # last
                     (execution_id,))  # wait of `holder` itself)


def _waiting_on_a_lock(url: str, pid: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                           (pid,)).fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.parametrize("action", ["signal", "cancel"])
def test_a_client_operation_that_loses_a_deadlock_runs_again(
    db_url: str, tmp_path: Path, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    register_flow(db_url, tmp_path / "flows", "ticked", FLOW)
    with Client(db_url) as client:
        target = client.start("ticked").id
        second = client.start("ticked").id
    holder, other = _session(db_url), _session(db_url)
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            with Client(db_url) as sender:
                outcome["pid"] = sender._connection().info.backend_pid
                if action == "signal":
                    outcome["row"] = sender.signal(target, "tick", 7)
                else:
                    outcome["row"] = sender.cancel(target)
        except Exception as err:  # (the failure the test is about, if it comes back)
            outcome["error"] = err

    try:
        _lock(holder, target)
        thread = threading.Thread(target=send)
        thread.start()
        wait_for(lambda: "pid" in outcome and _waiting_on_a_lock(db_url, outcome["pid"]),
                 timeout=10, what="the client's operation to queue on the row")
        _lock(other, second)
        queued = threading.Thread(target=_lock, args=(other, target))
        queued.start()
        wait_for(lambda: _waiting_on_a_lock(db_url, other.info.backend_pid), timeout=10,
                 what="the second session to queue behind the client")
        # holder now waits for other, which waits for the signal, which waits for holder.
        closing = threading.Thread(target=_lock, args=(holder, second))
        closing.start()
        time.sleep(2)  # past the client's deadlock_timeout: it lost, and is running again
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_cancel_backend(%s)", (holder.info.backend_pid,))
        closing.join(10)
        holder.rollback()
        queued.join(10)
        other.rollback()
        thread.join(10)
    finally:
        holder.close()
        other.close()
    assert "error" not in outcome, outcome.get("error")
    assert any("lost a deadlock" in m for m in caplog.messages)  # (it did, and ran again)
    with psycopg.connect(db_url, autocommit=True) as conn:
        if action == "signal":
            (count,) = conn.execute("SELECT count(*) FROM rhythm.signals WHERE execution_id "
                                    "= %s", (target,)).fetchone() or (0,)
            assert count == 1  # sent once: the aborted run left nothing
        else:
            (status,) = conn.execute("SELECT status FROM rhythm.executions WHERE id = %s",
                                     (target,)).fetchone() or ("?",)
            assert status == "cancelled" and outcome["row"] == "cancelled"
