"""`rhythm check`: paths, folders, default folder, --json, duplicate names, exit codes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from rhythm.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "workflows" / "billing").mkdir(parents=True)
    (tmp_path / "workflows" / "ok.flow").write_text("return await Task.run('a', {})\n")
    (tmp_path / "workflows" / "billing" / "refund.flow").write_text("return Inputs.id\n")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["check", *args])
    return result.exit_code, result.stdout, result.stderr


def test_clean_project_exits_zero(project: Path) -> None:
    code, out, err = run()
    assert code == 0, out + err
    assert "checked 2 files: no errors" in out


def test_errors_are_printed_with_caret_and_exit_one(project: Path) -> None:
    (project / "workflows" / "bad.flow").write_text("let total = 1\nreturn totl\n")
    code, out, err = run()
    assert code == 1
    assert "workflows/bad.flow:2:8: undeclared name 'totl'; did you mean 'total'?" in out
    assert "    return totl\n           ^^^^" in out
    assert "1 error" in err


def test_json_output(project: Path) -> None:
    (project / "workflows" / "bad.flow").write_text("break\n")
    code, out, _ = run("--json", "workflows")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False
    assert len(report["files"]) == 3
    assert report["diagnostics"] == [
        {
            "path": str(Path("workflows/bad.flow")),
            "line": 1,
            "column": 1,
            "end_line": 1,
            "end_column": 6,
            "message": "'break' can only be used inside a loop",
        }
    ]


def test_single_file_and_every_error_of_several_files(project: Path) -> None:
    (project / "a.flow").write_text("x = 1\ny = 2\n")
    (project / "b.flow").write_text("let = \n")
    code, out, _ = run("a.flow", "b.flow")
    assert code == 1
    assert out.count("a.flow:") == 2 and out.count("b.flow:") == 1


def test_duplicate_workflow_names_are_an_error(project: Path) -> None:
    (project / "other").mkdir()
    (project / "other" / "ok.flow").write_text("return 2\n")
    code, out, _ = run("workflows", "other")
    assert code == 1
    assert "duplicate workflow name 'ok'" in out


def test_missing_path_is_a_one_line_error(project: Path) -> None:
    code, _out, err = run("nope")
    assert code == 1
    assert err.strip() == "rhythm: error: no such file or directory: nope"


def test_default_is_current_folder_without_workflows(tmp_path: Path) -> None:
    (tmp_path / "x.flow").write_text("return 1\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.flow").write_text("broken (\n")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        code, out, _ = run()
    finally:
        os.chdir(old)
    assert code == 0 and "checked 1 file" in out
