"""`rhythm run` as a user runs it: a subprocess, its exit code, stdout JSON and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def rhythm_run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rhythm", "run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def compiler_available() -> bool:
    try:
        from rhythm.codegen import compile_flow  # noqa: F401
    except ImportError:
        return False
    return True


needs_compiler = pytest.mark.skipif(
    not compiler_available(), reason="rhythm.codegen.compile_flow not built"
)


@pytest.fixture
def flow_dir(tmp_path: Path) -> Path:
    (tmp_path / "main.flow").write_text('return await Task.run("charge", {amount: Inputs.n})\n')
    (tmp_path / "mocks.json").write_text(json.dumps({"tasks": {"charge": {"echo": True}}}))
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["main.flow", "--inputs", "{nope"], "--inputs is not valid JSON"),
        (["main.flow", "--inputs", "[1]"], "--inputs must be a JSON object, not an array"),
        (["missing.flow"], "missing.flow: no such .flow file"),
        (["main.flow", "--mocks", "nope.json"], "nope.json: cannot read mocks file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(flow_dir: Path, args: list[str], message: str) -> None:
    done = rhythm_run(flow_dir, *args, "--json")
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rhythm: error: ") and message in lines[0]


def test_bad_mocks_entry_names_its_path(flow_dir: Path) -> None:
    (flow_dir / "bad.json").write_text(json.dumps({"tasks": {"charge": {"retrns": 1}}}))
    done = rhythm_run(flow_dir, "main.flow", "--mocks", "bad.json")
    assert done.returncode == 2
    assert "bad.json: tasks.charge: unknown key 'retrns'" in done.stderr


@needs_compiler
def test_completed_json_shape_and_exit_0(flow_dir: Path) -> None:
    done = rhythm_run(
        flow_dir, "main.flow", "--inputs", '{"n": 12}', "--mocks", "mocks.json", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "completed",
        "result": {"amount": 12},
        "error": None,
        "calls": [{"kind": "task", "name": "charge", "inputs": {"amount": 12}}],
    }


@needs_compiler
def test_failed_exit_1_and_logs_on_stderr_only(tmp_path: Path) -> None:
    (tmp_path / "main.flow").write_text('console.log("about to fail")\nthrow {code: 1}\n')
    done = rhythm_run(tmp_path, "main.flow", "--json")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["status"] == "failed" and out["error"] == {"code": 1}
    assert "[mem-1] about to fail" in done.stderr


@needs_compiler
def test_suspended_for_ever_exit_1(tmp_path: Path) -> None:
    (tmp_path / "main.flow").write_text('return await Signal.next("approval")\n')
    done = rhythm_run(tmp_path, "main.flow", "--json")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["status"] == "suspended" and "signal 'approval'" in out["waitingFor"]


@needs_compiler
def test_cancelled_saga_exit_1_with_its_compensation(tmp_path: Path) -> None:
    (tmp_path / "main.flow").write_text(
        'await Task.run("charge", {})\n'
        'try { await Signal.next("ship") } catch (e) { return await Task.run("refund", {}) }\n'
    )
    mocks = {"tasks": {"charge": {"returns": 1}, "refund": {"returns": "r"}},
             "cancel": {"after": "1h"}}
    (tmp_path / "mocks.json").write_text(json.dumps(mocks))
    done = rhythm_run(tmp_path, "main.flow", "--mocks", "mocks.json")
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "cancelled (4 activations, 1h of virtual time)",
        'result: "r"',
        'error: {"name": "CancelledError", "message": "the execution was cancelled"}',
        "calls: 2", "  task charge {}", "  task refund {}",
    ]
    assert done.stderr == ""


@needs_compiler
def test_compile_error_json_and_text(tmp_path: Path) -> None:
    (tmp_path / "main.flow").write_text("let x = 1\nreturn y\n")
    done = rhythm_run(tmp_path, "main.flow", "--json")
    assert done.returncode == 1
    out = json.loads(done.stdout)
    assert out["status"] == "compile_error" and out["errors"][0]["line"] == 2
    assert set(out["errors"][0]) == {"line", "column", "message"}
    text = rhythm_run(tmp_path, "main.flow")
    assert text.returncode == 1 and text.stderr.startswith("main.flow:2:")


@needs_compiler
def test_readable_summary(flow_dir: Path) -> None:
    done = rhythm_run(flow_dir, "main.flow", "--inputs", '{"n": 1}', "--mocks", "mocks.json")
    assert done.returncode == 0
    assert done.stdout.splitlines()[:2] == [
        "completed (2 activations, 0ms of virtual time)",
        'result: {"amount": 1}',
    ]
    assert '  task charge {"amount": 1}' in done.stdout
