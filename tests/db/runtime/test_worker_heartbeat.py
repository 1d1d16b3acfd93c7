"""The heartbeat judges leases right: an activation whose commit has landed but which has
not yet left the in-flight table is not a lost lease. Real Postgres, in-process worker."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import running_worker

from rhythm.runtime.activation import Resumable
from rhythm.runtime.client import Client
from rhythm.runtime.database import Connect
from rhythm.runtime.jobs import Claim
from rhythm.runtime.versions import WorkflowVersions
from rhythm.runtime.worker import Worker

TWO_STEPS = """
const a = await Task.run("add", { a: Inputs.x, b: 1 })
return a + 1
"""


def renew_right_after_each_commit(worker: Worker, renewals: list[str]) -> None:
    """Run the real heartbeat renewal (its own connection) after every activation has
    committed and before it leaves the in-flight table: the window of the race. An
    activation resumed by its task's outcome (``resume``) is in flight as that task."""
    commit_and_stay = worker._activations.run
    resume_and_stay = worker._activations.resume

    async def renew(execution_id: str) -> None:
        claims = worker._held()  # as the heartbeat thread reads them
        with psycopg.connect(worker.url, autocommit=True) as hb:
            renewed = await asyncio.to_thread(worker._renew_leases, hb, claims)
        worker._judge(claims, renewed)  # still in flight: the window of the race
        renewals.append(execution_id)

    async def run(conn: psycopg.AsyncConnection[Any], claim: Claim, *args: Any,
                  **kwargs: Any) -> bool:
        committed = await commit_and_stay(conn, claim, *args, **kwargs)
        assert (claim.id, claim.token) in worker._inflight
        await renew(claim.id)
        return committed

    async def resume(connect: Connect, state: Resumable, *args: Any, **kwargs: Any) -> bool:
        committed = await resume_and_stay(connect, state, *args, **kwargs)
        outcome = args[0]  # of the task, run by this worker
        assert (outcome.id, outcome.token) in worker._inflight
        await renew(state.claim.id)
        return committed

    worker._activations.run = run  # type: ignore[method-assign]
    worker._activations.resume = resume  # type: ignore[method-assign]


def test_a_committed_activation_still_in_flight_is_not_a_lost_lease(
    db_url: str, client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "two_steps.flow").write_text(TWO_STEPS)
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)
    renewals: list[str] = []
    with caplog.at_level(logging.INFO, logger="rhythm.worker"), \
            running_worker(db_url, versions=versions) as worker:
        renew_right_after_each_commit(worker, renewals)
        assert worker.registered.wait(10)
        run = client.start("two_steps", {"x": 1})
        assert run.result(timeout=10) == 3
    assert renewals.count(run.id) >= 2  # the start and the step after the task
    lost = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert lost == []
