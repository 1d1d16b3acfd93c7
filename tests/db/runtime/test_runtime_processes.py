"""Real worker processes: SIGKILL mid-task, SIGTERM graceful shutdown, hand-back."""

from __future__ import annotations

import signal

import pytest
from conftest import spawn_worker, wait_for

from rhythm.runtime.client import Client


def _stop(proc, sig: int = signal.SIGTERM, timeout: float = 20) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


@pytest.mark.slow
def test_a_task_of_a_killed_worker_is_rerun_by_another_and_commits_once(
    client: Client, task_log, db_url: str
) -> None:
    first = spawn_worker(db_url, "--lease", "1", "--poll", "0.2")
    try:
        run = client.queue_task("sleep_then_log", {"key": "k", "seconds": 1.5})
        wait_for(lambda: client.get(run.id)["status"] == "running", what="first worker's claim")
        first_claim = client.get(run.id)
        first.kill()  # SIGKILL mid-task: no chance to hand anything back
        first.communicate(timeout=10)
        second = spawn_worker(db_url, "--lease", "1", "--poll", "0.2")
        try:
            assert run.result(timeout=20) == "k"
        finally:
            code, err = _stop(second)
        assert code == 0, err
    finally:
        if first.poll() is None:
            first.kill()
    row = client.get(run.id)
    assert row["claim_token"] > first_claim["claim_token"]
    assert row["claimed_by"] is None and row["lease_losses"] == 1
    assert task_log() == ["k"]  # the effect of the killed attempt never committed


@pytest.mark.slow
def test_sigterm_lets_in_flight_tasks_finish(client: Client, task_log, db_url: str) -> None:
    proc = spawn_worker(db_url, "--poll", "0.2")
    run = client.queue_task("sleep_then_log", {"key": "graceful", "seconds": 1.0})
    wait_for(lambda: client.get(run.id)["status"] == "running", what="the claim")
    code, err = _stop(proc)
    assert code == 0, err
    assert client.get(run.id)["status"] == "completed"
    assert task_log() == ["graceful"]
    assert "waiting up to" in err


@pytest.mark.slow
def test_sigterm_hands_back_what_outlives_the_grace_period(
    client: Client, task_log, db_url: str
) -> None:
    proc = spawn_worker(db_url, "--poll", "0.2", "--grace", "0.2")
    run = client.queue_task("sleep_then_log", {"key": "handed", "seconds": 2.0})
    wait_for(lambda: client.get(run.id)["status"] == "running", what="the claim")
    code, err = _stop(proc)
    assert code == 0, err
    row = client.get(run.id)
    assert (row["status"], row["attempt"], row["claimed_by"]) == ("pending", 0, None)
    assert task_log() == []  # its transaction was rolled back; another worker will run it
    again = spawn_worker(db_url, "--poll", "0.2")
    try:
        assert run.result(timeout=20) == "handed"
    finally:
        _stop(again)
    assert task_log() == ["handed"]
