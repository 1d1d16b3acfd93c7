"""Task idempotency keys (issue 18, docs/flow-control.md): one execution per (task name,
key) whoever asks - clients at the same instant, several workflows - and the three
reuse policies once it has ended. The task's runs are counted in a file it appends to
(``sample_tasks.charge``), as a payment provider would count charges."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from conftest import (
    flows_worker,
    one_row,
    running_worker,
    spawn_worker,
    stop_workers,
    wait_for,
)

from rhythm.cli import main
from rhythm.errors import InputError, WorkflowFailed
from rhythm.runtime.client import AsyncClient, Client
from rhythm.runtime.partitions import part_of
from rhythm.store.partitions import set_layout

PAY = ('return await Task.run("charge", { path: Inputs.path, amount: Inputs.amount,'
       ' seconds: 0.5 }, { idempotencyKey: Inputs.key })\n')


def rhythm_cli_ok(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), prog_name="rhythm")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _charges(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _keyed_rows(url: str, key: str) -> int:
    return int(one_row(url, "SELECT count(*) FROM rhythm.executions"
                            " WHERE idempotency_key = %s", (key,))[0])


def test_two_clients_asking_at_the_same_instant_make_one_execution(
    db_url: str, tmp_path: Path
) -> None:
    charges = tmp_path / "charges"
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def ask() -> None:
        with Client(db_url) as client:
            barrier.wait()
            run = client.queue_task("charge", {"path": str(charges), "amount": 5},
                                    idempotency_key="order-1")
            ids.append(run.id)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(ids) == 8 and len(set(ids)) == 1  # every request got the first one's handle
    assert _keyed_rows(db_url, "order-1") == 1
    with running_worker(db_url), Client(db_url) as client:
        assert client.run(ids[0]).result(timeout=30) == {"charged": 5, "key": "order-1"}
        again = client.queue_task("charge", {"path": str(charges), "amount": 5},
                                  idempotency_key="order-1")
        assert again.id == ids[0]  # completed: the same handle and result, no new run
        assert again.result(timeout=5) == {"charged": 5, "key": "order-1"}
    assert _charges(charges) == ["order-1"]


@pytest.mark.parametrize("partitions", [1, 4])
def test_workflows_with_one_key_run_the_task_once_and_all_get_its_result(
    db_url: str, tmp_path: Path, partitions: int
) -> None:
    """With 4 partitions the workflows land in several, and the task in its key's: the
    requests and the settlements cross partitions."""
    set_layout(db_url, partitions, citus=False)
    charges = tmp_path / "charges"
    flows = tmp_path / "flows"
    flows.mkdir()
    inputs = {"path": str(charges), "amount": 7, "key": "cart-9"}
    with flows_worker(db_url, flows, {"pay": PAY}, concurrency=8), Client(db_url) as client:
        runs = [client.start("pay", inputs) for _ in range(6)]
        for run in runs:
            assert run.result(timeout=30) == {"charged": 7, "key": "cart-9"}
        late = client.start("pay", inputs)  # after it completed: settled at once
        assert late.result(timeout=30) == {"charged": 7, "key": "cart-9"}
    assert _charges(charges) == ["cart-9"]
    assert _keyed_rows(db_url, "cart-9") == 1
    task_id, part = one_row(db_url, "SELECT id, part FROM rhythm.executions"
                                    " WHERE idempotency_key = 'cart-9'")
    assert part == part_of(task_id, partitions)
    if partitions > 1:
        parts = {one_row(db_url, "SELECT part FROM rhythm.executions WHERE id = %s",
                         (run.id,))[0] for run in runs}
        assert len(parts) > 1 or parts != {part}  # some waiter lived elsewhere
    assert one_row(db_url, "SELECT count(*) FROM rhythm.execution_waiters")[0] == 0


CATCH = (
    'try {\n'
    '  return await Task.run("charge", { path: Inputs.path, amount: 1, fail: Inputs.fail,'
    ' seconds: 1 }, { idempotencyKey: "shared" OPTIONS })\n'
    '} catch (e) {\n'
    '  return "caught: " + e.message\n'
    '}\n')
FLOWS = {"catching": CATCH.replace(" OPTIONS", ""),
         "catching_nobody": CATCH.replace(" OPTIONS", ', queue: "nobody"')}


def test_waiting_workflows_see_the_keyed_tasks_failure_and_its_cancellation(
    db_url: str, tmp_path: Path, client: Client
) -> None:
    """A failure and a cancellation by a client both settle every waiting workflow."""
    charges = tmp_path / "charges"
    flows = tmp_path / "flows"
    flows.mkdir()
    with flows_worker(db_url, flows, FLOWS, concurrency=8):
        runs = [client.start("catching", {"path": str(charges), "fail": True})
                for _ in range(3)]
        outcomes = {run.result(timeout=30) for run in runs}
        assert len(outcomes) == 1 and "card declined" in outcomes.pop()
    assert _charges(charges) == ["shared"]

    # the key runs again (it failed) in a queue no worker serves: pending, then cancelled
    waiting = client.start("catching_nobody", {"path": str(charges), "fail": False})
    with flows_worker(db_url, flows, FLOWS, concurrency=4):
        task_id = wait_for(lambda: _pending_key(db_url, "shared"), timeout=20,
                           what="the key's new run")
        assert client.cancel(task_id) == "cancelled"
        assert waiting.result(timeout=30).startswith("caught: ")
    assert _charges(charges) == ["shared"]
    assert client.get(task_id)["run_no"] == 2


def _pending_key(url: str, key: str) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM rhythm.executions WHERE idempotency_key = %s"
                           " AND status = 'pending'", (key,)).fetchone()
    return None if row is None else str(row[0])


def test_a_failed_keyed_task_runs_again_under_the_default_policy(
    db_url: str, tmp_path: Path, client: Client
) -> None:
    charges = tmp_path / "charges"
    with running_worker(db_url):
        failed = client.queue_task("charge", {"path": str(charges), "amount": 3, "fail": True},
                                   idempotency_key="k")
        with pytest.raises(WorkflowFailed, match="card declined"):
            failed.result(timeout=30)
        again = client.queue_task("charge", {"path": str(charges), "amount": 3},
                                  idempotency_key="k")
        assert again.id == failed.id  # the same execution, a new run of it
        assert again.result(timeout=30) == {"charged": 3, "key": "k"}
        assert client.get(again.id)["run_no"] == 2
    assert _charges(charges) == ["k", "k"]


def test_reject_never_runs_a_key_again_and_allow_runs_an_ended_one_again(
    db_url: str, tmp_path: Path, client: Client
) -> None:
    charges = tmp_path / "charges"
    with running_worker(db_url):
        failed = client.queue_task("charge", {"path": str(charges), "amount": 1, "fail": True},
                                   idempotency_key="r", id_reuse="reject")
        with pytest.raises(WorkflowFailed):
            failed.result(timeout=30)
        rejected = client.queue_task("charge", {"path": str(charges), "amount": 1},
                                     idempotency_key="r", id_reuse="reject")
        assert rejected.id == failed.id
        with pytest.raises(WorkflowFailed, match="card declined"):
            rejected.result(timeout=5)  # still the failed one: nothing ran again

        done = client.queue_task("charge", {"path": str(charges), "amount": 2},
                                 idempotency_key="a")
        assert done.result(timeout=30) == {"charged": 2, "key": "a"}
        kept = client.queue_task("charge", {"path": str(charges), "amount": 2},
                                 idempotency_key="a")  # default: a success is kept
        assert kept.id == done.id and client.get(kept.id)["run_no"] == 1
        rerun = client.queue_task("charge", {"path": str(charges), "amount": 4},
                                  idempotency_key="a", id_reuse="allow")
        assert rerun.id == done.id
        assert rerun.result(timeout=30) == {"charged": 4, "key": "a"}
    assert _charges(charges) == ["r", "a", "a"]


def test_the_key_is_shown_by_status_and_list(db_url: str, client: Client) -> None:
    run = client.queue_task("add", {"a": 1}, idempotency_key="shown")
    assert client.get(run.id)["idempotency_key"] == "shown"
    out = rhythm_cli_ok("status", run.id, "--database-url", db_url)
    assert "idempotency key: shown" in out.splitlines()
    out = rhythm_cli_ok("list", "--database-url", db_url)
    assert out.splitlines()[1].split("\t")[5] == "shown"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"idempotency_key": ""}, "idempotency_key must be a string of 1 to 500 characters"),
    ({"idempotency_key": "k", "id": "mine"}, "give either id or idempotency_key, not both"),
    ({"idempotency_key": "k", "id_reuse": "sometimes"}, "id_reuse must be one of"),
])
def test_bad_keys_and_policies_are_refused_before_any_write(
    client: Client, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        client.queue_task("add", {"a": 1}, **kwargs)


def test_workflows_on_two_worker_processes_asking_at_once_make_one_charge(
    db_url: str, tmp_path: Path, client: Client
) -> None:
    """Two real worker processes commit steps that ask for one key at the same moment:
    the unique index makes it one execution, and every workflow gets its result."""
    charges = tmp_path / "charges"
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "pay.flow").write_text(PAY)
    inputs = {"path": str(charges), "amount": 9, "key": "both"}
    runs = [client.start("pay", inputs) for _ in range(12)]  # before any worker: all ready
    procs = [spawn_worker(db_url, "--flows", str(flows), "--poll", "0.2",
                          "--concurrency", "6") for _ in range(2)]
    try:
        for run in runs:
            assert run.result(timeout=60) == {"charged": 9, "key": "both"}
    finally:
        stop_workers(procs)
    assert _charges(charges) == ["both"]
    assert _keyed_rows(db_url, "both") == 1


def test_the_async_client_takes_keys_too(db_url: str) -> None:
    async def scenario() -> tuple[str, str, str | None]:
        async with AsyncClient(db_url) as aclient:
            first = await aclient.queue_task("add", {"a": 1}, idempotency_key="async-key")
            second = await aclient.queue_task("add", {"a": 2}, idempotency_key="async-key")
            row = await aclient.get(first.id)
            return first.id, second.id, row["idempotency_key"]

    first, second, key = asyncio.run(scenario())
    assert first == second and key == "async-key"
    assert _keyed_rows(db_url, "async-key") == 1
