"""Rate limits (issue 18, item 2): token buckets in Postgres, taken in the claim
statement itself and shared by every worker. The tests check the upper bound only (a
limit of R/s with a burst of B allows at most B + R t claims in the first t seconds,
plus a little slack for the workers' clocks); the rate actually held over 30 s is a
benchmark (benchmarks/rate_limit.py)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, running_worker, spawn_worker, stop_workers
from dbfixtures import run_cli

import rhythm
from rhythm.runtime.client import Client

SLACK = 2  # claims beyond the bound allowed for the workers' clocks


def _claim_times(url: str, name: str) -> list[float]:
    """When each execution of task ``name`` was claimed (seconds), in order."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM started_at)::float8 FROM rhythm.executions "
            "WHERE name = %s AND started_at IS NOT NULL ORDER BY started_at", (name,)
        ).fetchall()
    return [r[0] for r in rows]


def _assert_within(times: list[float], rate: float, burst: float) -> None:
    """At most ``burst + rate * t`` claims in the first ``t`` seconds, for every t."""
    assert times, "nothing was claimed"
    first = times[0]
    for count, at in enumerate(times, start=1):
        allowed = burst + rate * (at - first) + SLACK
        assert count <= allowed, (
            f"{count} claims within {at - first:.2f}s; a {rate}/s limit allows {allowed:.1f}")


def _wait_claimed(url: str, name: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(_claim_times(url, name)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} claims of {name}"
        time.sleep(0.05)


def _spawn(url: str, tmp_path: Path, count: int, *args: str) -> list[object]:
    procs = []
    for i in range(count):
        log = (tmp_path / f"worker{i}.log").open("w")
        procs.append(spawn_worker(url, *args, log=log))
    return procs


def _claims_of_workers(url: str, tmp_path: Path, count: int, seconds: float) -> list[float]:
    """Claim times of ``add`` while ``count`` worker processes run for ``seconds`` after
    the first claim."""
    procs = _spawn(url, tmp_path, count, "--concurrency", "8")
    try:
        _wait_claimed(url, "add", 1, timeout=30)
        time.sleep(seconds)
    finally:
        stop_workers(procs)  # type: ignore[arg-type]
    return _claim_times(url, "add")


def test_a_queue_limit_is_held_by_three_worker_processes(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    done = run_cli("queue", "set", "default", "--rate-limit", "10/s",
                   env={"RHYTHM_DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    client.queue_tasks([("add", {"a": i}) for i in range(200)])
    times = _claims_of_workers(db_url, tmp_path, 3, 6.0)
    _assert_within(times, rate=10, burst=10)
    assert len(times) >= 40, f"only {len(times)} claims in ~6 s under a 10/s limit"


def test_a_task_name_limit_holds_and_spares_other_tasks_of_its_queue(
    db_url: str, client: Client
) -> None:
    with running_worker(db_url, queues=["metered"], poll_interval=0.5) as worker:
        assert worker.registered.wait(10)  # (routes `metered` to its queue)
        metered = client.queue_tasks([("metered", {"key": f"m{i}"}) for i in range(40)])
        others = client.queue_tasks([("add", {"a": i}, {"queue": "metered"})
                                     for i in range(30)])
        began = time.monotonic()
        for run in others:
            run.result(timeout=10)
        spared = time.monotonic() - began
        for run in metered:
            run.result(timeout=20)
    assert spared < 2.0, f"tasks without a limit waited {spared:.1f}s behind limited ones"
    times = _claim_times(db_url, "metered")
    _assert_within(times, rate=10, burst=10)
    assert times[-1] - times[0] >= (40 - 10) / 10 - 0.5  # the limit did hold them back
    with psycopg.connect(db_url, autocommit=True) as conn:
        route = conn.execute("SELECT queue, rate_limit FROM rhythm.task_routes "
                             "WHERE name = 'metered'").fetchone()
    assert route == ("metered", "10/s")


def test_tasks_started_by_a_workflow_commit_respect_the_limit(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    flows = {"fan_metered": """
const keys = []
for (let i = 0; i < Inputs.n; i++) { keys.push(`f${i}`) }
const done = await Promise.all(keys.map(k => Task.run("metered", { key: k })))
return done.length
"""}
    with flows_worker(db_url, tmp_path, flows, queues=["default", "metered"]):
        assert client.start("fan_metered", {"n": 30}).result(timeout=30) == 30
    times = _claim_times(db_url, "metered")
    assert len(times) == 30
    _assert_within(times, rate=10, burst=10)


def test_limits_hold_with_four_partitions(db_url: str, client: Client, tmp_path: Path) -> None:
    env = {"RHYTHM_DATABASE_URL": db_url}
    assert run_cli("migrate", "--partitions", "4", env=env).returncode == 0
    done = run_cli("queue", "set", "default", "--rate-limit", "20/s", env=env)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(db_url, autocommit=True) as conn:
        buckets = conn.execute("SELECT part, capacity, rate_per_s FROM rhythm.rate_limits "
                               "WHERE scope = 'queue' ORDER BY part").fetchall()
    assert buckets == [(p, 5.0, 5.0) for p in range(4)]  # 1/P of the limit each
    client.queue_tasks([("add", {"a": i}) for i in range(200)])
    with psycopg.connect(db_url, autocommit=True) as conn:
        parts = conn.execute("SELECT count(DISTINCT part) FROM rhythm.executions").fetchone()
    assert parts == (4,)
    # (one worker: it alone must keep drawing from every partition's bucket)
    times = _claims_of_workers(db_url, tmp_path, 1, 4.0)
    _assert_within(times, rate=20, burst=20)
    assert len(times) >= 40
    # every partition's bucket kept being drawn from, not only its first burst of 5
    with psycopg.connect(db_url, autocommit=True) as conn:
        per_part = dict(conn.execute("SELECT part, count(*) FROM rhythm.executions "
                                     "WHERE started_at IS NOT NULL GROUP BY part").fetchall())
    assert sorted(per_part) == [0, 1, 2, 3] and min(per_part.values()) >= 12, per_part


@pytest.mark.parametrize("spec, message", [
    ("100/fortnight", "unknown period 'fortnight'"),
    ("0/s", "the count must be a positive integer"),
    ("-3/min", "the count must be a positive integer"),
    ("ten/s", "expected N/s, N/min or N/h"),
    (10, "expected N/s, N/min or N/h"),
])
def test_a_bad_limit_is_refused_at_decoration(spec: object, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        rhythm.task(name="never_registered", rate_limit=spec)  # type: ignore[arg-type]
    text = str(caught.value)
    assert text.startswith("rate_limit: ") and message in text and "\n" not in text


def test_a_queue_limit_counts_workflow_activations_too(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """Every execution of a limited queue goes through a claim with tokens: no local
    start, no parent taken by the outcome flush, no resume in place. 6 steps of a
    workflow on a 5/s queue are 6 task claims and 7 activations: 13 claims, 5 at once
    and then 5 a second (at least 1.6 s)."""
    flows = {"steps": """
let total = 0
for (let i = 0; i < 6; i++) { total = await Task.run("add", { a: total, b: i }) }
return total
"""}
    env = {"RHYTHM_DATABASE_URL": db_url}
    assert run_cli("queue", "set", "default", "--rate-limit", "5/s", env=env).returncode == 0
    with flows_worker(db_url, tmp_path, flows):
        began = time.monotonic()
        assert client.start("steps").result(timeout=30) == 15
        took = time.monotonic() - began
    assert took >= (13 - 5) / 5 - 0.3, f"13 claims at 5/s took only {took:.2f}s"


def test_a_limit_set_while_a_worker_runs_applies_at_once(db_url: str, client: Client) -> None:
    """`rhythm queue set` announces the change ('!limits'): the running worker claims
    with tokens from then on, and without them again once the limit is cleared."""
    env = {"RHYTHM_DATABASE_URL": db_url}
    with running_worker(db_url, poll_interval=0.5) as worker:
        assert worker.registered.wait(10)
        assert client.queue_task("add", {"a": 1}).result(timeout=10) == 1  # unlimited
        assert run_cli("queue", "set", "default", "--rate-limit", "10/s",
                       env=env).returncode == 0
        time.sleep(0.5)
        runs = client.queue_tasks([("add", {"a": i}) for i in range(35)])
        for run in runs:
            run.result(timeout=20)
        assert run_cli("queue", "set", "default", "--rate-limit", "none",
                       env=env).returncode == 0
        time.sleep(0.5)
        began = time.monotonic()
        for run in client.queue_tasks([("add", {"a": i}) for i in range(40)]):
            run.result(timeout=10)
        unlimited = time.monotonic() - began
    times = _claim_times(db_url, "add")[1:36]
    _assert_within(times, rate=10, burst=10)
    assert times[-1] - times[0] >= (35 - 10) / 10 - 0.5
    assert unlimited < 2.0, f"40 tasks took {unlimited:.1f}s after the limit was cleared"
