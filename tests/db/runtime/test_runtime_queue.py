"""The queue: enqueue, batched claims, idempotent ids, the caller's transaction, bad input."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import pq

from rhythm.errors import DatabaseError, InputError, UnknownName
from rhythm.runtime.client import BACKSTOP_POLL, AsyncClient, Client
from rhythm.runtime.sql import Q


def claim(url: str, limit: int, queue: str = "default", now: datetime | None = None) -> list:
    now = now or datetime.now(UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(Q["claim"], {"part": 0,
            "queue": queue, "limit": limit, "now": now, "worker": "test",
            "lease_until": now + timedelta(seconds=30), "kinds": ["task"], "names": None,
        }).fetchall()


def test_queue_task_creates_a_pending_row(client: Client) -> None:
    run = client.queue_task("add", {"a": 1, "b": 2}, queue="q1", priority=3)
    row = client.get(run.id)
    assert (row["kind"], row["name"], row["status"], row["queue"], row["priority"]) == (
        "task", "add", "pending", "q1", 3)
    assert row["inputs"] == {"a": 1, "b": 2}
    assert run.status() == "pending"


def test_claims_are_batched_and_never_overlap(db_url: str, client: Client) -> None:
    ids = {client.queue_task("add", {"a": i}).id for i in range(40)}
    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: claim(db_url, 7), range(8)))
    claimed = [row[0] for batch in batches for row in batch]
    assert len(claimed) == len(set(claimed)) == 40
    assert set(claimed) == ids
    assert claim(db_url, 10) == []


def test_claim_takes_higher_priority_then_older_first(db_url: str, client: Client) -> None:
    low = client.queue_task("add", {"a": 1}).id
    high = client.queue_task("add", {"a": 2}, priority=5).id
    later = client.queue_task("add", {"a": 3}).id
    assert [r[0] for r in claim(db_url, 3)] == [high, low, later]


def test_claim_increments_the_fencing_token(db_url: str, client: Client) -> None:
    run = client.queue_task("add", {"a": 1})
    (row,) = claim(db_url, 1)
    assert row[0] == run.id
    assert client.get(run.id)["claim_token"] == 1
    assert client.get(run.id)["status"] == "running"


def test_a_row_due_later_is_not_claimed_early(db_url: str, client: Client) -> None:
    client.queue_task("add", {"a": 1})
    assert claim(db_url, 1, now=datetime.now(UTC) - timedelta(minutes=1)) == []
    assert len(claim(db_url, 1)) == 1


def test_queue_with_an_existing_id_returns_the_existing_execution(client: Client) -> None:
    first = client.queue_task("add", {"a": 1}, id="order-1")
    again = client.queue_task("add", {"a": 99}, id="order-1")
    assert first.id == again.id == "order-1"
    assert client.get("order-1")["inputs"] == {"a": 1}
    assert len(client.list()) == 1


def test_a_cancelled_id_is_started_again_as_a_new_run(db_url: str, client: Client) -> None:
    client.queue_task("add", {"a": 1}, id="order-2")
    assert client.cancel("order-2") == "cancelled"
    client.queue_task("add", {"a": 2}, id="order-2")
    row = client.get("order-2")
    assert (row["status"], row["run_no"], row["inputs"]) == ("pending", 2, {"a": 2})
    with psycopg.connect(db_url) as conn:
        history = conn.execute("SELECT run_no, status FROM rhythm.execution_runs").fetchall()
    assert history == [(1, "cancelled")]


def test_an_id_used_by_another_task_is_refused(client: Client) -> None:
    client.queue_task("add", {"a": 1}, id="x")
    with pytest.raises(InputError, match="already used by task 'add'"):
        client.queue_task("flaky", {}, id="x")


def test_enqueue_commits_with_the_callers_transaction(db_url: str, client: Client) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("CREATE TABLE public.orders (id text)")
        conn.execute("INSERT INTO public.orders VALUES ('o-1')")
        run = client.queue_task("add", {"a": 1}, connection=conn)
        with psycopg.connect(db_url) as other:  # not visible before the caller commits
            seen = other.execute(Q["get_execution"], {"part": 0, "id": run.id}).fetchall()
        assert seen == []
        conn.commit()
    assert client.get(run.id)["status"] == "pending"


def test_enqueue_rolls_back_with_the_callers_transaction(db_url: str, client: Client) -> None:
    with psycopg.connect(db_url) as conn:
        run = client.queue_task("add", {"a": 1}, connection=conn)
        conn.rollback()
    with pytest.raises(UnknownName):
        client.get(run.id)


def test_enqueue_in_an_autocommit_connections_transaction_rolls_back_with_it(
    db_url: str, client: Client
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn, conn.transaction(force_rollback=True):
        run = client.queue_task("add", {"a": 1}, connection=conn)
    with pytest.raises(UnknownName):
        client.get(run.id)


def round_trips(conn: psycopg.Connection, action: Callable[[], object]) -> list[str]:
    """What ``action`` sent on ``conn``, one entry per round trip (libpq's protocol trace:
    a Sync ends an extended-protocol statement, a Query is a simple one)."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        messages = [line.split("\t") for line in trace.read().splitlines()]
    sent = [m for m in messages if m[0] == "F" and len(m) > 2]
    return [m[3].strip() if m[2] == "Query" else "statement"
            for m in sent if m[2] in ("Sync", "Query")]


def test_an_enqueue_on_an_idle_autocommit_connection_is_one_round_trip(
    db_url: str, client: Client
) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:

        def enqueue() -> object:
            return client.queue_task("add", {"a": 1}, id="one", connection=conn)

        assert round_trips(conn, enqueue) == ["statement"]  # the insert commits on its own
        # The id is now taken: the insert wrote nothing, and the look at the existing
        # execution (locked, in case it must start again) is a transaction of its own.
        assert round_trips(conn, enqueue) == ["statement", '"BEGIN"', "statement", '"COMMIT"']
    assert client.get("one")["run_no"] == 1


def idle_listeners(db_url: str) -> list[int]:
    """Sessions of this database sitting idle after the clients' UNLISTEN."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND state = 'idle' AND query = %s", [Q["unlisten_done"]]).fetchall()
    return [row[0] for row in rows]


def test_waits_reuse_one_connection_that_listens_only_while_waiting(
    db_url: str, client: Client
) -> None:
    seen = []
    for i in range(2):
        run = client.queue_task("add", {"a": i})
        client.cancel(run.id)
        assert client.wait(run.id, timeout=10)["status"] == "cancelled"
        seen.append(idle_listeners(db_url))
    assert len(seen[0]) == 1 and seen[1] == seen[0]  # one server process, kept


def test_two_threads_wait_on_one_client_at_once(client: Client) -> None:
    first, second = (client.queue_task("add", {"a": i}) for i in range(2))
    with ThreadPoolExecutor(2) as pool:  # one on the client's listener, one on its own
        waiting_first = pool.submit(client.wait, first.id, 30)
        waiting_second = pool.submit(client.wait, second.id, 30)
        time.sleep(0.2)
        client.cancel(second.id)  # the second wait ends while the first goes on
        assert waiting_second.result(timeout=4)["status"] == "cancelled"
        assert not waiting_first.done()
        client.cancel(first.id)
        assert waiting_first.result(timeout=4)["status"] == "cancelled"


def test_concurrent_async_waits_are_each_woken_by_their_execution(db_url: str) -> None:
    async def main() -> list[str]:
        async with AsyncClient(db_url) as client:
            runs = [await client.queue_task("add", {"a": i}) for i in range(3)]
            waits = asyncio.gather(*(client.wait(run.id, timeout=30) for run in runs))
            await asyncio.sleep(0.2)  # all three listening: one on the client's listener
            for run in runs:
                await client.cancel(run.id)
            return [row["status"] for row in await waits]

    started = time.monotonic()
    assert asyncio.run(main()) == ["cancelled"] * 3
    assert time.monotonic() - started < BACKSTOP_POLL  # woken by NOTIFY, not the poll


@pytest.mark.parametrize("inputs, message", [
    ({"x": float("nan")}, "NaN and Infinity"),
    ({"x": {1, 2}}, "not JSON"),
    ({"x": "a\x00b"}, "NUL character"),
    ({"x": "a\ud800b"}, "lone surrogate"),
    ({"x": "y" * (1 << 20)}, "over the limit"),
    ([1, 2], "must be a JSON object"),
])
def test_bad_inputs_are_refused_and_nothing_is_stored(
    client: Client, inputs: object, message: str
) -> None:
    client.queue_task("add", {"a": 1}, id="kept")
    with pytest.raises(InputError, match=message):
        client.queue_task("add", inputs)  # type: ignore[arg-type]
    assert [r["id"] for r in client.list()] == ["kept"]


def test_cancel_and_retry_errors_are_clear(client: Client) -> None:
    with pytest.raises(UnknownName, match="no execution with id 'nope'"):
        client.cancel("nope")
    run = client.queue_task("add", {"a": 1})
    with pytest.raises(InputError, match="only failed or cancelled"):
        client.retry(run.id)


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot connect"):
        Client("postgresql://nobody@127.0.0.1:1/none").queue_task("add", {})


def test_task_routes_pick_the_declared_queue(db_url: str, client: Client) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(Q["register_task_routes"], {
            "routes": json.dumps([{"name": "billing_task", "queue": "billing"}]),
            "now": datetime.now(UTC),
        })
    assert client.get(client.queue_task("billing_task", {}).id)["queue"] == "billing"
    assert client.get(client.queue_task("other_task", {}).id)["queue"] == "default"
