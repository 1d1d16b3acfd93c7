"""A group commit whose batch fails leaves no error unread in any future (found by the
chaos test: during a Postgres restart the leader's own future kept the error, and
asyncio logged "Future exception was never retrieved", with a traceback, whenever it was
collected)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from rhythm.errors import DatabaseError
from rhythm.runtime.groupcommit import GroupCommit


async def _refuse() -> Any:
    raise DatabaseError("cannot connect to Postgres: the database system is shutting down")


def test_a_batch_that_cannot_connect_leaves_no_error_unread() -> None:
    unread: list[dict[str, Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, ctx: unread.append(ctx))
        group = GroupCommit(_refuse)
        with pytest.raises(DatabaseError) as caught:
            await group.run({"id": "w", "part": 0})
        del caught  # its traceback reaches the batch; collected below with it
        gc.collect()

    asyncio.run(main())
    assert [ctx["message"] for ctx in unread] == []
