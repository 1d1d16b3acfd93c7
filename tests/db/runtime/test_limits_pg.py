"""Limits on Postgres behave as in memory (issue 16, items 6 and 7): a costly activation
and a deep value fail with the same LimitError through the real worker, after a task, and
the worker goes on serving other workflows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import flows_worker

from rhythm.errors import WorkflowFailed
from rhythm.flowrt.protocol import Limits
from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker
from rhythm.testing import run_flow

FLOWS = {
    "dag": """
const one = await Task.run("add", { a: 1, b: 0 })
let a = [one]
for (let i = 0; i < 40; i++) { a = [a, a] }
return JSON.stringify(a).length
""",
    "deep": """
await Task.run("add", { a: 1, b: 0 })
let a = []
for (let i = 0; i < 500; i++) { a = [a] }
try { return String(a) } catch (e) { return "caught" }
""",
    "innocent": """
return await Task.run("add", { a: Inputs.x, b: 1 })
""",
}
BUDGET = {
    "name": "LimitError",
    "message": "more than 1000000 operations without a suspension (a runaway loop, or "
    "costly operations such as huge strings, joins, sorts or JSON in a loop)",
}
DEPTH = {
    "name": "LimitError",
    "message": "String() of an array: value nested more than 100 levels deep",
}


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def limits_worker(db_url: str, flows_dir: Path) -> Iterator[Worker]:
    with flows_worker(db_url, flows_dir, FLOWS) as w:
        yield w


@pytest.mark.parametrize(("name", "error"), [("dag", BUDGET), ("deep", DEPTH)])
def test_limit_errors_are_the_same_on_postgres_and_in_memory(
    client: Client, limits_worker: Worker, flows_dir: Path, name: str, error: dict[str, str]
) -> None:
    run = client.start(name)
    innocent = client.start("innocent", {"x": 41})
    with pytest.raises(WorkflowFailed):
        run.result(timeout=30)
    where = f" (at {flows_dir / (name + '.flow')}:5)"  # positioned at the statement
    expected = {"name": error["name"], "message": error["message"] + where}
    assert client.get(run.id)["error"] == expected
    assert innocent.result(timeout=30) == 42  # the worker goes on serving the others
    in_memory = run_flow(flows_dir / f"{name}.flow", mocks={"tasks": {"add": {"returns": 1}}})
    assert in_memory.error == expected


def test_the_operation_budget_is_configurable_per_worker(db_url: str, tmp_path: Path) -> None:
    spin = ("const n = await Task.run('add', { a: 1, b: 0 })\n"
            "let total = 0\nfor (let i = 0; i < 2000; i++) { total += n }\nreturn total\n")
    with flows_worker(db_url, tmp_path, {"spin": spin}, limits=Limits(max_ops=1000)), \
            Client(db_url) as client:
        run = client.start("spin")
        with pytest.raises(WorkflowFailed):
            run.result(timeout=30)
        error = client.get(run.id)["error"]
    assert error["name"] == "LimitError"
    assert error["message"].startswith("more than 1000 operations without a suspension")
