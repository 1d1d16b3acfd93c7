"""The crash test on Citus: ``rhythm worker`` processes SIGKILLed and replaced while 200
workflows run (``test_workflow_crashes.py``'s own test, on the coordinator); every result
right, no effect twice, every transactional task write exactly once."""

from __future__ import annotations

from test_workflow_crashes import flows, test_sigkill_workers_at_random_while_200_workflows_run

__all__ = ["flows", "test_sigkill_workers_at_random_while_200_workflows_run"]
