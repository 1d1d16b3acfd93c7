"""Postgres for the test suite: one server per session, one fresh database per test.

The session server is the embedded one, living in a temporary home shared by every
xdist worker (so ``pytest -n 2`` starts one server and the user's ``.rhythm/`` is never
touched), or the server of ``RHYTHM_TEST_DATABASE_URL`` when that is set. A migrated
template database is made once (under an advisory lock, so workers do not race) and
every test gets ``CREATE DATABASE ... TEMPLATE`` of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import citusfixtures

from rhythm.config import Settings, load_settings
from rhythm.store import admin, embedded
from rhythm.store.connect import connect, with_database
from rhythm.store.migrations import discover, migrate
from rhythm.store.queries import QUERIES

TEMPLATE_LOCK_KEY = 0x524859_0001
REPO = Path(__file__).resolve().parent.parent


def make_session_root() -> Path:
    """The run's folder: ``server/`` (the session server) and ``homes/`` (per-test homes)."""
    root = Path(tempfile.mkdtemp(prefix="rhythm-test-"))
    root.chmod(0o755)  # mkdtemp makes 0700; as root the server runs as another user
    (root / "homes").mkdir(mode=0o755)
    return root


def make_home(root: Path, prefix: str = "home-") -> Path:
    """A fresh folder under the session root for an embedded server of one test."""
    home = Path(tempfile.mkdtemp(prefix=prefix, dir=root / "homes"))
    home.chmod(0o755)
    return home


def embedded_settings(home: Path, **overrides: object) -> Settings:
    """Settings for an embedded server in ``home``, ignoring the environment."""
    return load_settings(cwd=home, environ={}, home=str(home), **overrides)


def discard_home(home: Path) -> None:
    """Stop any server living in ``home``, then delete the folder (test data only)."""
    try:
        embedded.stop(embedded_settings(home))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def discard_session(root: Path) -> None:
    """Stop every server of the run (session, per-test, Citus clusters) and delete the
    run's folder."""
    citusfixtures.stop_clusters(root)
    homes = root / "homes"
    for home in [root / "server", *(homes.iterdir() if homes.is_dir() else [])]:
        if home.is_dir():
            with contextlib.suppress(Exception):  # clean up the rest whatever happens
                discard_home(home)
    shutil.rmtree(root, ignore_errors=True)


def spawn_reaper(root: Path) -> None:
    """Start a detached watcher that cleans the run up once this process is gone, so a
    run killed by SIGTERM or SIGKILL leaves no server behind (normal runs clean up in
    pytest_unconfigure and the watcher finds nothing left)."""
    subprocess.Popen(
        [sys.executable, __file__, "--reap", str(os.getpid()), str(root)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, cwd="/",
    )


def _reap(pid: int, root: Path) -> None:
    while root.exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            discard_session(root)
            return
        time.sleep(1)


@dataclass
class SessionServer:
    """The session's Postgres. ``admin_url`` may create and drop databases."""

    admin_url: str
    embedded_home: Path | None

    def url_for(self, database: str) -> str:
        return with_database(self.admin_url, database)


def session_server(root: Path) -> SessionServer:
    external = os.environ.get("RHYTHM_TEST_DATABASE_URL")
    if external:
        return SessionServer(admin_url=external, embedded_home=None)
    home = root / "server"
    status = embedded.start(embedded_settings(home))
    assert status.port is not None
    return SessionServer(embedded.server_url(status.port, "postgres"), embedded_home=home)


def migrations_fingerprint() -> str:
    digest = hashlib.sha256()
    for migration in discover():
        digest.update(migration.path.name.encode() + b"\0" + migration.path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_template(server: SessionServer) -> str:
    """Name of a migrated template database for the current migration files."""
    name = f"rhythm_template_{migrations_fingerprint()}"
    with connect(server.admin_url, autocommit=True) as lock_conn:
        lock_conn.execute(QUERIES["advisory_lock"], {"key": TEMPLATE_LOCK_KEY})
        if not admin.database_exists(server.admin_url, name):
            # Built under a scratch name and renamed, so a half-built template never exists.
            scratch = f"{name}_building"
            admin.run_admin(server.admin_url, "drop_database", name=scratch)
            admin.run_admin(server.admin_url, "create_database", name=scratch)
            migrate(server.url_for(scratch))
            admin.run_admin(server.admin_url, "rename_database", name=scratch, new_name=name)
            admin.run_admin(server.admin_url, "mark_template", name=name)
        lock_conn.execute(QUERIES["advisory_unlock"], {"key": TEMPLATE_LOCK_KEY})
    return name


def fresh_database(server: SessionServer, template: str) -> str:
    name = f"rhythm_test_{uuid.uuid4().hex[:16]}"
    admin.run_admin(server.admin_url, "create_database_from_template", name=name,
                    template=template)
    return name


class PrivateServer:
    """An embedded server of one's own, for tests that stop, restart or crash Postgres.

    ``url`` names a migrated database and stays the same across restarts.
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self.settings = embedded_settings(home)
        self.url = embedded.ensure_running(self.settings)
        migrate(self.url)

    def stop(self) -> None:
        embedded.stop(self.settings)

    def start(self) -> None:
        embedded.start(self.settings)

    def restart(self) -> None:
        self.stop()
        self.start()

    def crash(self) -> None:
        """SIGKILL the postmaster, as a power cut would (its children exit on their own)."""
        status = embedded.status(self.settings)
        assert status.pid is not None, "server is not running"
        os.kill(status.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while embedded.status(self.settings).running and time.monotonic() < deadline:
            time.sleep(0.05)


def run_cli(
    *args: str, home: Path | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``rhythm`` command line in a subprocess with a clean RHYTHM_* env."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    if home is not None:
        child_env["RHYTHM_HOME"] = str(home)
    child_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "rhythm", *args],
        capture_output=True, text=True, env=child_env, timeout=timeout,
        cwd=home or REPO, stdin=subprocess.DEVNULL, check=False,
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--reap"]:
    _reap(int(sys.argv[2]), Path(sys.argv[3]))
