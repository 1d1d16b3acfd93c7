"""Values Postgres cannot store, and dates past any calendar, fail at once with a clear
error (or are refused at the client), never by crashing the worker's commit until the
execution fails as ``WorkerLost``; and the executions committed or recorded with them
are not hurt. An internal error is reported as itself. Real Postgres, in-process worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import flows_worker, one_row

from rhythm.errors import InputError, WorkflowFailed
from rhythm.runtime import failures
from rhythm.runtime.client import Client
from rhythm.runtime.database import Connect
from rhythm.runtime.jobs import Claim, Outcome
from rhythm.runtime.versions import WorkflowVersions
from rhythm.runtime.worker import Worker

FLOWS = {
    "nul_input": 'return await Task.run("add", { a: 1, b: "x\\u0000" })\n',
    "surrogate_input": 'return await Task.run("add", { a: 1, b: JSON.parse("\\"\\\\ud800\\"") })\n',
    "far_timer": "await Timer.delay(1e300)\nreturn 1\n",
    "far_days": 'await Timer.delay("100000000d")\nreturn 1\n',
    "far_until": 'await Timer.until("9999-12-31T23:59:59-14:00")\nreturn 1\n',
    "far_signal": 'await Signal.next("x", { timeout: 1e300 })\nreturn 1\n',
    "innocent": 'const a = await Task.run("add", { a: Inputs.n, b: 1 })\nreturn a\n',
    "broken": "return 1\n",
}


class BreaksOn(WorkflowVersions):
    """Versions whose loading of workflow ``broken`` raises: a bug inside the worker."""

    async def load(self, connect: Connect, name: str, version: str | None) -> Any:
        if name == "broken":
            raise RuntimeError("boom inside the runtime")
        return await super().load(connect, name, version)


@pytest.fixture
def hostile_worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    with flows_worker(db_url, tmp_path, FLOWS, BreaksOn(), lease_seconds=2,
                      concurrency=8) as w:
        yield w


def _failure(run: Any) -> str:
    with pytest.raises(WorkflowFailed) as caught:
        run.result(timeout=20)
    return str(caught.value).split(" failed: ", 1)[1]


def _lease_losses(url: str, execution_id: str) -> int:
    return int(one_row(url, "SELECT lease_losses FROM rhythm.executions WHERE id = %s",
                       (execution_id,))[0])


@pytest.mark.parametrize(("name", "error"), [
    ("nul_input", "WorkflowError: the workflow's state cannot be stored: "
                  "UntranslatableCharacter: unsupported Unicode escape sequence "
                  "(\\u0000 cannot be converted to text.)"),
    ("surrogate_input", "WorkflowError: the workflow's state cannot be stored: "
                        "InvalidTextRepresentation: invalid input syntax for type json "
                        "(Unicode low surrogate must follow a high surrogate.)"),
    ("far_timer", "RangeError: Timer.delay duration 1e+300 is too long: at most 1000 years"),
    ("far_days", "RangeError: Timer.delay duration '100000000d' is too long: at most "
                 "1000 years"),
    ("far_until", 'RangeError: Timer.until: "9999-12-31T23:59:59-14:00" is after '
                  "9999-12-31T23:59:59.999Z"),
    ("far_signal", "RangeError: Signal.next option 'timeout' 1e+300 is too long: at most "
                   "1000 years"),
    ("broken", "WorkflowError: RuntimeError: boom inside the runtime"),
])
def test_a_hostile_workflow_fails_at_once_and_the_others_run_once(
    db_url: str, client: Client, hostile_worker: Worker, name: str, error: str
) -> None:
    innocents = [client.start("innocent", {"n": n}) for n in range(6)]
    bad = client.start(name)
    more = [client.start("innocent", {"n": n}) for n in range(6, 12)]
    assert _failure(bad) == error
    assert _lease_losses(db_url, bad.id) == 0  # failed at once, not after lost leases
    assert [run.result(timeout=20) for run in innocents + more] == list(range(1, 13))
    assert [_lease_losses(db_url, run.id) for run in innocents + more] == [0] * 12


@pytest.mark.parametrize("code", [0, 0xD800])
def test_a_task_error_postgres_cannot_store_is_recorded_at_once(
    db_url: str, client: Client, hostile_worker: Worker, code: int
) -> None:
    bad = client.queue_task("fail_with_char", {"code": code})
    good = [client.queue_task("add", {"a": n}) for n in range(10)]
    assert _failure(bad) == "TaskError: bad \ufffd here"
    assert [run.result(timeout=20) for run in good] == list(range(10))
    assert _lease_losses(db_url, bad.id) == 0


def test_an_unstorable_outcome_fails_alone_not_its_whole_batch(
    db_url: str, client: Client, hostile_worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should an outcome Postgres refuses still reach the flusher (here: task errors no
    longer made storable), only that one fails, and the batch around it is recorded."""
    monkeypatch.setattr(failures, "storable", lambda text: text)
    runs = [client.queue_task("fail_with_char", {"code": 0}) if n % 4 == 0
            else client.queue_task("add", {"a": n}) for n in range(20)]
    for n, run in enumerate(runs):
        if n % 4 == 0:
            assert _failure(run).startswith(
                "TaskError: the outcome cannot be stored: UntranslatableCharacter: ")
        else:
            assert run.result(timeout=20) == n
        assert _lease_losses(db_url, run.id) == 0


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800b"])
def test_inputs_and_payloads_postgres_cannot_store_are_refused_at_the_client(
    client: Client, value: str
) -> None:
    with pytest.raises(InputError, match=r"NUL character|lone surrogate"):
        client.start("innocent", {"n": value})
    with pytest.raises(InputError, match=r"NUL character|lone surrogate"):
        client.signal("w-any", "go", {"v": value})
    assert client.list() == []


def test_an_internal_error_running_a_task_is_reported_as_itself(
    db_url: str, client: Client, hostile_worker: Worker
) -> None:
    run_attempt = hostile_worker._runner.run

    async def breaks_on_nap(claim: Claim, max_lease_losses: int) -> Outcome | None:
        if claim.name == "nap":
            raise RuntimeError("boom inside the task runner")
        return await run_attempt(claim, max_lease_losses)

    hostile_worker._runner.run = breaks_on_nap  # type: ignore[method-assign]
    bad = client.queue_task("nap", {"seconds": 0})
    good = client.queue_task("add", {"a": 2})
    assert _failure(bad) == "TaskError: RuntimeError: boom inside the task runner"
    assert _lease_losses(db_url, bad.id) == 0
    assert good.result(timeout=20) == 2
