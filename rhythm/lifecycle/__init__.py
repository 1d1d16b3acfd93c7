"""Lifecycle of executions over the years an engine runs (issue 19, docs/lifecycle.md):
schedules (recurring starts), retention and cleanup of ended executions, and bulk
operations over many executions at once."""
