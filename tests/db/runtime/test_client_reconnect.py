"""The client reconnects after a Postgres restart instead of failing its next call: its
kept connection (and its kept listener) is checked after being idle and replaced when
the restart broke it. A private server of the test's own, restarted for real."""

from __future__ import annotations

import asyncio

import pytest
from dbfixtures import PrivateServer

from rhythm.runtime import client as client_module
from rhythm.runtime.client import AsyncClient, Client


@pytest.fixture(autouse=True)
def check_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check a kept connection whatever its idle time (a restart may take less than the
    default second)."""
    monkeypatch.setattr(client_module, "CHECK_IDLE", 0.0)


def test_the_next_call_after_a_restart_succeeds(private_server: PrivateServer) -> None:
    with Client(private_server.url) as client:
        first = client.queue_task("add", {"a": 1})
        with pytest.raises(TimeoutError):  # (no worker) the kept listener is made
            client.wait(first.id, timeout=0.1)
        private_server.restart()
        second = client.queue_task("add", {"a": 2})
        assert client.get(second.id)["status"] == "pending"
        with pytest.raises(TimeoutError):  # the listener came back too
            client.wait(first.id, timeout=0.1)
        assert {row["id"] for row in client.list()} == {first.id, second.id}


def test_the_async_client_reconnects_too(private_server: PrivateServer) -> None:
    async def scenario() -> set[str]:
        async with AsyncClient(private_server.url) as client:
            first = await client.queue_task("add", {"a": 1})
            with pytest.raises(TimeoutError):
                await client.wait(first.id, timeout=0.1)
            await asyncio.to_thread(private_server.restart)
            second = await client.queue_task("add", {"a": 2})
            with pytest.raises(TimeoutError):
                await client.wait(first.id, timeout=0.1)
            return {first.id, second.id} - {row["id"] for row in await client.list()}

    assert asyncio.run(scenario()) == set()
