"""Lifecycle of executions beyond one run (issue 19): schedules, retention and cleanup of
ended executions, and bulk operations (list filters, bulk retry and cancel)."""
