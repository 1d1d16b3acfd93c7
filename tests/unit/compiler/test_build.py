"""``rhythm build``: layout, reproducibility, --check, errors, duplicates, nothing deleted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from rhythm.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "workflows" / "billing").mkdir(parents=True)
    (tmp_path / "workflows" / "hello.flow").write_text("return await Task.run('x')\n")
    (tmp_path / "workflows" / "billing" / "refund.flow").write_text("return 1\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(cwd)


def _build(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["build", *args])
    return result.exit_code, result.output


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_build_writes_one_module_per_version_and_an_index(project: Path) -> None:
    code, _ = _build()
    assert code == 0
    names = sorted(p.name for p in (project / "generated").iterdir())
    assert names[0].startswith("billing_refund__") and names[1].startswith("hello__")
    assert names[2] == "index.json"
    text = (project / "generated" / names[1]).read_text()
    assert text.startswith("# DO NOT EDIT")
    assert "Source SHA-256: " in text and "workflows/hello.flow" in text
    compile(text, names[1], "exec")


def test_build_is_reproducible_and_writes_only_changes(project: Path) -> None:
    _build()
    first = _snapshot(project / "generated")
    mtimes = {p.name: p.stat().st_mtime_ns for p in (project / "generated").iterdir()}
    code, output = _build()
    assert code == 0 and "0 written" in output
    assert {p.name: p.stat().st_mtime_ns for p in (project / "generated").iterdir()} == mtimes
    for p in (project / "generated").iterdir():
        p.unlink()
    _build()
    assert _snapshot(project / "generated") == first


def test_check_reports_stale_output(project: Path) -> None:
    assert _build("--check")[0] == 1
    _build()
    assert _build("--check")[0] == 0
    (project / "workflows" / "hello.flow").write_text("return 2\n")
    code, output = _build("--check")
    assert code == 1 and "stale" in output


def test_old_versions_and_foreign_files_are_kept(project: Path) -> None:
    _build()
    (project / "generated" / "mine.txt").write_text("keep me")
    old = set(os.listdir(project / "generated"))
    (project / "workflows" / "hello.flow").write_text("return 2\n")
    _build()
    assert old <= set(os.listdir(project / "generated"))


def test_errors_generate_nothing_and_exit_1(project: Path) -> None:
    (project / "workflows" / "bad.flow").write_text("let x = \nreturn y\n")
    code, output = _build("--out", "out")
    assert code == 1
    assert "workflows/bad.flow:" in output
    assert not any(p.name.startswith("bad__") for p in (project / "out").iterdir())


def test_duplicate_workflow_names_are_an_error(project: Path) -> None:
    (project / "more").mkdir()
    (project / "more" / "hello.flow").write_text("return 3\n")
    code, output = _build("workflows", "more")
    assert code == 1 and "also used by" in output
