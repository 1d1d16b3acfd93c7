"""Per-key concurrency (issue 18 item 3) with real worker processes: a key's limit is
never exceeded - measured by the tasks themselves, each run's start and end written as
it happens - while a worker is SIGKILLed mid-run; every key makes progress and its
executions run in the order they were queued; slots are freed by completion, failure and
cancellation; workflows take a key too; the in-memory checks of the spec are in
tests/unit/test_concurrency_spec.py."""

from __future__ import annotations

import itertools
import signal
import time
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, running_worker, spawn_worker, stop_workers, wait_for

from rhythm.errors import InputError
from rhythm.runtime.client import Client
from rhythm.runtime.concurrency import ConcurrencySpec
from rhythm.runtime.tasks import TaskDefinition, TaskRegistry

KEYS = 20
TASKS = 1000
LONG = range(300, 300 + KEYS)  # one run of each key long enough to be killed mid-run


@pytest.fixture
def keyed_runs(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.keyed_runs (id bigserial PRIMARY KEY,"
                     " customer text, n int, pid int,"
                     " started timestamptz NOT NULL DEFAULT clock_timestamp(), ended timestamptz)")
    monkeypatch.setenv("KEYED_RUNS_URL", db_url)
    return db_url


def _runs(url: str) -> list[tuple[str, int, int, float, float | None]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT customer, n, pid, extract(epoch FROM started)::float8,"
            " extract(epoch FROM ended)::float8 FROM public.keyed_runs ORDER BY started"
        ).fetchall()


def _count(url: str, where: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(f"SELECT count(*) FROM rhythm.executions WHERE {where}").fetchone()
        return int(row[0]) if row else 0


def test_limit_one_per_key_holds_under_three_workers_and_a_sigkill(
    keyed_runs: str, client: Client
) -> None:
    url = keyed_runs

    def queue(numbers: range) -> None:
        for n in numbers:  # (one by one: FIFO within a key follows the queuing order)
            client.queue_task("one_at_a_time", {"customer": f"c{n % KEYS}", "n": n,
                                                "seconds": 1.0 if n in LONG else 0.01})

    # Half before any worker registered the task (they take its key at registration),
    # half after (born waiting for a slot).
    queue(range(TASKS // 2))
    args = ("-m", "keyed_tasks", "--concurrency", "4", "--lease", "2")
    procs = [spawn_worker(url, *args) for _ in range(3)]
    try:
        wait_for(lambda: _count(url, "concurrency_key IS NOT NULL") == TASKS // 2, 30,
                 "the registration to key the queued tasks")
        queue(range(TASKS // 2, TASKS))
        busy = wait_for(lambda: [r[2] for r in _runs(url) if r[4] is None and r[1] in LONG],
                        60, "a long run in progress")
        killed = next(p for p in procs if p.pid == busy[0])
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        killed_at = time.time()
        procs.append(spawn_worker(url, *args))
        wait_for(lambda: _count(url, "status = 'completed'") == TASKS, 120, "every task")
    finally:
        stop_workers(procs)
    runs = _runs(url)
    by_key: dict[str, list[tuple[int, int, float, float | None]]] = defaultdict(list)
    for customer, n, pid, started, ended in runs:
        by_key[customer].append((n, pid, started, ended))
    assert len(by_key) == KEYS
    cut = 0
    for customer, key_runs in by_key.items():
        for (n, pid, _, ended), (_, _, next_start, _) in itertools.pairwise(key_runs):
            if ended is None:  # the killed worker's run: it ended when the worker died
                assert pid == killed.pid, f"{customer}: run of {n} never ended"
                assert next_start >= killed_at - 0.5, f"{customer}: overlap with a killed run"
                cut += 1
            else:
                assert next_start >= ended, f"{customer}: {n} overlapped the next run"
        # FIFO within the key: the completed runs in the order queued (a killed run is
        # run again first: it kept its slot)
        done = [n for n, _, _, ended in key_runs if ended is not None]
        assert done == sorted(done), f"{customer} ran out of order: {done}"
        assert len(set(done)) == TASKS // KEYS
    assert cut >= 1  # the SIGKILL did interrupt runs
    assert _count(url, "concurrency_key IS NOT NULL AND NOT admitted") == 0


def _private_registry() -> TaskRegistry:
    """Keyed tasks for in-process workers, kept out of the global registry (see
    keyed_tasks.py)."""
    registry = TaskRegistry()

    def hold(customer: str, gate: str) -> str:
        with psycopg.connect(gate, autocommit=True) as conn:
            wait_for(lambda: conn.execute(
                "SELECT open FROM public.gates WHERE customer = %s", (customer,)).fetchone()[0],
                30, "the gate")
        return customer

    def boom(customer: str) -> None:
        raise RuntimeError(f"no {customer}")

    registry.add(TaskDefinition("hold", hold, concurrency=ConcurrencySpec("customer", 1)))
    registry.add(TaskDefinition("boom", boom, concurrency=ConcurrencySpec("customer", 1)))
    return registry


@pytest.fixture
def gates(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.gates (customer text PRIMARY KEY, open bool)")
        conn.execute("INSERT INTO public.gates VALUES ('a', false), ('b', false)")
    return db_url


def _open(url: str, customer: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE public.gates SET open = true WHERE customer = %s", (customer,))


def test_slots_are_freed_by_completion_failure_and_cancellation(
    gates: str, client: Client
) -> None:
    url = gates
    failed = client.queue_task("boom", {"customer": "a"})
    first = client.queue_task("hold", {"customer": "a", "gate": url})
    second = client.queue_task("hold", {"customer": "a", "gate": url})
    cancelled = client.queue_task("hold", {"customer": "a", "gate": url})
    third = client.queue_task("hold", {"customer": "a", "gate": url})
    other = client.queue_task("hold", {"customer": "b", "gate": url})
    with running_worker(url, registry=_private_registry(), concurrency=8):
        with pytest.raises(Exception, match="no a"):
            failed.result(timeout=20)  # its failure frees the slot for `first`
        wait_for(lambda: first.status() == "running", 20, "first to run")
        assert second.status() == "pending" and third.status() == "pending"
        wait_for(lambda: other.status() == "running", 20, "key b runs beside a")
        client.cancel(cancelled.id)  # (waiting: it ends at once, holding nothing)
        _open(url, "a")
        assert first.result(timeout=20) == "a"
        assert second.result(timeout=20) == "a"
        assert third.result(timeout=20) == "a"
        _open(url, "b")
        assert other.result(timeout=20) == "b"
    assert cancelled.status() == "cancelled"
    order = _finish_order(url, [first.id, second.id, third.id])
    assert order == [first.id, second.id, third.id]


def _finish_order(url: str, ids: list[str]) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT id FROM rhythm.executions WHERE id = ANY(%s) ORDER BY finished_at",
            (ids,))]


WAITS = """
await Signal.next("go")
return Inputs.n
"""


def test_workflows_with_a_key_run_one_at_a_time_in_order(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    runs = [client.start("waits", {"n": n}, concurrency_key="acct-1", concurrency_limit=1)
            for n in range(3)]
    free = client.start("waits", {"n": 9})  # no key: runs at once
    with flows_worker(db_url, tmp_path, {"waits": WAITS}):
        wait_for(lambda: runs[0].status() == "suspended", 20, "the first to wait")
        wait_for(lambda: free.status() == "suspended", 20, "the unkeyed one to wait")
        time.sleep(0.5)
        assert [r.status() for r in runs[1:]] == ["pending", "pending"]
        for n, run in enumerate(runs):
            # a suspended workflow holds its slot; the next is admitted when it ends
            wait_for(lambda run=run: run.status() == "suspended", 20, f"workflow {n}")
            assert all(r.status() == "pending" for r in runs[n + 1:])
            client.signal(run.id, "go", {})
            assert run.result(timeout=20) == n
        client.signal(free.id, "go", {})
        assert free.result(timeout=20) == 9


def test_a_task_started_by_a_workflow_waits_for_its_keys_slot(
    gates: str, client: Client, tmp_path: Path
) -> None:
    url = gates
    flow = 'return await Promise.all([0, 1, 2].map(i => Task.run("hold", ' \
           '{ customer: "a", gate: Inputs.gate })))'
    run = client.start("fan", {"gate": url})
    with flows_worker(url, tmp_path, {"fan": flow}, registry=_private_registry(),
                      concurrency=8):
        wait_for(lambda: _count(url, "name = 'hold' AND status = 'running'") == 1, 20,
                 "one hold to run")
        time.sleep(0.5)  # (a local start or a second admission would show by now)
        assert _count(url, "name = 'hold' AND status = 'running'") == 1
        assert _count(url, "name = 'hold' AND status = 'pending' AND NOT admitted") == 2
        _open(url, "a")
        assert run.result(timeout=30) == ["a", "a", "a"]


def test_bad_requests_are_refused_before_any_write(client: Client, db_url: str) -> None:
    with pytest.raises(InputError, match="concurrency_limit must be a positive integer"):
        client.start("waits", {}, concurrency_key="k", concurrency_limit=0)
    with pytest.raises(InputError, match="concurrency_limit needs a concurrency_key"):
        client.start("waits", {}, concurrency_limit=2)
    with pytest.raises(InputError, match="concurrency_key must be a string"):
        client.start("waits", {}, concurrency_key="", concurrency_limit=1)
    assert _count(db_url, "true") == 0


def test_status_and_list_say_an_execution_waits_for_its_keys_slot(
    db_url: str, client: Client
) -> None:
    from dbfixtures import run_cli

    first = client.start("waits", {}, concurrency_key="acct-9", concurrency_limit=1)
    with psycopg.connect(db_url, autocommit=True) as conn:  # (as an admission would)
        conn.execute("UPDATE rhythm.executions SET admitted = true WHERE id = %s", (first.id,))
    second = client.start("waits", {}, concurrency_key="acct-9", concurrency_limit=1)
    shown = run_cli("status", second.id, "--database-url", db_url)
    assert shown.returncode == 0, shown.stderr
    assert "concurrency key: acct-9 (limit 1)" in shown.stdout
    assert "reason: waiting for a slot of concurrency key 'acct-9' (limit 1)" in shown.stdout
    listed = run_cli("list", "--json", "--database-url", db_url)
    assert "waiting for a slot of concurrency key 'acct-9'" in listed.stdout
