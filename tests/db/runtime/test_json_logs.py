"""``rhythm worker --log-format json``: one JSON object per line, naming the execution,
the workflow or task, and the attempt where known (docs/observability.md, "Logs")."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import one_row, spawn_worker, stop_workers

from rhythm.runtime.client import Client

FLOW = 'console.log("hello from", Inputs.who)\nreturn await Task.run("chatty", { word: "hi" })\n'


def test_json_log_lines_name_the_execution_and_attempt(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "logged.flow").write_text(FLOW)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        proc = spawn_worker(db_url, "-m", "observe_tasks", "--log-format", "json",
                            "--flows", str(tmp_path), "--poll", "0.2", log=log)
        try:
            run = client.start("logged", {"who": "me"})
            assert run.result(timeout=30) == "hi"
        finally:
            stop_workers([proc])
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line]
    assert lines and all({"time", "level", "message", "logger"} <= line.keys()
                         for line in lines)

    [said] = [line for line in lines if line["message"] == "said hi"]
    (task_id,) = one_row(db_url, "SELECT id FROM rhythm.executions WHERE parent_id = %s",
                         (run.id,))
    assert said["execution_id"] == task_id
    assert said["task"] == "chatty" and said["attempt"] == 1
    assert said["logger"] == "observe_tasks"
    assert said["level"] == "info"

    [hello] = [line for line in lines if "hello from me" in line["message"]]
    assert hello["execution_id"] == run.id and hello["workflow"] == "logged"
    assert "attempt" not in hello and "task" not in hello
    # Lines outside any execution (start-up, shutdown) name none.
    assert any("execution_id" not in line for line in lines)


def test_observations_do_not_outlive_their_executions(client: Client, db_url: str) -> None:
    """On a one-slot worker each attempt starts as the one before it ends; it must not
    start in that one's context, whose observation token holds the observation before it,
    and so on: a chain as long as the worker's run for the garbage collector to walk."""
    adds = [client.queue_task("add", {"a": i, "b": 1}) for i in range(40)]
    alive = client.queue_task("observations_alive", {})
    proc = spawn_worker(db_url, "-m", "observe_tasks", "--log-format", "json",
                        "--concurrency", "1", "--poll", "0.2")
    try:
        assert [add.result(timeout=30) for add in adds] == list(range(1, 41))
        assert alive.result(timeout=30) <= 3
    finally:
        stop_workers([proc])
