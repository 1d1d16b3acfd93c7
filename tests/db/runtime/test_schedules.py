"""Schedules on a real Postgres (issue 19, item 1; docs/lifecycle.md): one execution per
tick whatever the number of worker processes; catch-up after an outage (pinned clock);
the CLI, its one-line errors (exit 2, nothing written), the Python API and the project
file's [schedules.NAME] tables."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import spawn_worker, stop_workers
from dbfixtures import run_cli

from rhythm.lifecycle.scheduler import Scheduler
from rhythm.runtime.client import AsyncClient, Client
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q
from rhythm.runtime.versions import WorkflowVersions


def _cli(url: str, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    done = run_cli("schedule", *args, env={"RHYTHM_DATABASE_URL": url}, home=cwd)
    return done.returncode, done.stdout, done.stderr


def _rows(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def _add_route(url: str, name: str) -> None:
    """A task name as a worker registers it (a schedule's task must be known)."""
    _rows(url, "INSERT INTO rhythm.task_routes (name, queue) VALUES (%s, 'default') "
               "RETURNING name", (name,))


def _register(client: Client, folder: Path, flows: dict[str, str]) -> None:
    for name, source in flows.items():
        (folder / f"{name}.flow").write_text(source)
    versions = WorkflowVersions()
    versions.add_folder(folder)
    client.register(versions)


def _fire(url: str, clock: ManualClock) -> int:
    """One round of an in-process scheduler at the clock's time; executions started."""

    async def main() -> int:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            @asynccontextmanager
            async def connection() -> Any:
                yield conn

            scheduler = Scheduler(connection, clock)
            cur = await conn.execute(Q["read_layout"])
            scheduler.topology = Topology.from_row(await cur.fetchone())
            await scheduler.fire_due(conn)
            return scheduler.started

    return asyncio.run(main())


def _schedule_row(url: str, name: str) -> tuple[Any, ...]:
    return _rows(url, "SELECT next_fire_at, last_tick, paused FROM rhythm.schedules "
                      "WHERE name = %s", (name,))[0]


# ------------------------------------------------------------ exactly once per tick


def test_three_workers_start_exactly_one_execution_per_tick(db_url: str) -> None:
    procs = [spawn_worker(db_url, "-m", "schedule_tasks", "--poll", "0.5") for _ in range(3)]
    try:
        deadline = time.monotonic() + 30
        while (not _rows(db_url, "SELECT 1 FROM rhythm.task_routes "
                                 "WHERE name = 'scheduled_tick'")
               and time.monotonic() < deadline):
            time.sleep(0.1)
        with Client(db_url) as client:
            # (the workers sleep on a 60 s backstop: only the NOTIFY of the create can
            # make them fire within the test)
            client.schedules.create("every-second", cron="* * * * * *",
                                    task="scheduled_tick", inputs={"note": "hi"},
                                    catch_up="all")
            time.sleep(5.5)
            client.schedules.pause("every-second")  # (waits for a firing under way)
            rows = _rows(db_url, "SELECT id, options->>'scheduledAt' FROM rhythm.executions "
                                 "WHERE name = 'scheduled_tick' ORDER BY id")
            for execution_id, _ in rows:
                client.wait(execution_id, timeout=30)
            results = {r[0]: r[1] for r in _rows(
                db_url, "SELECT id, result FROM rhythm.executions "
                        "WHERE name = 'scheduled_tick'")}
    finally:
        stop_workers(procs)
    ticks = [datetime.fromisoformat(at) for _, at in rows]
    assert len(ticks) >= 4
    assert [execution_id for execution_id, _ in rows] == [
        f"every-second@{at}" for _, at in rows]
    # one per second, no gaps, none twice
    assert ticks == [ticks[0] + timedelta(seconds=i) for i in range(len(ticks))]
    for execution_id, at in rows:
        assert results[execution_id] == {
            "scheduledAt": datetime.fromisoformat(at).isoformat(), "note": "hi"}
    _, last_tick, paused = _schedule_row(db_url, "every-second")
    assert (last_tick, paused) == (ticks[-1], True)


# ------------------------------------------------------------ catch-up


def _wait_for_route(url: str, name: str) -> None:
    deadline = time.monotonic() + 30
    while (not _rows(url, "SELECT 1 FROM rhythm.task_routes WHERE name = %s", (name,))
           and time.monotonic() < deadline):
        time.sleep(0.1)


@pytest.mark.parametrize(("policy", "first_firing"), [("skip", 1), ("once", 2), ("all", None)])
def test_a_worker_outage_then_restart_starts_per_catch_up_policy(
    db_url: str, policy: str, first_firing: int | None
) -> None:
    """One worker process fires a per-second schedule, is stopped for ~4 s, and starts
    again. Its first firing after the restart starts the on-time tick, plus none (skip),
    the latest (once) or every one (all) of the ticks missed meanwhile."""
    worker = spawn_worker(db_url, "-m", "schedule_tasks")
    try:
        _wait_for_route(db_url, "scheduled_tick")
        with Client(db_url) as client:
            client.schedules.create("outage", cron="* * * * * *", task="scheduled_tick",
                                    catch_up=policy)
            time.sleep(2.5)
            stop_workers([worker])
            time.sleep(4)
            restarted = client.clock.now()
            worker = spawn_worker(db_url, "-m", "schedule_tasks")
            deadline = time.monotonic() + 30
            while (not _rows(db_url, "SELECT 1 FROM rhythm.executions "
                                     "WHERE created_at >= %s", (restarted,))
                   and time.monotonic() < deadline):
                time.sleep(0.1)
            time.sleep(1.5)
            client.schedules.pause("outage")
    finally:
        stop_workers([worker])
    rows = _rows(db_url, "SELECT options->>'scheduledAt', created_at FROM rhythm.executions "
                         "ORDER BY 1")
    ticks = [datetime.fromisoformat(at) for at, _ in rows]
    first = min(created for _, created in rows if created >= restarted)
    firing = [tick for tick, (_, created) in zip(ticks, rows, strict=True)
              if created == first]
    before = [tick for tick, (_, created) in zip(ticks, rows, strict=True)
              if created < restarted]
    missed = (firing[-1] - before[-1]).total_seconds() - 1  # ticks of the outage
    assert missed >= 3
    assert firing == [firing[0] + timedelta(seconds=i) for i in range(len(firing))]
    assert len(firing) == (first_firing or missed + 1)
    if policy == "all":  # nothing lost at all
        assert ticks == [ticks[0] + timedelta(seconds=i) for i in range(len(ticks))]



@pytest.mark.parametrize(("policy", "missed_started"), [("skip", 0), ("once", 1), ("all", 4)])
def test_an_outage_of_four_ticks_starts_none_one_or_all_of_them(
    db_url: str, policy: str, missed_started: int
) -> None:
    """A per-second schedule fired at 12:00:01.2, then - no worker for five seconds -
    at 12:00:06.2: ticks 02 to 05 were missed (more than a period late); 06 is on
    time and starts under every policy."""
    _add_route(db_url, "add")
    clock = ManualClock(datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC))
    with Client(db_url, clock=clock) as client:
        client.schedules.create("fast", cron="* * * * * *", task="add",
                                inputs={"a": 1}, catch_up=policy)
    clock.advance(0.7)
    assert _fire(db_url, clock) == 1
    clock.advance(5)  # the outage
    assert _fire(db_url, clock) == missed_started + 1
    assert _fire(db_url, clock) == 0  # nothing is due twice
    ids = [r[0] for r in _rows(db_url, "SELECT id FROM rhythm.executions ORDER BY id")]
    missed = {"skip": [], "once": ["05"],
              "all": ["02", "03", "04", "05"]}[policy]
    assert ids == [f"fast@2026-01-01T12:00:{s}Z" for s in ["01", *missed, "06"]]
    next_fire, last_tick, _ = _schedule_row(db_url, "fast")
    assert (next_fire, last_tick) == (datetime(2026, 1, 1, 12, 0, 7, tzinfo=UTC),
                                      datetime(2026, 1, 1, 12, 0, 6, tzinfo=UTC))


def test_ticks_of_a_pause_are_skipped_and_a_resumed_schedule_fires_from_now(
    db_url: str
) -> None:
    _add_route(db_url, "add")
    clock = ManualClock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    with Client(db_url, clock=clock) as client:
        client.schedules.create("minutely", cron="* * * * *", task="add", catch_up="all")
        client.schedules.pause("minutely")
        clock.advance(600)
        assert _fire(db_url, clock) == 0
        row = client.schedules.resume("minutely")
    assert row["next_fire_at"] == datetime(2026, 1, 1, 12, 11, tzinfo=UTC)
    clock.advance(40)
    assert _fire(db_url, clock) == 1
    assert _rows(db_url, "SELECT id FROM rhythm.executions") == [
        ("minutely@2026-01-01T12:11:00Z",)]


def test_a_schedule_that_cannot_fire_is_left_alone_and_the_others_fire(db_url: str) -> None:
    _add_route(db_url, "add")
    clock = ManualClock(datetime(2026, 1, 1, 12, 0, 30, tzinfo=UTC))
    with Client(db_url, clock=clock) as client:
        client.schedules.create("clash", cron="* * * * *", task="add")
        client.schedules.create("fine", cron="* * * * *", task="add")
        # (its first tick's id is taken by a workflow: the start refuses it)
        client.start("other", id="clash@2026-01-01T12:01:00Z")
    clock.advance(40)
    assert _fire(db_url, clock) == 1
    assert _rows(db_url, "SELECT id FROM rhythm.executions WHERE kind = 'task'") == [
        ("fine@2026-01-01T12:01:00Z",)]
    next_fire, last_tick, _ = _schedule_row(db_url, "clash")
    assert (next_fire, last_tick) == (datetime(2026, 1, 1, 12, 1, tzinfo=UTC), None)


# ------------------------------------------------------------ Python API


def test_python_api_and_a_workflow_gets_its_tick_in_its_inputs(
    db_url: str, tmp_path: Path
) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 8, 59, 30, tzinfo=UTC))
    with Client(db_url, clock=clock) as client:
        _register(client, tmp_path, {"report": "return Inputs\n"})
        created = client.schedules.create(
            "hourly-report", cron="0 * * * *", workflow="report",
            inputs={"region": "eu"}, timezone="Europe/Berlin", queue="reports")
        assert created["created"] is True
        assert created["next_fire_at"] == datetime(2026, 3, 1, 9, tzinfo=UTC)
        with pytest.raises(Exception, match="exists already; give replace to change it"):
            client.schedules.create("hourly-report", cron="0 * * * *", workflow="report")
        replaced = client.schedules.create("hourly-report", cron="0 * * * *",
                                           workflow="report", inputs={"region": "us"},
                                           queue="reports", replace=True)
        assert (replaced["created"], replaced["inputs"]) == (False, {"region": "us"})
        assert [r["name"] for r in client.schedules.list()] == ["hourly-report"]
        clock.advance(45)
        assert _fire(db_url, clock) == 1
        run = client.get("hourly-report@2026-03-01T09:00:00Z")
        assert run["inputs"] == {"region": "us", "scheduledAt": "2026-03-01T09:00:00Z"}
        assert run["queue"] == "reports"
        with pytest.raises(Exception, match="no schedule named 'hourly-reprt' "
                                            r"\(did you mean 'hourly-report'\?\)"):
            client.schedules.pause("hourly-reprt")
        assert client.schedules.pause("hourly-report")["paused"] is True
        client.schedules.delete("hourly-report")
        assert client.schedules.list() == []

    async def main() -> list[str]:
        async with AsyncClient(db_url, clock=clock) as aclient:
            await aclient.schedules.create("nightly", cron="0 3 * * *", workflow="report")
            await aclient.schedules.pause("nightly")
            await aclient.schedules.resume("nightly")
            names = [r["name"] for r in await aclient.schedules.list()]
            await aclient.schedules.delete("nightly")
            return names

    assert asyncio.run(main()) == ["nightly"]


# ------------------------------------------------------------ CLI


def test_cli_create_list_pause_resume_delete(db_url: str, tmp_path: Path) -> None:
    with Client(db_url) as client:
        _register(client, tmp_path, {"process_order": "return Inputs\n"})
    code, out, err = _cli(db_url, "create", "nightly", "--cron", "30 2 * * *", "--workflow",
                          "process_order", "--timezone", "Europe/Berlin", "--inputs",
                          '{"batch": true}', "--catch-up", "skip")
    assert (code, err) == (0, "")
    assert out.startswith("schedule nightly: workflow process_order on '30 2 * * *' "
                          "(Europe/Berlin), catch-up skip, next fire 20")
    assert out.endswith(" (created)\n")
    code, out, err = _cli(db_url, "create", "nightly", "--cron", "0 3 * * *", "--workflow",
                          "process_order")
    assert (code, out, err) == (1, "", "rhythm: error: schedule 'nightly' exists already; "
                                       "give --replace to change it\n")
    code, out, _ = _cli(db_url, "create", "nightly", "--cron", "0 3 * * *", "--workflow",
                        "process_order", "--replace", "--json")
    row = json.loads(out)
    assert (code, row["cron"], row["created"], row["timezone"]) == (0, "0 3 * * *", False,
                                                                    "UTC")
    code, out, _ = _cli(db_url, "pause", "nightly")
    assert (code, out.endswith(", paused\n")) == (0, True)
    code, out, _ = _cli(db_url, "list")
    lines = out.splitlines()
    assert lines[0] == "NAME\tTARGET\tCRON\tTIMEZONE\tCATCH-UP\tNEXT FIRE\tLAST TICK\tPAUSED"
    assert lines[1] == "nightly\tworkflow process_order\t0 3 * * *\tUTC\tonce\t-\t-\tyes"
    assert _cli(db_url, "resume", "nightly")[0] == 0
    listed = json.loads(_cli(db_url, "list", "--json")[1])["schedules"]
    assert [(r["name"], r["paused"]) for r in listed] == [("nightly", False)]
    assert _cli(db_url, "delete", "nightly") == (0, "schedule nightly: deleted\n", "")
    assert _cli(db_url, "delete", "nightly") == (
        1, "", "rhythm: error: no schedule named 'nightly'\n")


@pytest.mark.parametrize(("args", "line"), [
    (["--cron", "* * *", "--workflow", "process_order"],
     "--cron '* * *' is not a valid cron expression: wrong number of fields (5 fields "
     "'min hour day month weekday', or 6 with seconds first)"),
    (["--cron", "0 25 * * *", "--workflow", "process_order"],
     "--cron '0 25 * * *' is not a valid cron expression: bad hour"),
    (["--cron", "0 3 * * *", "--workflow", "process_order", "--timezone", "Europe/Berln"],
     "--timezone 'Europe/Berln' is not a known IANA time zone (did you mean "
     "'Europe/Berlin'?)"),
    (["--cron", "0 3 * * *", "--workflow", "process_order", "--catch-up", "sometimes"],
     "Invalid value for '--catch-up': 'sometimes' is not one of 'skip', 'once', 'all' "
     "(see 'rhythm schedule create --help')"),
    (["--cron", "0 3 * * *", "--workflow", "procss_order"],
     "--workflow: no workflow named 'procss_order' is registered (did you mean "
     "'process_order'?)"),
    (["--cron", "0 3 * * *", "--task", "chrge_card"],
     "--task: no task named 'chrge_card' is registered by any worker (did you mean "
     "'charge_card'?)"),
    (["--cron", "0 3 * * *"], "give exactly one of --workflow or --task"),
    (["--cron", "0 3 * * *", "--workflow", "process_order", "--inputs", "[1]"],
     "--inputs must be a JSON object, not an array"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(
    db_url: str, tmp_path: Path, args: list[str], line: str
) -> None:
    with Client(db_url) as client:
        _register(client, tmp_path, {"process_order": "return Inputs\n"})
    _add_route(db_url, "charge_card")
    code, out, err = _cli(db_url, "create", "nightly", *args)
    assert (code, out, err) == (2, "", f"rhythm: error: {line}\n")
    assert _rows(db_url, "SELECT count(*) FROM rhythm.schedules") == [(0,)]


# ------------------------------------------------------------ the project file


def test_project_file_schedules_are_applied_by_schedule_apply(
    db_url: str, tmp_path: Path
) -> None:
    with Client(db_url) as client:
        _register(client, tmp_path, {"report": "return Inputs\n"})
    (tmp_path / "rhythm.toml").write_text(
        '[schedules.nightly-report]\ncron = "30 2 * * *"\nworkflow = "report"\n'
        'timezone = "Europe/Berlin"\ncatch_up = "skip"\ninputs = { region = "eu" }\n\n'
        '[schedules.cleanup]\ncron = "*/5 * * * *"\ntask = "tidy_up"\nqueue = "maintenance"\n')
    code, out, err = _cli(db_url, "apply", cwd=tmp_path)
    assert code == 0, err
    assert err == ("rhythm: warning: schedules.cleanup.task: no task named 'tidy_up' is "
                   "registered by any worker; its ticks wait (pending) until a worker "
                   "registers it\n")
    assert [line.split(":")[0] for line in out.splitlines()] == [
        "schedule cleanup", "schedule nightly-report"]
    assert all(line.endswith("(created)") for line in out.splitlines())
    rows = _rows(db_url, "SELECT name, target, inputs::text, timezone, catch_up, queue "
                         "FROM rhythm.schedules ORDER BY name")
    assert rows == [("cleanup", "tidy_up", "{}", "UTC", "once", "maintenance"),
                    ("nightly-report", "report", '{"region":"eu"}', "Europe/Berlin",
                     "skip", None)]
    code, out, _ = _cli(db_url, "apply", "nightly-report", cwd=tmp_path)
    assert (code, out.endswith("(applied)\n")) == (0, True)
    (tmp_path / "rhythm.toml").write_text(
        '[schedules.nightly-report]\ncron = "30 2 * *"\nworkflow = "report"\n')
    code, out, err = _cli(db_url, "apply", cwd=tmp_path)
    assert (code, out) == (3, "")
    assert err == (f"rhythm: error: {tmp_path / 'rhythm.toml'}: schedules.nightly-report.cron "
                   "'30 2 * *' is not a valid cron expression: wrong number of fields (5 "
                   "fields 'min hour day month weekday', or 6 with seconds first)\n")
    (tmp_path / "rhythm.toml").write_text('[schedules.x]\ncron = "* * * * *"\nflow = "r"\n')
    code, _, err = _cli(db_url, "apply", cwd=tmp_path)
    assert (code, err) == (3, f"rhythm: error: {tmp_path / 'rhythm.toml'}: schedules.x: "
                              "unknown key 'flow' (known: cron, workflow, task, inputs, "
                              "timezone, catch_up, queue, paused)\n")
