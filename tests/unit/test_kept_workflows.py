"""The worker keeps the state of workflows suspended on a task it may run
(``Worker._take_started``), a bounded number of them: the oldest go first."""

from __future__ import annotations

from datetime import UTC, datetime

from rhythm.runtime.activation import Resumable
from rhythm.runtime.jobs import Claim
from rhythm.runtime.worker import KEPT_WORKFLOWS, Worker


def _state(n: int) -> Resumable:
    claim = Claim(id=f"w-{n}", kind="workflow", name="flow", inputs={}, queue="default",
                  attempt=1, max_retries=None, lease_losses=0, options={}, token=1,
                  cancel_requested=False, parent_id=None)
    return Resumable(claim, f"t-{n}", {}, 1, [], 2, datetime.now(UTC))


def test_the_oldest_kept_workflow_goes_first_beyond_the_bound() -> None:
    worker = Worker("postgresql://nobody@/nowhere")  # (never connects here)
    for n in range(KEPT_WORKFLOWS + 2):
        worker._take_started([], _state(n))
    kept = worker._resumable
    assert len(kept) == KEPT_WORKFLOWS
    assert "t-0" not in kept and "t-1" not in kept
    assert kept["t-2"].claim.id == "w-2" and f"t-{KEPT_WORKFLOWS + 1}" in kept


def test_keeping_a_workflow_whose_task_was_queued_claims_nothing() -> None:
    worker = Worker("postgresql://nobody@/nowhere")
    worker._take_started([], _state(1))
    assert worker._claimer.buffer == {} and not worker._wake.is_set()
