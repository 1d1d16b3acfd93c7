"""One version that cannot be loaded or registered never stops a worker from serving the
others: a broken generated module, a .flow file that does not compile, a source Postgres
cannot store, a stored version that does not compile. Each is logged; only executions of
that version fail, with a clear error. Real worker processes."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import spawn_worker, wait_for
from dbfixtures import run_cli

from rhythm.errors import WorkflowFailed
from rhythm.runtime.client import Client


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """generated/ (built) with a good module and a broken one; flows/ with a good file,
    one that does not compile and one with a NUL byte (compiles, cannot be stored)."""
    built = tmp_path / "workflows"
    built.mkdir()
    (built / "good.flow").write_text("return Inputs.x + 1\n")
    (built / "broken.flow").write_text("return 2\n")
    done = run_cli("build", "workflows", home=tmp_path)
    assert done.returncode == 0, done.stderr
    broken = next((tmp_path / "generated").glob("broken__*.py"))
    broken.write_text("raise RuntimeError('this module is broken')\n")
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "fine.flow").write_text("return Inputs.x * 2\n")
    (flows / "typo.flow").write_text("return (\n")
    (flows / "nul.flow").write_text("// a\x00b\nreturn 3\n")
    return tmp_path


@pytest.fixture
def worker_log(db_url: str, project: Path) -> Iterator[list[str]]:
    """A worker on the project; yields its stderr lines (filled in once it stopped)."""
    proc = spawn_worker(db_url, "--generated", str(project / "generated"),
                        "--flows", str(project / "flows"), "--lease", "2", "--grace", "0")
    lines: list[str] = []
    try:
        wait_for(lambda: _registered(db_url) >= {"good", "fine"} or proc.poll() is not None,
                 timeout=60, what="the good versions to be registered")
        assert proc.poll() is None, proc.communicate()[1]
        yield lines
    finally:
        _stop(proc, lines)


def _stop(proc: subprocess.Popen[str], lines: list[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    lines.extend(err.splitlines())


def _registered(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM rhythm.workflow_versions")}


def test_broken_versions_are_left_out_and_the_others_served(
    db_url: str, worker_log: list[str]
) -> None:
    with Client(db_url) as client:
        assert client.start("good", {"x": 1}).result(timeout=20) == 2
        assert client.start("fine", {"x": 4}).result(timeout=20) == 8
    assert _registered(db_url) == {"good", "fine"}


def test_the_log_names_each_version_left_out(db_url: str, project: Path) -> None:
    proc = spawn_worker(db_url, "--generated", str(project / "generated"),
                        "--flows", str(project / "flows"), "--grace", "0")
    lines: list[str] = []
    try:
        wait_for(lambda: "fine" in _registered(db_url) or proc.poll() is not None,
                 timeout=60, what="registration")
    finally:
        _stop(proc, lines)
    text = "\n".join(lines)
    assert "generated workflow broken is left out: RuntimeError: this module is broken" in text
    assert "workflow typo is left out: " in text and "typo.flow:" in text
    # (a NUL in a source is a positioned compile error: it never reaches Postgres)
    assert "workflow nul is left out: " in text and "raw control character U+0000" in text
    assert "Traceback" not in text


def test_a_stored_version_that_does_not_compile_fails_only_its_executions(
    db_url: str, worker_log: list[str]
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO rhythm.workflow_versions (name, version, source, source_path,"
            " created_at, registered_at) VALUES ('stale', 'feedface', 'return (', NULL,"
            " now(), now())")
    with Client(db_url) as client:
        stale = client.start("stale")
        with pytest.raises(WorkflowFailed) as caught:
            stale.result(timeout=20)
        assert "stored source of workflow 'stale' version feedface does not compile" \
            in str(caught.value)
        assert client.start("good", {"x": 41}).result(timeout=20) == 42
