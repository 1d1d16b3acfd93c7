"""Suite-wide fixtures. Unit tests need no database; database fixtures are in dbfixtures.py.

Fixtures for database tests (each marks its test ``db`` automatically):

- ``pg_server`` (session): the :class:`SessionServer` (``admin_url``, ``url_for(name)``).
- ``db_url``: URL of a fresh database, migrated, private to the test, dropped afterwards.
- ``empty_db``: URL of a fresh database that was never migrated, dropped afterwards.
- ``private_server``: a :class:`PrivateServer` of the test's own that it may stop, restart
  or crash; ``.url`` is a migrated database and survives restarts.
- ``rhythm_home``: an empty folder for an embedded server; any server in it is stopped
  and the folder removed afterwards.

Citus (see citusfixtures.py; each test using them is marked ``citus``):

- ``citus_cluster`` (session): this process's own local :class:`citusfixtures.Cluster`
  (``url`` of the coordinator, whose database is migrated and distributed;
  ``restart_node(i)``); skipped without Citus (failed when CI is set).
- ``citus_url``: that URL with the runtime tables emptied before the test.

Everything lives in one temporary folder per run (``/tmp/rhythm-test-*``: ``server/`` for
the session server, ``homes/`` for per-test servers), removed with every server in it at
the end; a detached watcher does the same if the run is killed. The RHYTHM_* environment
is cleared for the run (so a developer's RHYTHM_DATABASE_URL is never used by mistake)
and RHYTHM_HOME points at the session server's home.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import citusfixtures
import pytest
from dbfixtures import (
    PrivateServer,
    SessionServer,
    discard_home,
    discard_session,
    ensure_template,
    fresh_database,
    make_home,
    make_session_root,
    session_server,
    spawn_reaper,
)

from rhythm.store import admin

DB_FIXTURES = {"pg_server", "template_db", "db_url", "empty_db", "private_server", "rhythm_home"}
CITUS_FIXTURES = {"citus_cluster", "citus_url"}
_ROOT_KEY = "rhythm_test_root"
_root_stash = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    worker_input: dict[str, Any] | None = getattr(config, "workerinput", None)
    if worker_input is not None:  # xdist worker: share the controller's folder and server
        root = Path(worker_input[_ROOT_KEY])
    else:  # the controller, or a run without xdist
        root = make_session_root()
        spawn_reaper(root)
    config.stash[_root_stash] = root
    for name in [k for k in os.environ if k.startswith("RHYTHM_")]:
        if name != "RHYTHM_TEST_DATABASE_URL":
            del os.environ[name]
    os.environ["RHYTHM_HOME"] = str(root / "server")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: every worker shares the controller's folder, hence one server."""
    node.workerinput[_ROOT_KEY] = str(node.config.stash[_root_stash])


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and _root_stash in config.stash:
        discard_session(config.stash[_root_stash])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
        if CITUS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.citus)


@pytest.fixture(scope="session")
def pg_server(pytestconfig: pytest.Config) -> SessionServer:
    return session_server(pytestconfig.stash[_root_stash])


@pytest.fixture(scope="session")
def template_db(pg_server: SessionServer) -> str:
    return ensure_template(pg_server)


@pytest.fixture
def db_url(pg_server: SessionServer, template_db: str) -> Iterator[str]:
    name = fresh_database(pg_server, template_db)
    yield pg_server.url_for(name)
    admin.run_admin(pg_server.admin_url, "drop_database", name=name)


@pytest.fixture
def empty_db(pg_server: SessionServer) -> Iterator[str]:
    """A database that was never migrated."""
    name = f"rhythm_empty_{uuid.uuid4().hex[:12]}"
    admin.run_admin(pg_server.admin_url, "create_database", name=name)
    yield pg_server.url_for(name)
    admin.run_admin(pg_server.admin_url, "drop_database", name=name)


@pytest.fixture
def rhythm_home(pytestconfig: pytest.Config) -> Iterator[Path]:
    home = make_home(pytestconfig.stash[_root_stash], "home-")
    yield home
    discard_home(home)


@pytest.fixture
def private_server(pytestconfig: pytest.Config) -> Iterator[PrivateServer]:
    home = make_home(pytestconfig.stash[_root_stash], "private-")
    try:
        yield PrivateServer(home)
    finally:
        discard_home(home)


@pytest.fixture(scope="session")
def citus_cluster(pytestconfig: pytest.Config) -> Iterator[citusfixtures.Cluster]:
    citusfixtures.require_citus()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    folder = citusfixtures.cluster_dir(pytestconfig.stash[_root_stash], worker)
    cluster = citusfixtures.start_cluster(folder)
    try:
        citusfixtures.prepare(cluster.url)
        yield cluster
    finally:
        citusfixtures.stop_cluster(folder)


@pytest.fixture
def citus_url(citus_cluster: citusfixtures.Cluster) -> str:
    citusfixtures.reset(citus_cluster.url)
    return citus_cluster.url
