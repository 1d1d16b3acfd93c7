"""Queue controls (issue 18, item 5): `rhythm queue list|pause|resume|set`. A paused
queue is claimed by no worker until resumed (what runs finishes); changes reach the
workers by NOTIFY '!limits'; the project file's [queues.NAME] tables are applied by
`rhythm queue set`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from conftest import running_worker
from dbfixtures import run_cli

from rhythm.runtime.client import Client


def _cli(url: str, *args: str, cwd_file: Path | None = None) -> tuple[int, str, str]:
    done = run_cli("queue", *args, env={"RHYTHM_DATABASE_URL": url},
                   home=cwd_file)
    return done.returncode, done.stdout, done.stderr


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return dict(conn.execute("SELECT id, status FROM rhythm.executions").fetchall())


def test_a_paused_queue_claims_nothing_until_resumed(
    db_url: str, client: Client, task_log: Callable[[], list[str]]
) -> None:
    with running_worker(db_url, poll_interval=0.2) as worker:
        assert worker.registered.wait(10)
        long = client.queue_task("sleep_then_log", {"key": "running", "seconds": 1.0})
        deadline = time.monotonic() + 10
        while _statuses(db_url)[long.id] != "running" and time.monotonic() < deadline:
            time.sleep(0.02)
        code, out, err = _cli(db_url, "pause", "default")
        assert (code, out, err) == (0, "queue default: paused, rate limit none\n", "")
        runs = [client.queue_task("log_once", {"key": f"k{i}"}) for i in range(5)]
        time.sleep(2.0)  # polls, NOTIFYs and the backstop all came and went
        assert task_log() == ["running"]  # it was running: it finished
        statuses = _statuses(db_url)
        assert [statuses[r.id] for r in runs] == ["pending"] * 5
        assert statuses[long.id] == "completed"
        code, out, _ = _cli(db_url, "resume", "default")
        assert (code, out) == (0, "queue default: running, rate limit none\n")
        for run in runs:
            run.result(timeout=10)
    assert task_log() == ["k0", "k1", "k2", "k3", "k4", "running"]


def test_a_worker_started_on_a_paused_queue_waits_and_resume_wakes_it(
    db_url: str, client: Client, task_log: Callable[[], list[str]]
) -> None:
    assert _cli(db_url, "pause", "default")[0] == 0
    run = client.queue_task("log_once", {"key": "later"})
    # No backstop poll within the test: only the NOTIFY of the resume can wake it.
    with running_worker(db_url, poll_interval=60) as worker:
        assert worker.registered.wait(10)
        time.sleep(1.0)
        assert task_log() == [] and _statuses(db_url)[run.id] == "pending"
        assert _cli(db_url, "set", "default", "--running")[0] == 0
        assert run.result(timeout=5) == "later"


def test_queue_list_shows_depth_settings_and_limits(db_url: str, client: Client) -> None:
    for i in range(3):
        client.queue_task("add", {"a": i})
    client.queue_task("add", {"a": 9}, queue="mail")
    assert _cli(db_url, "set", "mail", "--rate-limit", "1000/min")[0] == 0
    assert _cli(db_url, "pause", "idle")[0] == 0
    code, out, err = _cli(db_url, "list")
    assert code == 0 and err == ""
    lines = [line.split("\t") for line in out.splitlines()]
    assert lines[0] == ["QUEUE", "PENDING", "READY", "RUNNING", "SUSPENDED", "OLDEST", "RATE",
                        "PAUSED", "TASK LIMITS"]
    rows = {line[0]: line for line in lines[1:]}
    assert set(rows) == {"default", "mail", "idle"}
    assert rows["default"][1:5] == ["3", "3", "0", "0"] and rows["default"][5].endswith("s")
    assert rows["default"][6:] == ["-", "no", "-"]
    assert rows["mail"][1:3] == ["1", "1"] and rows["mail"][6:8] == ["1000/min", "no"]
    assert rows["idle"][1:] == ["0", "0", "0", "0", "-", "-", "yes", "-"]
    code, out, _ = _cli(db_url, "list", "--json")
    data = {q["name"]: q for q in json.loads(out)["queues"]}
    assert data["mail"]["rate_limit"] == "1000/min" and data["idle"]["paused"] is True
    assert data["default"]["pending"] == 3
    # the limit is a bucket per partition: capacity 1000, refill 1000/60 per second
    with psycopg.connect(db_url, autocommit=True) as conn:
        buckets = conn.execute("SELECT scope, name, part, capacity, rate_per_s "
                               "FROM rhythm.rate_limits").fetchall()
    assert buckets == [("queue", "mail", 0, 1000.0, 1000 / 60)]
    assert _cli(db_url, "set", "mail", "--rate-limit", "none")[1] == \
        "queue mail: running, rate limit none\n"
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM rhythm.rate_limits").fetchone() == (0,)


def test_queue_commands_refuse_bad_usage_in_one_line(db_url: str) -> None:
    cases = {
        ("set", "q", "--rate-limit", "100/fortnight"): "unknown period 'fortnight'",
        ("set", "q", "--rate-limit", "0/s"): "the count must be a positive integer",
        ("set", "q", "--rate-limit", "-5/s"): "the count must be a positive integer",
        ("set", "q", "--rate-limit", "fast"): "expected N/s, N/min or N/h",
        ("set", "--rate-limit", "5/s"): "need a QUEUE",
        ("pause",): "Missing argument 'QUEUE'",
        ("pause", " "): "a queue name cannot be empty",
        ("frobnicate",): "No such command 'frobnicate'",
    }
    for args, message in cases.items():
        code, out, err = _cli(db_url, *args)
        assert code == 2, (args, err)
        assert out == "" and len(err.splitlines()) == 1 and message in err, (args, err)
        assert err.startswith("rhythm: error: ") and "Traceback" not in err
        if "--rate-limit" in args and "QUEUE" not in message:
            assert "'--rate-limit'" in err
    with psycopg.connect(db_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM rhythm.queues").fetchone() == (0,)


def test_queue_set_applies_the_project_file(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "rhythm.toml").write_text(
        '[queues.mail]\nrate_limit = "100/s"\n\n[queues.reports]\npaused = true\n')
    code, out, err = _cli(db_url, "set", cwd_file=tmp_path)
    assert (code, err) == (0, "")
    assert out.splitlines() == ["queue mail: running, rate limit 100/s",
                                "queue reports: paused, rate limit none"]
    (tmp_path / "rhythm.toml").write_text('[queues.mail]\nrate_limit = "100/fortnight"\n')
    code, out, err = _cli(db_url, "set", cwd_file=tmp_path)
    assert code == 3 and len(err.splitlines()) == 1
    assert "queues.mail.rate_limit: unknown period 'fortnight'" in err
    (tmp_path / "rhythm.toml").write_text('[queues.mail]\nrate = "1/s"\n')
    code, out, err = _cli(db_url, "set", "mail", cwd_file=tmp_path)
    assert code == 3 and "queues.mail: unknown key 'rate'" in err
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute("SELECT name, paused, rate_limit, rate_per_s, burst "
                            "FROM rhythm.queues ORDER BY name").fetchall()
    assert rows == [("mail", False, "100/s", 100.0, 100), ("reports", True, None, None, None)]
