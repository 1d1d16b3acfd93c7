"""Worker start-up with real processes: a database that cannot be reached (retried with
backoff, one log line per attempt, SIGTERM/SIGINT honoured at any moment) and a database
without the schema (exit 3, "run `rhythm migrate`"); every database command checks the
schema version."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest
from conftest import spawn_worker
from dbfixtures import PrivateServer, run_cli

from rhythm.errors import EXIT_ENVIRONMENT

NO_SCHEMA = "rhythm: error: the database has no Rhythm schema: run `rhythm migrate`\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float = 20) -> list[str]:
    """stderr lines of ``proc`` up to the first that contains ``text``."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no line with {text!r} in:\n{''.join(lines)}")


def _exits_within(proc: subprocess.Popen[str], seconds: float) -> int:
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the worker did not exit within {seconds}s") from None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_retries_an_unreachable_database_and_stops_on_a_signal(
    signum: signal.Signals,
) -> None:
    proc = spawn_worker(f"postgresql://postgres@127.0.0.1:{_closed_port()}/nothing")
    lines = _wait_for_line(proc, "cannot connect (attempt 2)")
    first = next(line for line in lines if "(attempt 1)" in line)
    assert "Connection refused" in first and "retrying in 0.5s" in first
    proc.send_signal(signum)
    assert _exits_within(proc, 5) == 0
    assert proc.stderr is not None
    assert "stopped before it could connect" in proc.stderr.read()


def test_worker_stops_on_sigterm_while_a_connection_attempt_hangs() -> None:
    """A server that accepts TCP but never answers: libpq waits for its connect timeout
    (10 s); SIGTERM must not wait for it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        proc = spawn_worker(f"postgresql://postgres@127.0.0.1:{port}/nothing")
        # The signal handlers are set before the first attempt, so a connection that
        # reached the socket means SIGTERM is ours to test (a fixed sleep was not enough
        # on a loaded CI machine: the signal came before the handlers, exit -15).
        silent.settimeout(60)
        peer, _ = silent.accept()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert _exits_within(proc, 5) == 0
        assert time.monotonic() - started < 5
        peer.close()
    assert proc.stderr is not None
    assert "stopped before it could connect" in proc.stderr.read()


def test_worker_with_an_invalid_url_exits_3_at_once() -> None:
    """Waiting does not mend a bad URL: no retry, one line, exit 3."""
    proc = spawn_worker(f"postgresql://127.0.0.1:{_closed_port()}/x?bogus_option=1")
    assert _exits_within(proc, 30) == EXIT_ENVIRONMENT
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert err.startswith("rhythm: error: invalid database URL") and err.count("\n") == 1


def test_worker_on_a_database_without_schema_exits_3_saying_run_migrate(empty_db: str) -> None:
    proc = spawn_worker(empty_db)
    assert _exits_within(proc, 30) == EXIT_ENVIRONMENT
    assert proc.stderr is not None
    assert proc.stderr.read().endswith(NO_SCHEMA)


@pytest.mark.parametrize("command", [
    ("status", "x"), ("list",), ("cancel", "x"), ("retry", "x"), ("signal", "x", "go"),
    ("start", "nobody"),
])
def test_every_database_command_refuses_an_unmigrated_database(
    empty_db: str, command: tuple[str, ...]
) -> None:
    done = run_cli(*command, "--database-url", empty_db)
    assert done.returncode == EXIT_ENVIRONMENT, done.stderr
    assert done.stderr == NO_SCHEMA


def test_worker_stops_on_sigterm_while_the_database_is_down(private_server: PrivateServer) -> None:
    """Postgres goes away under a running worker: its reconnect loops retry, but a
    SIGTERM still stops it within seconds (the first one, not only a second)."""
    proc = spawn_worker(private_server.url, "--poll", "0.2", "--grace", "1")
    try:
        _wait_for_line(proc, " on queues ", timeout=60)  # registered
        private_server.stop()
        time.sleep(1.5)  # its claim, listener and heartbeat have met the closed server
        proc.send_signal(signal.SIGTERM)
        assert _exits_within(proc, 15) == 0
    finally:
        private_server.start()
