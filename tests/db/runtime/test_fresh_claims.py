"""A workflow's first activation needs no load. The claim statement says which claimed
workflows have nothing saved yet (no snapshot, so no promises either, and no buffered
signal): their activation starts from the claimed row alone, without a round trip and
without a pooled connection. Anything saved - a snapshot, a signal sent before the
first activation - makes the claim say so, and the activation loads as before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from conftest import one_row
from psycopg.rows import dict_row
from test_resume_with_result import LEASE, Scenario

from rhythm.runtime.activation import ActivationRunner
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.database import connect_keyed, using
from rhythm.runtime.groupcommit import GroupCommit
from rhythm.runtime.jobs import Claim
from rhythm.runtime.sql import Q

SIGNALLED = 'const s = await Signal.next("go")\nreturn s.n\n'


async def _claim_all(conn: psycopg.AsyncConnection[Any]) -> dict[str, Claim]:
    now = datetime.now(UTC)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["claim"], {"part": 0,
            "queue": "default", "limit": 10, "now": now, "worker": "w1",
            "lease_until": now + LEASE, "kinds": ["workflow", "task"], "names": None})
        return {row["id"]: Claim.from_row(row) for row in await cur.fetchall()}


async def _no_connection() -> psycopg.AsyncConnection[Any]:
    raise AssertionError("a first activation with nothing saved asked for a connection")


def _grouped(url: str, tmp_path: Path) -> Scenario:
    """As in the worker: commits go through a group commit and its own connection."""
    s = Scenario(url, tmp_path)
    s.runner = ActivationRunner(s.versions, SystemClock(),
                                group=GroupCommit(lambda: connect_keyed(url)))
    return s


def _status(url: str, execution_id: str) -> tuple[Any, ...]:
    return one_row(
        url, "SELECT e.status, s.activations, e.result FROM rhythm.executions e"
        " LEFT JOIN rhythm.snapshots s ON s.execution_id = e.id WHERE e.id = %s",
        (execution_id,))


def test_the_claim_says_which_workflows_have_nothing_saved(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "signalled.flow").write_text(SIGNALLED)

    async def main() -> tuple[dict[str, bool], dict[str, bool], tuple[str, str, str]]:
        s = _grouped(db_url, tmp_path)
        async with await connect_keyed(db_url) as conn:
            await s.versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                plain = client.start("two_steps").id
                signalled = client.start("signalled").id
                client.signal(signalled, "go", {"n": 5})  # buffered: nobody waits yet
                task = client.queue_task("add", {"a": 1, "b": 1}).id
            first = await _claim_all(conn)
            # The plain one's first activation commits (a snapshot now exists) ...
            assert await s.runner.run(_no_connection, first[plain], local=s.local)
            # ... and the signalled one loads: it finds its signal and ends.
            assert await s.runner.run(using(conn), first[signalled])
            await conn.execute("UPDATE rhythm.executions SET run_at = now() WHERE id = %s",
                               (plain,))
            again = await _claim_all(conn)
        assert s.runner.group is not None
        await s.runner.group.close()
        return ({k: c.fresh for k, c in first.items()}, {k: c.fresh for k, c in again.items()},
                (plain, signalled, task))

    first, again, (plain, signalled, task) = asyncio.run(main())
    assert first == {plain: True, signalled: False, task: False}
    assert again[plain] is False  # woken with a snapshot saved: it loads
    assert _status(db_url, signalled) == ("completed", None, 5)


def test_a_first_activation_with_nothing_saved_commits_without_a_connection(
    db_url: str, tmp_path: Path
) -> None:
    async def main() -> tuple[str, list[Claim]]:
        s = _grouped(db_url, tmp_path)
        async with await connect_keyed(db_url) as conn:
            await s.versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                wf = client.start("two_steps").id
            claim = (await _claim_all(conn))[wf]
            assert claim.fresh and claim.started_at is not None
            assert await s.runner.run(_no_connection, claim, local=s.local)
        assert s.runner.group is not None
        await s.runner.group.close()
        return wf, [c for claims, _ in s.handed for c in claims]

    wf, tasks = asyncio.run(main())
    assert _status(db_url, wf)[:2] == ("suspended", 1)
    assert [(t.name, t.inputs) for t in tasks] == [("add", {"a": 1, "b": 2})]
