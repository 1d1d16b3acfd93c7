"""Bulk retry and cancel, and list paging, on Citus: the runtime tests' own, on the
coordinator of a cluster distributed over 4 partitions (each page of a bulk operation is
routed to one shard; a listing reads every shard)."""

from __future__ import annotations

from test_bulk_operations import (
    saga_worker,
    small_pages,
    test_bulk_cancel_of_suspended_workflows_runs_each_compensation,
    test_bulk_cancel_then_retry_commits_each_effect_once,
    test_bulk_retry_runs_20_failed_executions_again_to_completion,
    test_ids_counts_missing_and_the_async_client,
)
from test_list_filters import test_keyset_pages_visit_every_row_once_with_ties

__all__ = [
    "saga_worker",
    "small_pages",
    "test_bulk_cancel_of_suspended_workflows_runs_each_compensation",
    "test_bulk_cancel_then_retry_commits_each_effect_once",
    "test_bulk_retry_runs_20_failed_executions_again_to_completion",
    "test_ids_counts_missing_and_the_async_client",
    "test_keyset_pages_visit_every_row_once_with_ties",
]
