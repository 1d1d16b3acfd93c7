"""Compensation after cancellation (issue 16, item 1), on a real worker and database.

What a workflow started before ``CancelledError`` reached it is cancelled; what its
``catch``/``finally`` start afterwards runs normally, and a second cancel request does
not stop it (the compensation is detached, like a Temporal non-cancellable scope). A
workflow that was cancelled ends ``cancelled`` whatever it does next (the spec).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sample_tasks
from conftest import flows_worker, one_row, wait_for

from rhythm.errors import WorkflowFailed
from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker

FLOWS = {
    "saga_catch": """
await Task.run("log_once", { key: "charge" })
try {
  await Signal.next("ship")
  return "shipped"
} catch (e) {
  const refund = await Task.run("log_once", { key: "refund" })
  return { compensated: refund, because: e.name }
}
""",
    "saga_finally": """
const busy = Task.run("wait_forever", { key: "started-before" })
await Task.run("log_once", { key: "charge" })
try {
  await Signal.next("ship")
} finally {
  await Timer.delay(0.2)
  await Task.run("log_once_async", { key: "refund" })
}
""",
    "saga_patient": """
await Task.run("log_once", { key: "charge" })
try {
  await Signal.next("ship")
} catch (e) {
  const go = await Signal.next("compensate")
  await Task.run("log_once", { key: "refund-" + go })
  throw e
}
""",
}


@pytest.fixture
def saga_worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    with flows_worker(db_url, tmp_path, FLOWS) as w:
        yield w


def _charged_and_waiting(url: str, client: Client, run_id: str,
                         task_log: Callable[[], list[str]]) -> None:
    # (the wait for 'ship' itself: 'suspended' with the charge logged may still be the
    # await of the charge, whose outcome the workflow has not read yet; a cancel then
    # stops it there, before its try, and nothing is refunded: rightly)
    wait_for(lambda: task_log() == ["charge"] and _waits_on(url, client, run_id, "ship"),
             what="the charge, then the wait for 'ship'")


def test_catch_refunds_after_cancel(db_url: str, client: Client, saga_worker: Worker,
                                    task_log: Callable[[], list[str]]) -> None:
    run = client.start("saga_catch")
    _charged_and_waiting(db_url, client, run.id, task_log)
    client.cancel(run.id)
    with pytest.raises(WorkflowFailed, match="CancelledError"):
        run.result(timeout=10)
    assert task_log() == ["charge", "refund"]  # the refund task really ran, once
    row = client.get(run.id)
    assert row["status"] == "cancelled"
    assert row["result"] == {"compensated": "refund", "because": "CancelledError"}
    assert row["error"]["name"] == "CancelledError"


def test_finally_with_a_timer_refunds_and_what_started_before_is_cancelled(
    db_url: str, client: Client, saga_worker: Worker, task_log: Callable[[], list[str]]
) -> None:
    run = client.start("saga_finally")
    _charged_and_waiting(db_url, client, run.id, task_log)
    wait_for(lambda: sample_tasks.CANCELLED == [] and _running_tasks(db_url, run.id) == 1,
             what="the task started before the cancel to run")
    client.cancel(run.id)
    with pytest.raises(WorkflowFailed, match="CancelledError"):
        run.result(timeout=10)
    assert task_log() == ["charge", "refund"]
    assert client.get(run.id)["status"] == "cancelled"
    wait_for(lambda: sample_tasks.CANCELLED == ["started-before"],
             what="the running task started before the cancel to be cancelled")


def test_a_second_cancel_does_not_stop_the_compensation(
    db_url: str, client: Client, saga_worker: Worker, task_log: Callable[[], list[str]]
) -> None:
    run = client.start("saga_patient")
    _charged_and_waiting(db_url, client, run.id, task_log)
    client.cancel(run.id)
    wait_for(lambda: _waits_on(db_url, client, run.id, "compensate"), what="the wait in catch")
    assert client.cancel(run.id) == "suspended"  # already cancelled: nothing more to do
    client.signal(run.id, "compensate", "ok")
    with pytest.raises(WorkflowFailed, match="CancelledError"):
        run.result(timeout=10)
    assert task_log() == ["charge", "refund-ok"]
    assert client.get(run.id)["status"] == "cancelled"


def _running_tasks(url: str, run_id: str) -> int:
    return int(one_row(url, "SELECT count(*) FROM rhythm.executions WHERE parent_id = %s"
                            " AND name = 'wait_forever' AND status = 'running'", (run_id,))[0])


def _waits_on(url: str, client: Client, run_id: str, channel: str) -> bool:
    waits = one_row(url, "SELECT count(*) FROM rhythm.promises WHERE execution_id = %s"
                         " AND kind = 'signal' AND target = %s AND state = 'pending'",
                    (run_id, channel))[0]
    return bool(waits) and client.get(run_id)["status"] == "suspended"
