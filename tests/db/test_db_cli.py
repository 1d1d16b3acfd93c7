"""`rhythm db start|status|url|stop` through the real command line, in throwaway homes."""

from __future__ import annotations

import json
import os
import pwd
import socket
import stat
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from dbfixtures import REPO, PrivateServer, run_cli

from rhythm.errors import EXIT_ENVIRONMENT, EXIT_FAILED


def _status(home: Path) -> dict[str, object]:
    done = run_cli("db", "status", "--json", home=home)
    return dict(json.loads(done.stdout))


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rhythm: error: ")
    assert "Traceback" not in done.stderr
    return lines[0]


def test_start_status_url_stop(rhythm_home: Path) -> None:
    before = run_cli("db", "status", "--json", home=rhythm_home)
    assert before.returncode == EXIT_FAILED
    assert json.loads(before.stdout)["initialised"] is False

    started = run_cli("db", "start", "--json", home=rhythm_home)
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    assert info["running"] and info["started"]

    status = _status(rhythm_home)
    assert status["running"] is True and status["url"] == info["url"]
    url = run_cli("db", "url", home=rhythm_home)
    assert url.stdout.strip() == info["url"]
    with psycopg.connect(str(info["url"])) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("rhythm",)

    again = run_cli("db", "start", "--json", home=rhythm_home)
    assert json.loads(again.stdout)["started"] is False

    stopped = run_cli("db", "stop", home=rhythm_home)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    after = run_cli("db", "status", home=rhythm_home)
    assert after.returncode == EXIT_FAILED and after.stdout.startswith("stopped")
    assert run_cli("db", "stop", home=rhythm_home).stdout.strip().endswith("not running")


def test_server_outlives_the_command_and_keeps_its_port(rhythm_home: Path) -> None:
    first = json.loads(run_cli("db", "start", "--json", home=rhythm_home).stdout)
    assert _status(rhythm_home)["pid"] == first["pid"]  # still alive after the CLI exited
    run_cli("db", "stop", home=rhythm_home)
    second = json.loads(run_cli("db", "start", "--json", home=rhythm_home).stdout)
    assert second["url"] == first["url"]


def test_concurrent_starts_share_one_server(rhythm_home: Path) -> None:
    command = [sys.executable, "-m", "rhythm", "db", "start", "--json"]
    env = {**os.environ, "RHYTHM_HOME": str(rhythm_home)}
    racers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
              for _ in range(3)]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in racers]
    assert all(p.returncode == 0 for p in racers)
    assert len({r["pid"] for r in results}) == 1
    assert sum(bool(r["started"]) for r in results) == 1


def test_restart_after_a_crash(private_server: PrivateServer) -> None:
    private_server.crash()
    pid_file = private_server.home / "pgdata" / "postmaster.pid"
    assert pid_file.exists()  # the crash left it behind
    assert run_cli("db", "status", home=private_server.home).returncode == EXIT_FAILED
    done = run_cli("db", "start", home=private_server.home)
    assert done.returncode == 0, done.stderr
    with psycopg.connect(private_server.url) as conn:  # data survived
        assert conn.execute("SELECT count(*) FROM rhythm.installation").fetchone() == (1,)


def test_stale_pid_file_naming_another_live_process(private_server: PrivateServer) -> None:
    private_server.stop()
    data_dir = private_server.home / "pgdata"
    sleeper = subprocess.Popen(["sleep", "60"])  # a live process that is not Postgres
    try:
        (data_dir / "postmaster.pid").write_text(f"{sleeper.pid}\n{data_dir}\n0\n5432\n")
        assert run_cli("db", "status", home=private_server.home).returncode == EXIT_FAILED
        done = run_cli("db", "start", home=private_server.home)
        assert done.returncode == 0, done.stderr
    finally:
        sleeper.kill()
        sleeper.wait()
    assert list(data_dir.glob("postmaster.pid.stale-*")), "moved aside, not deleted"
    with psycopg.connect(private_server.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_port_in_use_is_one_clear_line(rhythm_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli("db", "start", home=rhythm_home, env={"RHYTHM_EMBEDDED_PORT": str(port)})
    assert done.returncode == EXIT_ENVIRONMENT
    assert f"port {port}" in _one_error_line(done) and "in use" in done.stderr


def test_remembered_port_taken_by_someone_else_picks_another(rhythm_home: Path) -> None:
    first = json.loads(run_cli("db", "start", "--json", home=rhythm_home).stdout)
    run_cli("db", "stop", home=rhythm_home)
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port may be in TIME_WAIT
        taken.bind(("127.0.0.1", first["port"]))
        taken.listen()
        second = run_cli("db", "start", "--json", home=rhythm_home)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["port"] != first["port"]


def test_unusable_home_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("user data\n")
    done = run_cli("db", "start", env={"RHYTHM_HOME": str(blocker / "home")})
    assert done.returncode == EXIT_ENVIRONMENT
    assert "RHYTHM_HOME" in _one_error_line(done)
    assert blocker.read_text() == "user data\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder_is_one_clear_line(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        done = run_cli("db", "start", env={"RHYTHM_HOME": str(tmp_path / ".rhythm")})
    finally:
        tmp_path.chmod(0o755)
    assert done.returncode == EXIT_ENVIRONMENT
    assert "Permission denied" in _one_error_line(done)


def test_missing_binaries_is_one_clear_line(rhythm_home: Path, tmp_path: Path) -> None:
    done = run_cli("db", "start", home=rhythm_home, env={"RHYTHM_POSTGRES_BIN": str(tmp_path)})
    assert done.returncode == EXIT_ENVIRONMENT
    assert "binaries missing" in _one_error_line(done)


def test_configured_url_turns_the_embedded_server_off(rhythm_home: Path) -> None:
    url = "postgresql://someone@127.0.0.1:1/elsewhere"
    env = {"RHYTHM_DATABASE_URL": url}
    assert run_cli("db", "url", home=rhythm_home, env=env).stdout.strip() == url
    status = run_cli("db", "status", "--json", home=rhythm_home, env=env)
    assert json.loads(status.stdout)["mode"] == "external"
    done = run_cli("db", "start", home=rhythm_home, env=env)
    assert done.returncode == EXIT_ENVIRONMENT and "database URL is configured" in done.stderr
    assert not (rhythm_home / "pgdata").exists()


def test_cli_runs_from_the_repository() -> None:
    assert run_cli("--help").returncode == 0
    assert (REPO / "migrations" / "0001_schema_meta.sql").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to a system user")
def test_as_root_the_server_runs_as_an_unprivileged_user(rhythm_home: Path) -> None:
    info = json.loads(run_cli("db", "start", "--json", home=rhythm_home).stdout)
    server_user = pwd.getpwnam("rhythm-postgres")
    assert (rhythm_home / "pgdata").stat().st_uid == server_user.pw_uid
    assert Path(f"/proc/{info['pid']}").stat().st_uid == server_user.pw_uid
    assert (rhythm_home / "lock").stat().st_uid == 0  # only the cluster is handed over


def test_grant_traverse_adds_only_the_search_bit(tmp_path: Path) -> None:
    from rhythm.store.pgbin import RunAs, grant_traverse

    closed = tmp_path / "closed"
    inner = closed / "inner"
    inner.mkdir(parents=True)
    closed.chmod(0o700)
    stranger = RunAs(name="nobody", uid=65534, gid=65534)
    grant_traverse(inner, stranger)
    assert stat.S_IMODE(closed.stat().st_mode) == 0o701


def test_a_start_interrupted_before_the_ready_marker_is_finished(rhythm_home: Path) -> None:
    info = json.loads(run_cli("db", "start", "--json", home=rhythm_home).stdout)
    # As if the starting process died after pg_ctl but before creating the database.
    (rhythm_home / "ready").unlink()
    admin_url = str(info["url"]).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE rhythm")
    done = run_cli("db", "url", home=rhythm_home)
    assert done.returncode == 0 and done.stdout.strip() == info["url"]
    with psycopg.connect(str(info["url"])) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert (rhythm_home / "ready").read_text().strip() == str(info["pid"])
