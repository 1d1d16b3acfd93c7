"""The chaos test: real ``rhythm worker`` processes SIGKILLed at random (one, or now and
then all at once) and replaced, two frozen past their lease, and Postgres restarted once,
while workflows run that loop over awaits, timers, signals (sent by the test during the
chaos), child workflows, ``Promise.all`` fan-outs and tasks, some of them transactional.
Afterwards every workflow has exactly the result this file
computes on its own, every transactional effect exists exactly once, every
non-transactional one at least once, and no task, child or signal was taken twice.

The schedule (which worker dies when, signal payloads, pauses) comes from one seed,
printed at the start and in every failure; ``CHAOS_SEED=<n>`` replays a schedule (the
timing of the processes themselves is not replayable).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest
import sample_tasks
from conftest import running_worker, spawn_worker, stop_workers, wait_for
from dbfixtures import PrivateServer

from rhythm.errors import EmbeddedPostgresError
from rhythm.runtime.client import Client
from rhythm.runtime.versions import WorkflowVersions

MAIN = """
// Rounds of: a task, a non-transactional mark, a timer, a fan-out of transactional
// tasks, a fan-out mixing tasks and a child workflow, and a signal sent by the test.
const key = Inputs.key
let seen = []
let logged = []
let total = 0
let round = 0
while (round < Inputs.rounds) {
  const base = await Task.run("add", { a: round, b: Inputs.base })
  await Task.run("append_mark", { path: Inputs.marks, key: `${key}:m${round}` })
  await Timer.delay(0.05)
  const fan = await Promise.all(
    [0, 1, 2].map(j => Task.run("log_once", { key: `${key}:r${round}:f${j}` })))
  for (const k of fan) { logged.push(k) }
  const mixed = await Promise.all([
    Task.run("log_once_async", { key: `${key}:r${round}:b` }),
    Task.run("sleep_then_log", { key: `${key}:r${round}:c`, seconds: Inputs.nap }),
    Workflow.run("chaos_child", { key: `${key}:r${round}:child`, x: base, nap: Inputs.nap }),
  ])
  logged.push(mixed[0], mixed[1])
  const tick = await Signal.next("tick")
  seen.push(tick.n)
  total += mixed[2] + tick.n
  round++
}
let refused = null
try {
  await Task.run("bad_value", { key: `${key}:bad` })
} catch (e) {
  refused = e.type
}
return { key, total, seen, logged, refused }
"""

CHILD = """
const logged = await Task.run("sleep_then_log", { key: Inputs.key, seconds: Inputs.nap })
await Timer.delay(0.02)
const doubled = await Task.run("add_async", { a: Inputs.x, b: Inputs.x })
return doubled * 10 + logged.length
"""

WORKFLOWS = 24  # half started before the chaos, half during its first round
ROUNDS = 4
WORKERS = 3
NAP = 0.05  # seconds a sleep_then_log task takes: kills land mid-task too
# lease 1 s: a killed worker's claims come back after about a second.
LEASE = 1.0
WORKER_ARGS = ("-m", "chaos_tasks", "--poll", "0.2", "--concurrency", "8", "--grace", "0")
RESTART_ROUND = ROUNDS // 2
BLACKOUT_CHANCE = 0.25  # of a kill taking every worker down at once
FREEZE_ROUNDS = (0, ROUNDS - 1)
FREEZE_LEASES = 2.5  # a freeze lasts longer than the lease and the reaper's period
TASKS_PER_ROUND = 8  # add, append_mark, 3 log_once, log_once_async, sleep_then_log, child


def _seed() -> int:
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(2**32))
    print(f"chaos seed: {seed} (replay with CHAOS_SEED={seed})")
    return seed


def _key(index: int) -> str:
    return f"w{index}"


def _child_key(index: int, rnd: int) -> str:
    return f"{_key(index)}:r{rnd}:child"


def _expected_result(index: int, ticks: list[int]) -> dict[str, Any]:
    """What workflow ``index`` must return, computed without the engine."""
    key, total, logged = _key(index), 0, []
    for rnd, tick in enumerate(ticks):
        base = rnd + index
        child = 2 * base * 10 + len(_child_key(index, rnd))
        total += child + tick
        logged += [f"{key}:r{rnd}:f{j}" for j in range(3)] + [f"{key}:r{rnd}:b", f"{key}:r{rnd}:c"]
    return {"key": key, "total": total, "seen": ticks, "logged": logged, "refused": "ValueError"}


def _transactional_keys(index: int) -> list[str]:
    key = _key(index)
    return [f"{key}:r{rnd}:{suffix}" for rnd in range(ROUNDS)
            for suffix in ("f0", "f1", "f2", "b", "c", "child")]


class Chaos:
    """The workers of one run, killed and replaced on the seeded schedule. Each writes
    its log to a file of its own (a pipe nobody reads would fill up and block it)."""

    def __init__(self, url: str, flows: Path, logs: Path, rng: random.Random,
                 lease: float = LEASE) -> None:
        self.url, self.flows, self.logs, self.rng = url, flows, logs, rng
        self.lease = lease
        self.procs: list[tuple[subprocess.Popen[str], Path]] = []
        self.files: list[IO[str]] = []
        self.kills = 0

    def spawn(self) -> tuple[subprocess.Popen[str], Path]:
        path = self.logs / f"worker-{len(self.files)}.log"
        self.files.append(path.open("w"))
        args = ("--flows", str(self.flows), "--lease", str(self.lease), *WORKER_ARGS)
        return spawn_worker(self.url, *args, log=self.files[-1]), path

    def start(self) -> None:
        self.procs = [self.spawn() for _ in range(WORKERS)]

    def kill(self) -> None:
        """SIGKILL a random worker (mid task, mid activation or mid commit), or now and
        then all of them at once, and start as many new ones."""
        everyone = self.rng.random() < BLACKOUT_CHANCE
        victims = range(len(self.procs)) if everyone else [self.rng.randrange(len(self.procs))]
        for victim in victims:
            self.procs[victim][0].kill()
        for victim in victims:
            self.procs[victim][0].wait()
            self.procs[victim] = self.spawn()
            self.kills += 1

    def freeze(self) -> None:
        """SIGSTOP a random worker for longer than its lease, then let it go on: what a
        long GC pause or a frozen VM does. Others re-run its work; whatever it still
        writes on waking (outcomes, commits) must be rejected as stale."""
        started = [proc for proc, path in self.procs if "on queues" in path.read_text()]
        if not started:
            return
        proc = self.rng.choice(started)
        time.sleep(self.rng.uniform(0.05, 0.2))  # into the work the signals released
        proc.send_signal(signal.SIGSTOP)
        time.sleep(FREEZE_LEASES * self.lease)
        proc.send_signal(signal.SIGCONT)

    def pause(self) -> None:
        time.sleep(self.rng.uniform(0.1, 0.6))

    def exited(self) -> list[str]:
        """Workers that ended on their own (none should: the test kills and stops them)."""
        return [f"{path.name} exited {proc.returncode}: {path.read_text()[-600:]}"
                for proc, path in self.procs if proc.poll() is not None]

    def stop(self) -> None:
        stop_workers([proc for proc, _ in self.procs])
        for log in self.files:
            log.close()

    def log_lines(self, *needles: str) -> list[str]:
        return [line for path in sorted(self.logs.glob("worker-*.log"))
                for line in path.read_text().splitlines() if any(n in line for n in needles)]

    def log_tails(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-1500:]}"
                         for path in sorted(self.logs.glob("worker-*.log")))


def _rows(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]


def _make_task_log(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.task_log (key text NOT NULL)")


def _registered(url: str) -> bool:
    names = _rows(url, "SELECT DISTINCT name FROM rhythm.workflow_versions")
    return {("chaos_main",), ("chaos_child",)} <= set(names)


def _unfinished(url: str, ids: list[str]) -> list[tuple[Any, ...]]:
    """The workflows not completed, with the start of their error (what to look at)."""
    return _rows(url, "SELECT id, status, left(error::text, 600) FROM rhythm.executions"
                      " WHERE id = ANY(%s) AND status <> 'completed' ORDER BY id", (ids,))


def _send_ticks(url: str, ids: list[str], ticks: list[list[int]], rnd: int,
                rng: random.Random) -> None:
    """Round ``rnd``'s signal to every workflow, in a random order across workflows."""
    order = list(range(len(ids)))
    rng.shuffle(order)
    with Client(url) as client:
        for index in order:
            client.signal(ids[index], "tick", {"n": ticks[index][rnd]})


def _restart(server: PrivateServer) -> None:
    """Stop Postgres (fast shutdown) under load, leave it down a while, start it again."""
    log = server.home / "postgres.log"
    offset = log.stat().st_size
    try:
        server.stop()
    except EmbeddedPostgresError as err:
        raise AssertionError(f"{err}; its log:\n{log.read_text()[offset:][-3000:]}") from err
    time.sleep(1.5)  # down across several heartbeats and leases
    server.start()


def _start(url: str, indices: range, marks: Path) -> list[str]:
    with Client(url) as client:
        return [client.start("chaos_main", {"key": _key(i), "base": i, "rounds": ROUNDS,
                                            "marks": str(marks), "nap": NAP},
                             id=f"chaos-{i}").id for i in indices]


def _run_chaos(chaos: Chaos, restart: Callable[[], None], marks: Path,
               ticks: list[list[int]]) -> list[str]:
    """Per round: a kill, that round's signals, another kill; the database restarts in
    the middle round, while the work that round's signals released is under way. Half the
    workflows start before the first kill, half after it."""
    ids = _start(chaos.url, range(WORKFLOWS // 2), marks)
    for rnd in range(ROUNDS):
        chaos.pause()
        chaos.kill()
        if rnd == 0:
            ids += _start(chaos.url, range(WORKFLOWS // 2, WORKFLOWS), marks)
        _send_ticks(chaos.url, ids, ticks, rnd, chaos.rng)
        if rnd in FREEZE_ROUNDS:
            chaos.freeze()
        chaos.pause()
        if rnd == RESTART_ROUND:
            restart()
        chaos.kill()
    return ids


def _check_results(url: str, ids: list[str], ticks: list[list[int]]) -> None:
    with Client(url) as client:
        for index, execution_id in enumerate(ids):
            row = client.get(execution_id)
            assert row["status"] == "completed", row
            assert row["result"] == _expected_result(index, ticks[index]), execution_id


def _check_effects(url: str, ids: list[str], marks: Path) -> None:
    logged = Counter(dict(_rows(url, "SELECT key, count(*) FROM public.task_log GROUP BY key")))
    expected = [k for index in range(len(ids)) for k in _transactional_keys(index)]
    assert sorted(logged) == sorted(expected), "transactional effects missing or unexpected"
    twice = {k: n for k, n in logged.items() if n != 1}
    assert not twice, f"transactional effects not exactly once: {twice}"
    written = Counter(marks.read_text().split())
    missing = [f"{_key(i)}:m{r}" for i in range(len(ids)) for r in range(ROUNDS)
               if written[f"{_key(i)}:m{r}"] < 1]
    assert not missing, f"non-transactional effects that never happened: {missing}"


def _check_no_duplicates(url: str, ids: list[str]) -> None:
    """Every task and child requested once, every child's tasks once, every signal taken
    once: a re-run activation never repeats a committed effect."""
    per_parent = dict(_rows(url, "SELECT parent_id, count(*) FROM rhythm.executions "
                                 "WHERE parent_id = ANY(%s) GROUP BY 1", (ids,)))
    assert per_parent == {i: ROUNDS * TASKS_PER_ROUND + 1 for i in ids}
    children = [r[0] for r in _rows(url, "SELECT id FROM rhythm.executions WHERE parent_id "
                                         "= ANY(%s) AND kind = 'workflow'", (ids,))]
    assert len(children) == ROUNDS * len(ids)
    per_child = dict(_rows(url, "SELECT parent_id, count(*) FROM rhythm.executions "
                                "WHERE parent_id = ANY(%s) GROUP BY 1", (children,)))
    assert per_child == {c: 2 for c in children}
    # (Each result's `seen` shows every tick taken once and in order; the rows of
    # consumed signals are deleted with the promises that took them, as the snapshot
    # stops reaching them, so what is checked here is that none is left unconsumed.)
    signals = _rows(url, "SELECT count(*) FROM rhythm.signals "
                         "WHERE execution_id = ANY(%s) AND consumed_by IS NULL", (ids,))
    assert signals == [(0,)]


def _no_internal_errors(lines: list[str]) -> None:
    """No execution was failed as an internal error: kills, freezes and restarts raise
    only transient errors (a lost connection, a node gone, a deadlock), after which the
    work runs again. A line saying otherwise is a transient error the worker took for a
    bug: it would fail a healthy execution if it could record that (twice, a node lost
    mid-statement on Citus was seen so, saved only because recording failed too)."""
    assert not lines, (f"{len(lines)} executions failed as internal errors:\n"
                       + "\n".join(line[:300] for line in lines[:5]))


def _warn_about_errors(lines: list[str]) -> None:
    """Other worker log lines at ERROR level are shown, not failed on (a task's own
    failure, a commit that could not record anything while the database was away): the
    effects checked here are what must hold."""
    if lines:
        shown = "\n".join(line[:200] for line in lines[:10])
        warnings.warn(f"{len(lines)} ERROR lines in the workers' logs:\n{shown}", stacklevel=2)


def _write_flows(folder: Path) -> Path:
    folder.mkdir()
    (folder / "chaos_main.flow").write_text(MAIN)
    (folder / "chaos_child.flow").write_text(CHILD)
    return folder


@pytest.mark.slow
def test_workflows_survive_random_worker_kills_and_a_postgres_restart(
    private_server: PrivateServer, tmp_path: Path
) -> None:
    survive_chaos(private_server.url, lambda: _restart(private_server), tmp_path)


def survive_chaos(url: str, restart: Callable[[], None], tmp_path: Path,
                  lease: float = LEASE, settle: float = 60) -> None:
    """The chaos run on the database of ``url``, which ``restart`` restarts mid-run, with
    workers holding ``lease``-second leases, every workflow done ``settle`` seconds after
    the chaos (also the Citus tier's, on a coordinator)."""
    seed = _seed()
    rng = random.Random(seed)
    (tmp_path / "logs").mkdir()
    marks = tmp_path / "marks.txt"
    marks.touch()
    _make_task_log(url)
    ticks = [[rng.randrange(1000) for _ in range(ROUNDS)] for _ in range(WORKFLOWS)]
    chaos = Chaos(url, _write_flows(tmp_path / "flows"), tmp_path / "logs", rng, lease)
    chaos.start()
    try:
        wait_for(lambda: _registered(url), timeout=30, what="the chaos workflows to register")
        ids = _run_chaos(chaos, restart, marks, ticks)
        try:
            wait_for(lambda: not _unfinished(url, ids), timeout=settle, what="every workflow")
        except AssertionError as err:
            raise AssertionError(f"seed {seed}: {err}: {_unfinished(url, ids)}\n"
                                 f"{chaos.log_tails()}") from None
        exited = chaos.exited()
    finally:
        chaos.stop()
    lost = _rows(url, "SELECT count(*) FROM rhythm.executions WHERE lease_losses > 0")[0][0]
    stale = len(chaos.log_lines("outcome rejected", "went stale"))
    print(f"chaos: {chaos.kills} kills, {len(FREEZE_ROUNDS)} freezes and a Postgres restart; "
          f"{lost} executions lost a lease, {stale} stale writes rejected")
    failed_as_bugs = chaos.log_lines("internal error")
    _warn_about_errors([line for line in chaos.log_lines(" ERROR ")
                        if line not in failed_as_bugs])
    try:
        _no_internal_errors(failed_as_bugs)
        assert not exited, f"workers died on their own: {exited}"
        assert lost > 0, "no kill interrupted any work: the test proved nothing"
        _check_results(url, ids, ticks)
        _check_effects(url, ids, marks)
        _check_no_duplicates(url, ids)
    except AssertionError as err:
        raise AssertionError(f"seed {seed} ({chaos.kills} kills): {err}") from err


@pytest.mark.slow
def test_a_worker_started_during_a_postgres_outage_serves_once_it_is_back(
    private_server: PrivateServer, tmp_path: Path
) -> None:
    """A worker that starts during an outage waits for the database, then serves (the
    chaos test's restart may meet workers that are still starting)."""
    url = private_server.url
    _make_task_log(url)
    private_server.stop()
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        proc = spawn_worker(url, "--lease", str(LEASE), *WORKER_ARGS, log=log)
        try:
            time.sleep(1.5)  # its first attempts to connect fail
            private_server.start()
            wait_for(lambda: "on queues" in log_path.read_text() or proc.poll() is not None,
                     timeout=20, what=f"the worker to start: {log_path.read_text()[-600:]}")
            with Client(url) as client:
                run = client.queue_task("log_once", {"key": "after-the-outage"})
                assert run.result(timeout=20) == "after-the-outage"
        finally:
            stop_workers([proc], timeout=5)
    assert _rows(url, "SELECT key FROM public.task_log") == [("after-the-outage",)]


GATED = """
const through = await Task.run("gated", {})
await Timer.delay(0.01)
return through + "!"
"""


def test_a_resume_that_cannot_reconnect_is_recorded_as_usual_not_as_an_internal_error(
    private_server: PrivateServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the chaos test: a task that ends while Postgres restarts resumes its
    workflow through the group commit, whose new connection fails with DatabaseError (the
    store's translation), not psycopg's error; that was logged as an internal error with
    a traceback. It is an outage like any other: the outcome is recorded once Postgres is
    back, and the workflow goes on."""
    (tmp_path / "gated_flow.flow").write_text(GATED)
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)
    sample_tasks.GATE.clear()
    url = private_server.url
    with caplog.at_level(logging.INFO, logger="rhythm"), \
            running_worker(url, versions=versions) as worker:
        assert worker.registered.wait(10)
        with Client(url) as client:
            execution_id = client.start("gated_flow").id
        wait_for(lambda: _rows(url, "SELECT 1 FROM rhythm.executions WHERE parent_id = %s "
                                    "AND status = 'running'", (execution_id,)),
                 what="the gated task to run")
        time.sleep(1.2)  # the group's connection idle for over a second: checked, replaced
        private_server.stop()
        sample_tasks.GATE.set()  # it ends while Postgres is down: its resume cannot commit
        wait_for(lambda: any("resuming" in r.getMessage() for r in caplog.records),
                 what="the resume to fail")
        private_server.start()
        with Client(url) as client:
            assert client.run(execution_id).result(timeout=30) == "through!"
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
