"""A local Citus cluster for the Citus test tier (``tests/db/citus``).

One cluster (a coordinator and two workers, ``../shared/citus/cluster.sh``) per pytest
process, so each xdist worker has its own; it lives in ``citus-<worker>/`` under the run's
folder, where :func:`stop_clusters` finds it at the end of the run (and the reaper, if
the run is killed). The coordinator's database is migrated and distributed once per
session; each test starts from empty runtime tables (:func:`reset`).

Citus is a test dependency installed from ``../shared/citus/install.sh`` (``.ci/run``
does it when it runs as root). Without it the tier skips, except under CI (the ``CI``
environment variable set), where a skipped tier would hide that it never ran: it fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from rhythm.store.migrations import migrate
from rhythm.store.partitions import set_layout

REPO = Path(__file__).resolve().parent.parent
CITUS = REPO.parent / "shared" / "citus"
PG_BIN = Path("/usr/lib/postgresql/15/bin")  # what cluster.sh runs
PG_CONFIG = PG_BIN / "pg_config"
PARTITIONS = 4
WORKER_NODES = 2
# Settings of every node: the tier checks behaviour, not durability across power cuts.
NODE_SETTINGS = ("fsync=off",)
# Before each test: the runtime tables emptied, the test's own table (task_log) dropped.
RESET = (
    "TRUNCATE rhythm.executions, rhythm.execution_runs, rhythm.snapshots, rhythm.promises,"
    " rhythm.signals, rhythm.execution_waiters, rhythm.workers, rhythm.task_routes,"
    " rhythm.workflow_versions, rhythm.queues, rhythm.rate_limits, rhythm.schedules,"
    " rhythm.history",
    "DROP TABLE IF EXISTS public.task_log",
)


def citus_missing() -> str | None:
    """Why a Citus cluster cannot start here, or None when it can."""
    if not (CITUS / "cluster.sh").is_file():
        return f"no Citus scripts at {CITUS}"
    if not PG_CONFIG.is_file():
        return f"no PostgreSQL 15 server ({PG_CONFIG} missing)"
    libdir = subprocess.run([str(PG_CONFIG), "--pkglibdir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    if not (Path(libdir) / "citus.so").is_file():
        return f"Citus is not installed (no {libdir}/citus.so): run {CITUS}/install.sh as root"
    return None


def require_citus() -> None:
    """Skip the test when Citus is missing; fail it under CI, which must run the tier."""
    reason = citus_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the Citus tier cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def cluster_dir(root: Path, worker: str) -> Path:
    """The cluster's folder: short, as it is the unix socket directory of every node."""
    folder = root / f"citus-{worker}"
    assert len(str(folder)) <= 80, f"{folder}: too long for a unix socket directory"
    return folder


@dataclass(frozen=True)
class Cluster:
    """A running cluster: ``folder`` (node i in ``n<i>/``, 0 the coordinator) and the
    coordinator's ``url``."""

    folder: Path
    url: str

    def restart_node(self, node: int, down: float = 1.5) -> None:
        """Stop node ``node`` (fast shutdown), leave it down ``down`` seconds, start it."""
        self._pg_ctl(node, "stop", "-m", "fast")
        time.sleep(down)
        self._pg_ctl(node, "start")

    def _pg_ctl(self, node: int, *args: str) -> None:
        home = self.folder / f"n{node}"
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        done = subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(home / "data"),
             "-l", str(home / "log"), "-w", *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
        if done.returncode != 0:
            log = (home / "log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"pg_ctl {' '.join(args)} of node {node} failed: "
                                 f"{done.stderr.strip()}\n{log}")


def start_cluster(folder: Path) -> Cluster:
    """Start a coordinator and two workers in ``folder``."""
    done = subprocess.run(
        ["bash", str(CITUS / "cluster.sh"), "start", str(folder), str(WORKER_NODES),
         *NODE_SETTINGS],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=180, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"cluster.sh start {folder} failed:\n{done.stderr[-3000:]}")
    return Cluster(folder, done.stdout.strip().splitlines()[-1])


def stop_cluster(folder: Path) -> None:
    subprocess.run(["bash", str(CITUS / "cluster.sh"), "stop", str(folder)],
                   capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False)


def stop_clusters(root: Path) -> None:
    """Stop every cluster of the run (normally each stops itself at the end of its session)."""
    for folder in root.glob("citus-*"):
        with contextlib.suppress(Exception):  # clean up the rest whatever happens
            stop_cluster(folder)


def prepare(url: str) -> None:
    """Migrate the coordinator's database, then distribute its tables over PARTITIONS."""
    migrate(url)
    set_layout(url, PARTITIONS, citus=True)


def reset(url: str) -> None:
    """Empty runtime tables, drop the tables a test made: each test starts from nothing."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in RESET:
            conn.execute(statement)
