"""Task names read from the project's task modules without importing them, and the
warnings `rhythm check` prints about task calls they do not back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rhythm.cli import main
from rhythm.config import load_settings, read_task_modules
from rhythm.errors import ConfigError
from rhythm.frontend.parser import parse
from rhythm.frontend.task_checks import task_warnings
from rhythm.frontend.task_index import build_index

EXAMPLE_TASKS = Path(__file__).resolve().parents[3] / "examples" / "orders" / "tasks.py"

TASKS = '''
import rhythm
from rhythm import task
raise SystemExit("imported!")  # the scan must never run this

@rhythm.task(queue="orders", name="charge-card")
def charge(orderId: str, amount: float, *, note: str = "") -> dict: ...

@task
async def notify(user, /, message, **extra): ...

@rhythm.task(transactional=True)
def record(conn, orderId): ...

def helper(x): ...
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "tasks.py").write_text(TASKS)
    (tmp_path / "rhythm.toml").write_text('tasks = ["app.tasks"]\n')
    (tmp_path / "workflows").mkdir()
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def test_scan_reads_names_parameters_and_positions(project: Path) -> None:
    index = build_index(project, ["app.tasks"])
    assert sorted(index.tasks) == ["charge-card", "notify", "record"]
    charge = index.tasks["charge-card"]
    assert charge.params == ("orderId", "amount", "note")
    assert charge.required == {"orderId", "amount"}
    assert (charge.line, charge.column) == (7, 5)
    assert index.tasks["notify"].accepts_any and index.tasks["notify"].params == ("message",)
    assert index.tasks["record"].params == ("orderId",)  # the connection is not an input


def test_missing_and_broken_modules_are_problems(project: Path) -> None:
    (project / "bad.py").write_text("def (:\n")
    index = build_index(project, ["nope.tasks", "bad"])
    assert not index.tasks and len(index.problems) == 2


def test_examples_tasks_are_found(tmp_path: Path) -> None:
    (tmp_path / "tasks.py").write_text(EXAMPLE_TASKS.read_text())
    index = build_index(tmp_path, ["tasks"])
    assert set(index.tasks) == {"charge_card", "refund_payment", "cancel_order", "ship_order"}


def test_tasks_key_is_not_a_setting_and_is_validated(project: Path) -> None:
    load_settings()  # an unknown key would raise
    assert read_task_modules(project)[0] == ["app.tasks"]
    (project / "rhythm.toml").write_text("tasks = 'app.tasks'\n")
    with pytest.raises(ConfigError, match="'tasks' must be a list"):
        read_task_modules(project)


def warnings_of(source: str, project: Path) -> list[str]:
    program, _ = parse(source, "wf.flow")
    assert program is not None
    return [w.message for w in task_warnings(program, build_index(project, ["app.tasks"]),
                                             "wf.flow")]


def test_unknown_task_and_inputs_mismatch(project: Path) -> None:
    source = (
        'await Task.run("charge-crd", {})\n'
        'await Task.run("charge-card", {orderId: 1, amont: 2})\n'
        'await task("notify", {message: 1, anything: 2})\n'
        'await Task.run("record", {orderId: 1})\n'
        'await Task.run("charge-card", Inputs)\n'  # not a literal: not checked
        'await Task.run(Inputs.name, {})\n'
    )
    assert warnings_of(source, project) == [
        "unknown task 'charge-crd' (not in the task modules app.tasks); "
        "did you mean 'charge-card'?",
        "inputs do not match task 'charge-card'(orderId, amount, note): missing 'amount'; "
        "unexpected 'amont'",
    ]


def test_no_task_modules_means_no_warnings(tmp_path: Path) -> None:
    program, _ = parse('await Task.run("whatever", {})\n', "wf.flow")
    assert program is not None
    assert task_warnings(program, build_index(tmp_path, []), "wf.flow") == []


def test_check_prints_warnings_and_keeps_exit_zero(project: Path) -> None:
    (project / "workflows" / "a.flow").write_text('return await Task.run("charge", {})\n')
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "workflows/a.flow:1:23: warning: unknown task 'charge'" in result.stdout
    assert "checked 1 file: no errors, 1 warning" in result.stdout
    report = json.loads(CliRunner().invoke(main, ["check", "--json"]).stdout)
    assert report["ok"] and report["diagnostics"] == []
    assert report["warnings"][0]["line"] == 1


def test_errors_still_decide_the_exit_code(project: Path) -> None:
    (project / "workflows" / "a.flow").write_text('Task.run("charge", {})\nx = 1\n')
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert "1 error, 1 warning" in result.output
