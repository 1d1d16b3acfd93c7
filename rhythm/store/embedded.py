"""The embedded Postgres server: one per project, under ``<home>`` (default ``.rhythm/``).

Layout of ``<home>``: ``pgdata/`` (the cluster), ``postgres.log``, ``port`` (the port the
server last listened on, reused so URLs stay stable), ``ready`` (pid of the server once
its ``rhythm`` database exists) and ``lock``. The server listens on
127.0.0.1 only (TCP, no unix socket: socket paths are limited to ~107 bytes and project
paths are not), with ``trust`` authentication for the ``postgres`` role, and outlives the
command that started it. Start and stop hold an exclusive ``flock`` on ``<home>/lock``,
so two processes starting at once get one server. The port in use is read back from
Postgres's own ``postmaster.pid``. Nothing here ever deletes data: a stale pid file is
moved aside, never removed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rhythm.config import Settings
from rhythm.errors import EmbeddedPostgresError
from rhythm.store import pgbin

DATABASE = "rhythm"
SUPERUSER = "postgres"
START_TIMEOUT_SECONDS = 60
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class ServerStatus:
    """What ``rhythm db status`` reports about the embedded server."""

    home: Path
    initialised: bool
    running: bool
    pid: int | None
    port: int | None
    started: bool = False  # set by start(): this call started the server

    @property
    def data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def url(self) -> str | None:
        return server_url(self.port) if self.running and self.port else None

    def as_json(self) -> dict[str, Any]:
        return {"mode": "embedded", "running": self.running, "url": self.url,
                "pid": self.pid, "port": self.port, "home": str(self.home),
                "data_dir": str(self.data_dir), "initialised": self.initialised,
                "started": self.started}


def server_url(port: int, database: str = DATABASE) -> str:
    """The URL of a database on the embedded server listening on ``port``."""
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{database}"


def status(settings: Settings) -> ServerStatus:
    """Look without touching anything (no lock, no start)."""
    home = settings.home_dir
    data_dir = home / "pgdata"
    pid, port = _read_pid_file(data_dir)
    running = pid is not None and _is_live_postmaster(pid)
    return ServerStatus(home=home, initialised=(data_dir / "PG_VERSION").is_file(),
                        running=running, pid=pid if running else None,
                        port=port if running else None)


def ensure_running(settings: Settings) -> str:
    """Start the server unless it runs already; return the URL of the Rhythm database.

    A caller never gets a URL while another process is still starting the server: the
    ``ready`` marker is written last, and without it we wait for the start lock."""
    started = start(settings)
    assert started.url is not None
    return started.url


def start(settings: Settings) -> ServerStatus:
    """Initialise (first time) and start the server; a no-op when it is running.

    The result's ``started`` says whether this call started it (exactly one of several
    concurrent callers sees True)."""
    home = settings.home_dir
    current = status(settings)
    if _is_ready(current):
        return current  # fast path: no lock, so it also works in a read-only project
    with _locked(home):
        current = status(settings)
        if _is_ready(current):
            return current
        port = current.port if current.running else _start_server(settings, current)
        from rhythm.store.admin import ensure_database  # psycopg only when really starting

        assert port is not None
        ensure_database(server_url(port, SUPERUSER), DATABASE)
        after = status(settings)
        (home / "ready").write_text(f"{after.pid}\n")
        return dataclasses.replace(after, started=not current.running)


def _is_ready(current: ServerStatus) -> bool:
    """Running, and the process that started it finished (its Rhythm database exists)."""
    return current.running and _read_int(current.home / "ready") == current.pid


def _start_server(settings: Settings, current: ServerStatus) -> int:
    bin_dir = pgbin.find_bin_dir(settings)
    run_as = pgbin.choose_run_as(settings, current.data_dir)
    pgbin.grant_traverse(current.home, run_as)
    pgbin.grant_traverse(bin_dir.parent, run_as)
    if not current.initialised:
        _initdb(settings, bin_dir, current.data_dir, run_as)
    _move_aside_stale_pid_file(current.data_dir)
    return _start_on_free_port(settings, bin_dir, run_as)


def stop(settings: Settings) -> bool:
    """Stop the server (fast shutdown: sessions are closed, data is safe). True if it ran."""
    home = settings.home_dir
    if not home.is_dir():
        return False
    with _locked(home):
        current = status(settings)
        if not current.running:
            return False
        bin_dir = pgbin.find_bin_dir(settings)
        run_as = pgbin.choose_run_as(settings, current.data_dir)
        args = ["-D", str(current.data_dir), "-m", "fast", "-w",
                "-t", str(START_TIMEOUT_SECONDS), "stop"]
        done = pgbin.run_binary(bin_dir, "pg_ctl", args, run_as)
        if done.returncode != 0:
            raise EmbeddedPostgresError(
                f"could not stop the embedded Postgres: {pgbin.last_line(done.stderr)}"
            )
        return True


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    try:
        home.mkdir(parents=True, exist_ok=True)
        handle = (home / "lock").open("a")
    except OSError as err:
        raise EmbeddedPostgresError(
            f"cannot use {home} for the embedded Postgres: {err.strerror};"
            " set RHYTHM_HOME to a writable folder, or RHYTHM_DATABASE_URL to use another server"
        ) from err
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _initdb(settings: Settings, bin_dir: Path, data_dir: Path, run_as: pgbin.RunAs | None) -> None:
    if data_dir.exists() and any(data_dir.iterdir()):
        raise EmbeddedPostgresError(
            f"{data_dir} is not empty but holds no Postgres cluster (no PG_VERSION);"
            " move it aside and run `rhythm db start` again"
        )
    data_dir.mkdir(mode=0o700, exist_ok=True)
    pgbin.give_to(data_dir, run_as)
    args = ["-D", str(data_dir), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8",
            "--no-locale", "--no-instructions",
            "-c", "listen_addresses=127.0.0.1",
            "-c", "unix_socket_directories=",
            "-c", f"max_connections={settings.embedded_max_connections}"]
    done = pgbin.run_binary(bin_dir, "initdb", args, run_as)
    if done.returncode != 0:
        raise EmbeddedPostgresError(
            f"initdb failed for {data_dir}: {pgbin.last_line(done.stderr)}"
        )


def _start_on_free_port(settings: Settings, bin_dir: Path, run_as: pgbin.RunAs | None) -> int:
    home = settings.home_dir
    log = home / "postgres.log"
    log.touch(exist_ok=True)
    pgbin.give_to(log, run_as)
    for attempt in range(PORT_ATTEMPTS):
        port = _choose_port(settings, fresh=attempt > 0)
        args = ["-D", str(home / "pgdata"), "-l", str(log), "-o", f"-p {port}",
                "-w", "-t", str(START_TIMEOUT_SECONDS), "start"]
        log_size = log.stat().st_size
        done = pgbin.run_binary(bin_dir, "pg_ctl", args, run_as, START_TIMEOUT_SECONDS + 30)
        if done.returncode == 0:
            (home / "port").write_text(f"{port}\n")
            return port
        reason = _failure_reason(log, log_size, done.stderr)
        if "already in use" not in reason or settings.embedded_port:
            break
    raise EmbeddedPostgresError(f"the embedded Postgres did not start: {reason} (log: {log})")


def _choose_port(settings: Settings, *, fresh: bool) -> int:
    if settings.embedded_port:
        if not _port_is_free(settings.embedded_port):
            raise EmbeddedPostgresError(
                f"port {settings.embedded_port} on 127.0.0.1 is already in use: set"
                " RHYTHM_EMBEDDED_PORT to a free port, or to 0 to let Rhythm pick one"
            )
        return settings.embedded_port
    remembered = _read_int(settings.home_dir / "port")
    if not fresh and remembered and _port_is_free(remembered):
        return remembered
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Postgres binds with SO_REUSEADDR too, so a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _failure_reason(log: Path, offset: int, stderr: str) -> str:
    """The most telling line Postgres wrote (to its log, from ``offset``) while failing."""
    try:
        with log.open(errors="replace") as handle:
            handle.seek(offset)
            new_lines = handle.read().splitlines()
    except OSError:
        new_lines = []
    for line in reversed(new_lines):
        if "Address already in use" in line:
            return "its port is already in use"
    for line in reversed(new_lines):
        for marker in ("FATAL:", "PANIC:"):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return pgbin.last_line(stderr)


def _read_pid_file(data_dir: Path) -> tuple[int | None, int | None]:
    """(pid, port) from postmaster.pid, which Postgres keeps while it runs."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return None, None
    pid = _to_int(lines[0]) if lines else None
    port = _to_int(lines[3]) if len(lines) > 3 else None
    return pid, port


def _is_live_postmaster(pid: int) -> bool:
    """True when ``pid`` is alive and, where /proc tells us, a postgres process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by someone else (e.g. the server user while we are not root)
    proc = Path("/proc") / str(pid)
    if not proc.is_dir():
        return True  # no /proc (macOS): trust kill()
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        command = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False  # exited between our two looks
    return state != "Z" and b"postgres" in command


def _move_aside_stale_pid_file(data_dir: Path) -> None:
    """A crashed server leaves postmaster.pid; if its pid now belongs to another program,
    Postgres would refuse to start, so we rename the file (never delete it). A pid that
    no longer exists is left alone: Postgres then checks and replaces the file itself."""
    pid, _ = _read_pid_file(data_dir)
    if pid is None or _is_live_postmaster(pid) or not _pid_exists(pid):
        return
    pid_file = data_dir / "postmaster.pid"
    pid_file.rename(data_dir / f"postmaster.pid.stale-{int(time.time())}")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_int(path: Path) -> int | None:
    try:
        return _to_int(path.read_text())
    except OSError as err:
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def _to_int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None
