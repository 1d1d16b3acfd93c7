"""``rhythm upgrade`` on the real worker: 50 suspended executions of v1 move onto v2 at
the await where they stand and finish with v2's behaviour; a v3 that removed a loop
leaves exactly the executions waiting in it pinned (with the reason) to finish on v1 (of
30); a running one is skipped; the move is fenced; signals racing the move are kept and
every task runs once (asserted on public.task_log)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from conftest import flows_worker, one_row, register_flow, wait_for
from dbfixtures import run_cli

from rhythm.codegen.compile import compile_flow
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.operations import drive, run_each
from rhythm.upgrade.machines import Machines
from rhythm.upgrade.move import _one

V1 = """\
const a = await Task.run("log_once", { key: Inputs.id + ":a" })
let note = "v1"
const s1 = await Signal.next("go")
if (Inputs.loop) {
  let i = 0
  while (i < 2) {
    await Signal.next("tick")
    i++
  }
}
const s2 = await Signal.next("second")
if (s2 == "bug") {
  const broken = "buggy"
  return { version: 1, result: broken, note, a }
}
return { version: 1, result: "ok", note, a }
"""

# v2: a step inserted after the awaits, an unrelated variable renamed, a bug fixed.
V2 = """\
const a = await Task.run("log_once", { key: Inputs.id + ":a" })
let note = "v1"
const s1 = await Signal.next("go")
if (Inputs.loop) {
  let i = 0
  while (i < 2) {
    await Signal.next("tick")
    i++
  }
}
const s2 = await Signal.next("second")
await Task.run("log_once", { key: Inputs.id + ":v2" })
if (s2 == "bug") {
  const repaired = "fixed"
  return { version: 2, result: repaired, note, a }
}
return { version: 2, result: "ok", note, a }
"""

# v3: the tick loop is gone (one tick, no loop around it).
V3 = V1.replace("""  let i = 0
  while (i < 2) {
    await Signal.next("tick")
    i++
  }""", """  await Signal.next("tick")""").replace("version: 1", "version: 3")


def _standing(url: str, ids: list[str]) -> dict[str, str]:
    """Where each idle suspended execution waits: its await's identity in v1."""
    awaits = compile_flow(V1, "order.flow", "order").AWAITS
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT e.id, (s.snapshot->>'label')::int FROM rhythm.executions e"
            " JOIN rhythm.snapshots s ON s.execution_id = e.id"
            " WHERE e.id = ANY(%s) AND e.status = 'suspended' AND e.run_at IS NULL",
            (ids,)).fetchall()
    return {eid: awaits[label] for eid, label in rows}


def _settle(url: str, expected: dict[str, str]) -> None:
    """Wait until each execution is suspended, idle, at its expected await."""
    wait_for(lambda: _standing(url, list(expected)) == expected, timeout=60,
             what="executions to suspend at their awaits")


def _start_at_awaits(url: str, tmp_path: Path, client: Client, prefix: str, groups: dict[
        str, int]) -> tuple[str, dict[str, list[str]]]:
    """Executions of v1 left at "go", at the first or second "tick" of the loop, or at
    "second" (groups: how many of each); returns v1 and the ids by group."""
    ids: dict[str, list[str]] = {}
    (tmp_path / "v1").mkdir()
    with flows_worker(url, tmp_path / "v1", {"order": V1}):
        v1 = hashlib.sha256(V1.encode()).hexdigest()
        expected: dict[str, str] = {}
        tick = "if#1/then/while#1/Signal.next:tick#1"
        plan = {"go": (False, [], "Signal.next:go#1"), "tick1": (True, ["go"], tick),
                "tick2": (True, ["go", "tick"], tick),
                "second": (False, ["go"], "Signal.next:second#1")}
        for group, count in groups.items():
            loop, signals, where = plan[group]
            ids[group] = []
            for n in range(count):
                eid = f"{prefix}-{group}-{n}"
                client.start("order", {"id": eid, "loop": loop}, id=eid)
                for channel in signals:
                    client.signal(eid, channel, channel)
                ids[group].append(eid)
                expected[eid] = where
        _settle(url, expected)
    return v1, ids


def test_fifty_executions_move_to_v2_and_finish_with_its_behaviour(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    with Client(db_url) as client:
        v1, ids = _start_at_awaits(db_url, tmp_path, client, "up",
                                   {"go": 15, "tick1": 10, "tick2": 10, "second": 15})
        everyone = [eid for group in ids.values() for eid in group]
        assert len(everyone) == 50
        v2 = register_flow(db_url, tmp_path / "v2", "order", V2)
        dry = client.upgrade("order", dry_run=True, generated=None)
        assert dry.to_version == v2 and dry.count("compatible") == 50, dry.outcomes
        # Signals race the move (the "go" ones are woken meanwhile): none may be lost.
        with Client(db_url) as other:
            racer = threading.Thread(target=lambda: [other.signal(eid, "go", "go")
                                                     for eid in ids["go"]])
            racer.start()
            report = client.upgrade("order", generated=None)
            racer.join()
        assert report.count("moved") == 50, [o.line() for o in report.outcomes]
        assert one_row(db_url, "SELECT count(*) FROM rhythm.executions WHERE version = %s",
                       (v2,)) == (50,)
        for n, eid in enumerate(everyone):
            if eid in ids["tick1"]:
                client.signal(eid, "tick", "tick")
            if eid in ids["tick1"] or eid in ids["tick2"]:
                client.signal(eid, "tick", "tick")
            client.signal(eid, "second", "bug" if n % 2 else "fine")
        (tmp_path / "w2").mkdir()
        with flows_worker(db_url, tmp_path / "w2", {"order": V2}):
            results = {eid: client.run(eid).result(timeout=60) for eid in everyone}
    for n, eid in enumerate(everyone):
        expected = {"version": 2, "result": "fixed" if n % 2 else "ok", "note": "v1",
                    "a": f"{eid}:a"}
        assert results[eid] == expected, eid
        moved = [e for e in client.history(everyone[0]) if e.kind == "upgraded"]
    assert [(e.detail["from_version"], e.detail["to_version"], e.detail["await"])
            for e in moved] == [(v1, v2, "Signal.next:go#1")]
    assert task_log() == sorted([f"{e}:a" for e in everyone] + [f"{e}:v2" for e in everyone])


def test_a_version_without_the_loop_leaves_those_waiting_in_it_pinned(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    with Client(db_url) as client:
        v1, ids = _start_at_awaits(db_url, tmp_path, client, "v3",
                                   {"go": 10, "tick1": 10, "second": 10})
        v3 = register_flow(db_url, tmp_path / "v3", "order", V3)
        busy = ids["go"][2]  # as if a worker had claimed it: its activation is running
        movable = [e for e in ids["go"] if e != busy] + ids["second"]
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE rhythm.executions SET status = 'running', claim_token ="
                         " claim_token + 1 WHERE id = %s", (busy,))
        report = client.upgrade("order", generated=None)
        lines = sorted(o.line() for o in report.outcomes)
        assert lines == sorted(
            [f"{eid}: moved" for eid in movable]
            + [f"{eid}: await 'tick' is inside a loop the new version removed"
               for eid in ids["tick1"]]
            + [f"{busy}: skipped: running now; run the upgrade again later"])
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE rhythm.executions SET status = 'suspended' WHERE id = %s",
                         (busy,))
            pinned = {r[0] for r in conn.execute(
                "SELECT id FROM rhythm.executions WHERE version = %s", (v1,))}
        assert pinned == {busy, *ids["tick1"]}
        for eid in ids["go"]:
            client.signal(eid, "go", "go")
        for eid in ids["tick1"]:  # (pinned to v1: its loop waits twice)
            client.signal(eid, "tick", "tick")
            client.signal(eid, "tick", "tick")
        for eid in [*ids["go"], *ids["tick1"], *ids["second"]]:
            client.signal(eid, "second", "fine")
        (tmp_path / "w3").mkdir()
        with flows_worker(db_url, tmp_path / "w3", {"order": V3}):
            versions = {eid: client.run(eid).result(timeout=60)["version"]
                        for eid in [*ids["go"], *ids["tick1"], *ids["second"]]}
    assert versions == {**dict.fromkeys(movable, 3), **dict.fromkeys([busy, *ids["tick1"]], 1)}
    assert v3 != v1
    assert sorted(task_log()) == sorted(f"{e}:a" for e in versions)


def test_the_move_is_fenced_by_the_claim_token(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    with Client(db_url) as client:
        v1, ids = _start_at_awaits(db_url, tmp_path, client, "fence", {"go": 1})
        v2 = register_flow(db_url, tmp_path / "v2", "order", V2)
    (eid,) = ids["go"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        row: dict[str, Any] = dict(zip(
            ("id", "version", "status", "claim_token", "snapshot"),
            conn.execute("SELECT e.id, e.version, e.status, e.claim_token, s.snapshot FROM"
                         " rhythm.executions e JOIN rhythm.snapshots s ON"
                         " s.execution_id = e.id WHERE e.id = %s", (eid,)).fetchone() or (),
            strict=True))
        # an activation claimed and committed after the plan read the row
        conn.execute("UPDATE rhythm.executions SET claim_token = claim_token + 1"
                     " WHERE id = %s", (eid,))
        machines = Machines(None)
        new = drive(conn, machines.load("order", v2))
        outcome = run_each(_one(SystemClock(), machines, new, row, "order", False, None),
                           lambda op: drive(conn, op))
        assert outcome.outcome == "changed"
        assert conn.execute("SELECT version FROM rhythm.executions WHERE id = %s",
                            (eid,)).fetchone() == (v1,)


def test_the_cli_prints_a_line_per_execution(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    with Client(db_url) as client:
        _, ids = _start_at_awaits(db_url, tmp_path, client, "cli", {"tick1": 1})
    register_flow(db_url, tmp_path / "v3", "order", V3)
    done = run_cli("upgrade", "order", "--dry-run", "--database-url", db_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    (eid,) = ids["tick1"]
    assert done.stdout.splitlines()[0] == (
        f"{eid}: await 'tick' is inside a loop the new version removed")
    assert done.stdout.splitlines()[1].startswith("0 compatible, 1 incompatible, 0 skipped")
    as_json = run_cli("upgrade", "order", "--dry-run", "--json", "--database-url", db_url,
                      home=tmp_path)
    report = json.loads(as_json.stdout)
    assert report["dry_run"] is True and report["executions"] == [{
        "id": eid, "outcome": "incompatible", "from_version": hashlib.sha256(
            V1.encode()).hexdigest(),
        "reason": "await 'tick' is inside a loop the new version removed"}]
    shown = run_cli("inspect", eid, "--database-url", db_url, home=tmp_path)
    assert "(await if#1/then/while#1/Signal.next:tick#1)" in shown.stdout, shown.stdout
    bad = run_cli("upgrade", "order", "--set", "x", "--database-url", db_url, home=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("--set 'x': expected VAR=JSON")
    nope = run_cli("upgrade", "nope", "--database-url", db_url, home=tmp_path)
    assert nope.returncode != 0
    assert nope.stderr.strip().splitlines() == [
        "rhythm: error: no registered version of workflow 'nope'"]
    unknown = run_cli("upgrade", "order", "--to", "f" * 64, "--database-url", db_url,
                      home=tmp_path)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
    assert "version ffffffffffff is not registered" in unknown.stderr


def test_upgrades_racing_signals_on_a_running_worker_lose_nothing_and_run_nothing_twice(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    """Signals wake the executions while upgrades run again and again against a live
    worker: each execution finishes once, on v1 or v2, its signals all consumed, its
    activations numbered 1, 2, 3... once each, and the upgraded entry, v2's extra step and
    v2's result go together."""  # (finishing proves the signals: each awaits both)
    (tmp_path / "v1").mkdir()
    with Client(db_url) as client, flows_worker(db_url, tmp_path / "v1", {"order": V1}):
        ids = [f"race-{n}" for n in range(20)]
        for eid in ids:
            client.start("order", {"id": eid, "loop": False}, id=eid)
        _settle(db_url, dict.fromkeys(ids, "Signal.next:go#1"))
        register_flow(db_url, tmp_path / "v2", "order", V2)
        with Client(db_url) as other:
            def send() -> None:
                for eid in ids:
                    other.signal(eid, "go", "go")
                    other.signal(eid, "second", "fine")

            racer = threading.Thread(target=send)
            racer.start()
            outcomes: list[str] = []
            while racer.is_alive() or not outcomes or "changed" in outcomes[-20:]:
                report = client.upgrade("order", generated=None)
                outcomes += [o.outcome for o in report.outcomes]
                if not report.outcomes:
                    break
            racer.join()
        results = {eid: client.run(eid).result(timeout=60) for eid in ids}
        histories = {eid: client.history(eid) for eid in ids}
    logged = task_log()
    assert "moved" in outcomes
    for eid in ids:
        steps = [e.step for e in histories[eid] if e.kind == "activation"]
        assert steps == list(range(1, len(steps) + 1)), (eid, steps)
        upgraded = any(e.kind == "upgraded" for e in histories[eid])
        version = results[eid]["version"]
        assert version in (1, 2) and upgraded == (version == 2), eid
        assert logged.count(f"{eid}:a") == 1
        assert logged.count(f"{eid}:v2") == (1 if version == 2 else 0), eid
    # (each one finished: it got both of its signals, as it waits for them in turn)
