"""The crash test on Citus: ``rhythm worker`` processes SIGKILLed and replaced while 200
workflows run (``test_workflow_crashes.py``'s own test, on the coordinator); every result
right, no effect twice, every transactional task write exactly once."""

from __future__ import annotations

import pytest
from test_workflow_crashes import flows, test_sigkill_workers_at_random_while_200_workflows_run

__all__ = ["flows", "lease", "settle", "test_sigkill_workers_at_random_while_200_workflows_run"]


@pytest.fixture
def lease() -> float:
    """3 s, not the plain tier's 1 s: one heartbeat (renewals and reaps, one partition a
    statement, each through the coordinator) took 10 ms on an idle cluster but 80 ms
    (median) to 380 ms on this 2-core box running a second cluster's test, so with 1 s
    leases live workers lost some again and again, and workflows failed with WorkerLost
    (5 losses) although the test killed only 8 workers. With 3 s, two runs side by side
    pass."""
    return 3


@pytest.fixture
def settle() -> float:
    """240 s, not 90: with the chaos test's cluster busy beside it (`pytest -n 2`), the
    work was still moving (113 of 200 done) when 90 s ran out."""
    return 240
