"""``upgrade_execution`` (rhythm/upgrade/move.py): the dashboard's "Upgrade to latest",
one execution with the plan and fence of ``rhythm upgrade``; its refusals."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, one_row, register_flow, wait_for

from rhythm.errors import UnknownName
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.database import connect
from rhythm.runtime.partitions import PLAIN
from rhythm.upgrade.move import UpgradeError, upgrade_execution

V1 = ('const go = await Signal.next("go")\n'
      'return { v: 1, go: go }\n')
V2 = V1.replace("v: 1", "v: 2")


def _made(folder: Path) -> Path:
    folder.mkdir()
    return folder


def _waiting(url: str, execution_id: str) -> bool:
    status, idle = one_row(url, "SELECT status, run_at IS NULL FROM rhythm.executions"
                                " WHERE id = %s", (execution_id,))
    return bool(status == "suspended" and idle)


def test_one_execution_moves_and_the_others_stay(db_url: str, tmp_path: Path) -> None:
    with flows_worker(db_url, _made(tmp_path / "w"), {"one": V1}), Client(db_url) as client:
        runs = [client.start("one", {}, id=f"one-{i}") for i in range(2)]
        wait_for(lambda: all(_waiting(db_url, r.id) for r in runs), what="both waiting")
        v2 = register_flow(db_url, tmp_path / "v2", "one", V2)
        conn = connect(db_url)
        try:
            dry = upgrade_execution(conn, PLAIN, SystemClock(), "one-0", dry_run=True)
            assert (dry.outcome, dry.id) == ("compatible", "one-0")
            moved = upgrade_execution(conn, PLAIN, SystemClock(), "one-0")
            assert moved.outcome == "moved"
            with pytest.raises(UpgradeError, match="already"):
                upgrade_execution(conn, PLAIN, SystemClock(), "one-0")
            with pytest.raises(UnknownName):
                upgrade_execution(conn, PLAIN, SystemClock(), "nobody")
        finally:
            conn.close()
        with psycopg.connect(db_url, autocommit=True) as db:
            versions = dict(db.execute("SELECT id, version FROM rhythm.executions"
                                       " WHERE name = 'one'").fetchall())
        assert versions["one-0"] == v2 and versions["one-1"] != v2
        for r in runs:
            client.signal(r.id, "go", 1)
        assert [r.result(timeout=20) for r in runs] == [{"v": 2, "go": 1}, {"v": 1, "go": 1}]
        conn = connect(db_url)
        try:
            with pytest.raises(UpgradeError, match="completed"):
                upgrade_execution(conn, PLAIN, SystemClock(), "one-1")
        finally:
            conn.close()
