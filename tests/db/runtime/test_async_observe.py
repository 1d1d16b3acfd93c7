"""``AsyncClient.history``, ``inspect``, ``upgrade`` and ``fork`` (issue 20 leftovers):
the sync client's signatures, the same operations (rhythm.runtime.operations) run by the
async driver - so the same answers, and the same one-line errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import flows_worker, register_flow, wait_for
from test_upgrades import V2, _start_at_awaits

from rhythm.errors import UnknownName
from rhythm.observe.history import NoSnapshot
from rhythm.runtime.client import AsyncClient, Client
from rhythm.upgrade.fork import ForkRefused

RACER = """const note = "waiting"
const got = await Promise.race([Signal.next("go"), Timer.delay(60)])
return got
"""


def test_async_history_and_inspect_answer_as_the_sync_client_does(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    with flows_worker(db_url, tmp_path, {"racer": RACER}):
        run = client.start("racer", id=f"racer-{uuid.uuid4().hex[:8]}")
        wait_for(lambda: client.get(run.id)["status"] == "suspended", what="suspended")
        client.signal(run.id, "other", 1)  # (buffered: an entry, and a pending wait stays)

        async def read() -> tuple[Any, ...]:
            async with AsyncClient(db_url) as aclient:
                entries = await aclient.history(run.id)
                now = await aclient.inspect(run.id)
                after_1 = await aclient.inspect(run.id, at=1)
                with pytest.raises(NoSnapshot, match="has no step 9"):
                    await aclient.inspect(run.id, at=9)
                with pytest.raises(UnknownName, match="no execution with id 'nope'"):
                    await aclient.history("nope")
                return entries, now, after_1

        entries, now, after_1 = asyncio.run(read())
        assert entries == client.history(run.id)
        assert now.to_json() == client.inspect(run.id).to_json()
        assert after_1.to_json() == client.inspect(run.id, at=1).to_json()
    assert [e.kind for e in entries] == ["started", "activation", "signal"]
    assert (now.status, now.step, now.line, now.variables) == (
        "suspended", 1, 2, {"note": "waiting"})
    assert [p["kind"] for p in now.pending] == ["signal", "timer"]


def test_async_upgrade_and_fork(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    """A dry run, the move (each with its `upgraded` entry), then a fork of a moved
    execution from its current snapshot; refusals are the sync client's errors."""
    with Client(db_url) as client:
        v1, ids = _start_at_awaits(db_url, tmp_path, client, "aup", {"go": 2})
        v2 = register_flow(db_url, tmp_path / "v2", "order", V2)

        async def scenario() -> tuple[Any, ...]:
            async with AsyncClient(db_url) as aclient:
                dry = await aclient.upgrade("order", dry_run=True, generated=None)
                report = await aclient.upgrade("order", generated=None)
                again = await aclient.upgrade("order", generated=None)
                made = await aclient.fork(ids["go"][0], id="aup-fork", generated=None)
                with pytest.raises(UnknownName, match="no workflow execution"):
                    await aclient.fork("nope", generated=None)
                with pytest.raises(ForkRefused, match="is taken"):
                    await aclient.fork(ids["go"][0], id="aup-fork", generated=None)
                return dry, report, again, made, await made.status()

        dry, report, again, made, status = asyncio.run(scenario())
        assert (dry.dry_run, dry.to_version, dry.count("compatible")) == (True, v2, 2)
        assert report.count("moved") == 2 and again.outcomes == []
        for eid in ids["go"]:
            assert client.get(eid)["version"] == v2
            upgraded = client.history(eid)[-1]
            assert (upgraded.kind, upgraded.detail["from_version"],
                    upgraded.detail["to_version"]) == ("upgraded", v1, v2)
        assert (made.id, status) == ("aup-fork", "suspended")
        assert client.get("aup-fork")["options"]["forked_from"] == ids["go"][0]
        forked = client.history("aup-fork")
        assert [(e.kind, e.detail) for e in forked] == [
            ("forked", {"from_id": ids["go"][0], "from_step": forked[0].detail["from_step"]})]

