"""``rhythm.current_task()`` inside tasks run by a real worker process (sync tasks on
its threads, async ones on its loop, tasks started by a workflow)."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import one_row, spawn_worker, wait_for

import rhythm
from rhythm.runtime.client import Client

FLOW = 'return await Task.run("who_am_i", {})\n'


@pytest.fixture
def worker_process(db_url: str, tmp_path: Path):
    (tmp_path / "ask_who.flow").write_text(FLOW)
    proc = spawn_worker(db_url, "-m", "context_tasks", "--flows", str(tmp_path),
                        "--poll", "0.2")
    yield proc
    # (a signal before the worker has installed its handlers would kill it outright)
    wait_for(lambda: one_row(db_url, "SELECT count(*) FROM rhythm.workers")[0],
             what="the worker's registration")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def test_a_sync_task_knows_its_execution_attempt_and_deadline(
    client: Client, worker_process
) -> None:
    run = client.queue_task("who_am_i", {"fail_first": True})
    seen = run.result(timeout=30)
    assert seen["execution_id"] == run.id
    assert seen["name"] == "who_am_i"
    assert seen["attempt"] == 2  # the retry after the failed first attempt
    assert seen["workflow_id"] is None
    assert seen["idempotency_key"] == run.id
    assert seen["deadline_aware"] is True
    deadline = datetime.fromisoformat(seen["deadline"])
    started = datetime.fromisoformat(seen["started"])
    assert timedelta(seconds=55) < deadline - started <= timedelta(seconds=60)


def test_an_async_task_knows_itself_and_has_no_deadline_without_a_timeout(
    client: Client, worker_process
) -> None:
    run = client.queue_task("who_am_i_async", {})
    seen = run.result(timeout=30)
    assert (seen["execution_id"], seen["attempt"], seen["workflow_id"], seen["deadline"]) == (
        run.id, 1, None, None)
    assert seen["idempotency_key"] == run.id


def test_a_task_started_by_a_workflow_knows_the_workflow(
    client: Client, worker_process, db_url: str
) -> None:
    run = client.start("ask_who", {})
    seen = run.result(timeout=30)
    assert seen["workflow_id"] == run.id
    task_ids = [r["id"] for r in client.list(kind="task", name="who_am_i")]
    assert seen["execution_id"] in task_ids and seen["execution_id"] != run.id
    assert seen["attempt"] == 1


def test_current_task_outside_a_task_says_so(client: Client, worker_process) -> None:
    message = ("rhythm.current_task() called outside a task: it works only inside a "
               "@rhythm.task function run by a worker")
    with pytest.raises(rhythm.RhythmError) as err:
        rhythm.current_task()
    assert str(err.value) == message
    # a thread a task starts is not the task (context variables do not cross threads)
    assert client.queue_task("outside_error", {}).result(timeout=30) == message
