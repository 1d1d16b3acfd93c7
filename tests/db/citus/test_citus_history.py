"""Execution history on Citus (issue 20): the entries of test_history.py (and of the bulk
start, a child cancelled with its parent, the async client's reads), written by the
activation's commit and the operations, on a distributed cluster; the table is
distributed next to the executions."""

from __future__ import annotations

import psycopg
from test_async_observe import test_async_history_and_inspect_answer_as_the_sync_client_does
from test_history import (
    test_a_workflow_with_a_loop_signal_timer_child_and_retried_task,
    test_cancel_and_retry_entries,
    test_inspect_now_and_the_commands,
)
from test_history_entries import test_start_many_writes_a_started_entry_for_each_workflow_it_starts
from test_history_parity import (
    test_a_child_cancelled_with_its_parent_has_its_cancel_requested_entry,
)

__all__ = [
    "test_a_child_cancelled_with_its_parent_has_its_cancel_requested_entry",
    "test_a_workflow_with_a_loop_signal_timer_child_and_retried_task",
    "test_async_history_and_inspect_answer_as_the_sync_client_does",
    "test_cancel_and_retry_entries",
    "test_inspect_now_and_the_commands",
    "test_start_many_writes_a_started_entry_for_each_workflow_it_starts",
]


def test_history_is_distributed_next_to_the_executions(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = dict(conn.execute(
            "SELECT table_name::text, colocation_id FROM citus_tables WHERE table_name IN"
            " ('rhythm.executions'::regclass, 'rhythm.history'::regclass)").fetchall())
    assert set(rows) == {"rhythm.executions", "rhythm.history"}
    assert rows["rhythm.history"] == rows["rhythm.executions"]
