"""Starting a workflow before any worker has it (operations spec, Lifecycle): the start
is accepted and waits, pending with its reason, until `rhythm register` or a worker that
has the workflow registers a version; its first claim pins the version current then."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import one_row, spawn_worker, wait_for

from rhythm.cli import main
from rhythm.runtime.client import Client

GREET = 'return `hello ${Inputs.who}`\n'
GREET_V2 = 'return `hi ${Inputs.who}`\n'
WAITING = ("waiting for a version of workflow 'greet': none is registered yet "
           "(run `rhythm register`, or start a worker that has it)")


def rhythm_cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=input, prog_name="rhythm")
    return result.exit_code, result.stdout, result.stderr


def _flows(folder: Path, **sources: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        (folder / f"{name}.flow").write_text(source)
    return folder


def _stop(proc, db_url: str) -> None:
    # (a signal before the worker has installed its handlers would kill it outright)
    wait_for(lambda: one_row(db_url, "SELECT count(*) FROM rhythm.workers")[0], timeout=30,
             what="the worker's registration")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def test_a_start_before_any_worker_waits_then_a_late_worker_runs_it(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    code, out, err = rhythm_cli("start", "greet", "--inputs", '{"who": "ada"}',
                                "--database-url", db_url)
    assert code == 0
    execution_id = out.split(":")[0]
    assert out == f"{execution_id}: workflow greet pending\n"
    assert err == ("rhythm: warning: no workflow named 'greet' is registered yet; it waits "
                   "(pending) until `rhythm register` or a worker that has it registers a "
                   "version\n")

    code, out, _ = rhythm_cli("status", execution_id, "--database-url", db_url)
    assert (code, out.splitlines()[1]) == (0, f"reason: {WAITING}")
    code, out, _ = rhythm_cli("list", "--database-url", db_url)
    header, line = out.splitlines()
    assert header == "ID\tKIND\tNAME\tSTATUS\tCREATED\tKEY\tREASON"
    assert line.startswith(f"{execution_id}\tworkflow\tgreet\tpending\t")
    assert line.endswith(f"\t{WAITING}")
    code, out, _ = rhythm_cli("list", "--json", "--database-url", db_url)
    assert json.loads(out)["executions"][0]["reason"] == WAITING

    worker = spawn_worker(db_url, "--flows", str(_flows(tmp_path / "flows", greet=GREET)),
                          "--poll", "0.2")
    try:
        assert client.run(execution_id).result(timeout=30) == "hello ada"
    finally:
        _stop(worker, db_url)
    version = one_row(db_url, "SELECT version FROM rhythm.workflow_versions "
                              "WHERE name = 'greet'")[0]
    assert client.get(execution_id)["version"] == version  # pinned at its first claim
    code, out, _ = rhythm_cli("status", execution_id, "--database-url", db_url)
    assert "reason:" not in out and "completed" in out


def test_register_without_a_worker_then_start_with_a_typo_says_did_you_mean(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    flows = _flows(tmp_path / "flows", greet=GREET)
    code, out, _ = rhythm_cli("register", str(flows), "--database-url", db_url)
    version = one_row(db_url, "SELECT version FROM rhythm.workflow_versions")[0]
    assert (code, out) == (0, f"registered greet@{version[:12]}\n1 version(s) registered\n")

    code, out, err = rhythm_cli("start", "gret", "--database-url", db_url)
    assert code == 0 and out.endswith(": workflow gret pending\n")
    assert err == ("rhythm: warning: no workflow named 'gret' is registered yet (did you "
                   "mean 'greet'?); it waits (pending) until `rhythm register` or a worker "
                   "that has it registers a version\n")

    # the registered one starts on its version at once, no warning, no worker needed yet
    code, out, err = rhythm_cli("start", "greet", "--inputs", '{"who": "bo"}', "--json",
                                "--database-url", db_url)
    assert (code, err) == (0, "")
    started = json.loads(out)
    assert client.get(started["id"])["version"] == version
    worker = spawn_worker(db_url, "--poll", "0.2")  # no --flows: compiles the stored source
    try:
        assert client.run(started["id"]).result(timeout=30) == "hello bo"
    finally:
        _stop(worker, db_url)


def test_register_releases_waiting_starts_and_the_first_claim_pins_the_current_version(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    waiting = client.start("greet", {"who": "cy"})
    assert waiting.awaiting_version
    code, out, _ = rhythm_cli("register", str(_flows(tmp_path / "v1", greet=GREET)),
                              "--database-url", db_url)
    assert code == 0 and out.endswith("1 version(s) registered; 1 waiting start(s) can run now\n")
    row = client.get(waiting.id)
    assert (row["status"], row["version"], row["run_at"] is not None) == ("pending", None, True)

    code, out, _ = rhythm_cli("register", str(_flows(tmp_path / "v2", greet=GREET_V2)),
                              "--json", "--database-url", db_url)
    assert code == 0 and json.loads(out)["released"] == 0
    worker = spawn_worker(db_url, "--poll", "0.2")
    try:
        assert waiting.result(timeout=30) == "hi cy"  # v2: current when it was claimed
    finally:
        _stop(worker, db_url)


def test_a_waiting_start_cancelled_and_retried_waits_again(
    client: Client, db_url: str
) -> None:
    run = client.start("greet", {"who": "di"}, id="greet-di")
    assert client.cancel(run.id) == "cancelled"
    client.retry(run.id)
    row = client.get(run.id)
    assert (row["status"], row["version"], row["run_at"]) == ("pending", None, None)
    again = client.start("greet", {"who": "di"}, id="greet-di")
    assert again.id == run.id and again.awaiting_version


@pytest.mark.parametrize("args, message", [
    (("register", "nowhere"),
     "rhythm: error: nowhere: not a build folder (index.json), a folder or a .flow file "
     "(see 'rhythm register --help')"),
])
def test_register_bad_paths_are_one_line(db_url: str, args: tuple[str, ...], message: str
                                         ) -> None:
    code, _, err = rhythm_cli(*args, "--database-url", db_url)
    assert (code, err) == (2, message + "\n")


def test_a_registration_during_an_open_start_still_releases_it(
    client: Client, db_url: str
) -> None:
    """A start inside the caller's transaction, not committed yet, while a registration
    of its name runs: the registration waits for it (the name's lock), then releases it.
    (Without the lock it would have finished first and left the start waiting for ever.)"""
    import threading

    import psycopg

    from rhythm.runtime.versions import WorkflowVersions

    versions = WorkflowVersions()
    versions.add_source(GREET, "greet.flow")
    released: list[int] = []

    def register() -> None:
        with Client(db_url) as other:
            released.append(other.register(versions))

    with psycopg.connect(db_url) as conn:
        run = client.start("greet", {"who": "eve"}, connection=conn)
        registering = threading.Thread(target=register)
        registering.start()
        registering.join(1.0)
        assert registering.is_alive(), "the registration did not wait for the open start"
        conn.commit()
    registering.join(10)
    assert released == [1]
    row = client.get(run.id)
    assert (row["status"], row["run_at"] is not None) == ("pending", True)


def test_register_defaults_to_the_build_in_generated(db_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    _flows(tmp_path / "workflows", greet=GREET)

    def rhythm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rhythm", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)

    assert rhythm("build", "-q").returncode == 0
    done = rhythm("register", "--json", "--database-url", db_url)
    assert (done.returncode, done.stderr) == (0, "")
    version = one_row(db_url, "SELECT version FROM rhythm.workflow_versions "
                              "WHERE name = 'greet'")[0]
    assert json.loads(done.stdout) == {"registered": [{"name": "greet", "version": version}],
                                       "released": 0}
    assert any(tmp_path.glob(f"generated/greet__{version[:12]}.py"))


def test_the_async_client_accepts_a_start_that_waits(db_url: str) -> None:
    import asyncio

    from rhythm.runtime.client import AsyncClient

    async def start() -> tuple[bool, str]:
        async with AsyncClient(db_url) as client:
            run = await client.start("greet", {"who": "fay"})
            return run.awaiting_version, await run.status()

    assert asyncio.run(start()) == (True, "pending")
