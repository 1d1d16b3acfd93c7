"""Retention and cleanup on Citus (4 partitions over two workers): the runtime tier's own
tests (tests/db/runtime/test_retention.py) on the coordinator. The cleanup statements
name one partition each (router queries, the walk up a candidate's ancestors included),
the advisory lock is the coordinator's, and the cascade to snapshots, promises, signals
and waiters runs between co-located shards."""

from __future__ import annotations

from test_retention import (
    parents,
    test_a_cleaned_idempotency_key_and_id_can_be_used_again,
    test_cleanup_deletes_only_ended_executions_past_retention_with_all_their_rows,
    test_filters_and_the_dry_run_count_right_and_delete_nothing,
    test_per_queue_retention_and_defaults,
    test_the_workers_cleaner_deletes_on_its_interval,
    test_two_cleaners_never_work_at_once,
)

__all__ = [
    "parents",
    "test_a_cleaned_idempotency_key_and_id_can_be_used_again",
    "test_cleanup_deletes_only_ended_executions_past_retention_with_all_their_rows",
    "test_filters_and_the_dry_run_count_right_and_delete_nothing",
    "test_per_queue_retention_and_defaults",
    "test_the_workers_cleaner_deletes_on_its_interval",
    "test_two_cleaners_never_work_at_once",
]
