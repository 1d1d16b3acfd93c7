"""``rhythm list`` / ``client.list_page`` filters and keyset paging (issue 19, item 4), on a
real Postgres: each filter with rows that must and must not match; every row visited
exactly once across pages, ties in created_at included; bad input one line, exit 2."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from test_runtime_cli import rhythm_cli

from rhythm.errors import BadFilter
from rhythm.runtime.client import AsyncClient, Client
from rhythm.runtime.clock import ManualClock

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# id, kind, name, status, queue, parent, hours before NOW
ROWS = [
    ("w-root", "workflow", "order", "suspended", "default", None, 1),
    ("t-a1", "task", "charge", "completed", "payments", "w-root", 2),
    ("t-a2", "task", "charge", "failed", "payments", "w-root", 3),
    ("t-b1", "task", "ship", "pending", "default", None, 30),
    ("w-old", "workflow", "order", "failed", "default", None, 24 * 10),
    ("x-other", "task", "ship", "cancelled", "slow", None, 5),
]


def _insert(url: str, rows: list[tuple[Any, ...]]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for execution_id, kind, name, status, queue, parent, hours in rows:
            conn.execute(
                "INSERT INTO rhythm.executions (id, kind, name, status, queue, parent_id,"
                " parent_promise, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (execution_id, kind, name, status, queue, parent,
                 1 if parent else None, NOW - timedelta(hours=hours)))


@pytest.fixture
def pinned(db_url: str) -> Iterator[Client]:
    _insert(db_url, ROWS)
    with Client(db_url, clock=ManualClock(NOW)) as client:
        yield client


def _ids(client: Client, **filters: Any) -> set[str]:
    return {r["id"] for r in client.list(**filters)}


ALL = {r[0] for r in ROWS}


@pytest.mark.parametrize(("filters", "expected"), [
    ({"status": "failed"}, {"t-a2", "w-old"}),
    ({"name": "charge"}, {"t-a1", "t-a2"}),
    ({"kind": "workflow"}, {"w-root", "w-old"}),
    ({"queue": "payments"}, {"t-a1", "t-a2"}),
    ({"parent_id": "w-root"}, {"t-a1", "t-a2"}),
    ({"id_prefix": "t-a"}, {"t-a1", "t-a2"}),
    ({"id_prefix": "t-"}, {"t-a1", "t-a2", "t-b1"}),
    ({"since": "4h"}, {"w-root", "t-a1", "t-a2"}),
    ({"until": "4h"}, {"t-b1", "w-old", "x-other"}),
    ({"since": "2d", "until": "2h"}, {"t-a2", "x-other", "t-b1"}),
    ({"since": "2026-06-01T09:30:00Z"}, {"w-root", "t-a1"}),
    ({"since": "2026-06-01T10:30:00+01:00"}, {"w-root", "t-a1"}),  # (09:30 UTC)
    ({"until": "2026-05-25"}, {"w-old"}),  # (no zone: UTC)
    ({"since": "1w"}, ALL - {"w-old"}),
    ({"name": "order", "status": "failed"}, {"w-old"}),
    ({"name": "nobody"}, set()),
    ({}, ALL),
])
def test_each_filter_keeps_what_matches_and_drops_the_rest(
    pinned: Client, filters: dict[str, Any], expected: set[str]
) -> None:
    assert _ids(pinned, **filters) == expected


def test_newest_first_and_the_async_client_agrees(db_url: str, pinned: Client) -> None:
    order = [r["id"] for r in pinned.list()]
    assert order == ["w-root", "t-a1", "t-a2", "x-other", "t-b1", "w-old"]

    async def listed() -> list[str]:
        async with AsyncClient(db_url, clock=ManualClock(NOW)) as client:
            page = await client.list_page(queue="payments", since="1d", limit=1)
            second = await client.list_page(queue="payments", since="1d", after=page.next)
            return [r["id"] for r in page.rows + second.rows] + [str(second.next)]

    assert asyncio.run(listed()) == ["t-a1", "t-a2", "None"]


def _walk(client: Client, limit: int, **filters: Any) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = client.list_page(limit=limit, after=after, **filters)
        seen += [r["id"] for r in page.rows]
        if page.next is None:
            return seen
        after = page.next


def test_keyset_pages_visit_every_row_once_with_ties(db_url: str) -> None:
    """37 rows on 4 distinct created_at values: pages of 5 (and 1, and 37) see each
    row exactly once, in the order of one big page."""
    rows = [(f"t-tie{i:02d}", "task", "tie", "pending", "default", None, i % 4)
            for i in range(37)]
    _insert(db_url, rows)
    with Client(db_url, clock=ManualClock(NOW)) as client:
        whole = [r["id"] for r in client.list(limit=100)]
        assert len(whole) == 37
        assert client.list_page(limit=37).next is None
        for limit in (1, 5, 36):
            walked = _walk(client, limit)
            assert walked == whole, limit
        # with filters, across the same ties
        assert _walk(client, 4, id_prefix="t-tie", since="2h") == [
            i for i in whole if int(i[-2:]) % 4 <= 2]


def test_bad_filters_are_refused_before_any_query(pinned: Client) -> None:
    with pytest.raises(BadFilter, match="--since: 'yesterday' is neither"):
        pinned.list(since="yesterday")
    with pytest.raises(BadFilter, match="--after: 'nope' is not a cursor"):
        pinned.list(after="nope")
    with pytest.raises(BadFilter, match=r"--since .* must be before --until"):
        pinned.list(since="1h", until="2h")
    with pytest.raises(BadFilter, match="--status must be one of"):
        pinned.list(status="done")
    with pytest.raises(BadFilter, match="--limit"):
        pinned.list(limit=0)


def test_cli_list_filters_pages_and_errors(db_url: str, pinned: Client) -> None:
    code, out, err = rhythm_cli("list", "--database-url", db_url, "--queue", "payments",
                                "--limit", "1")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "ID\tKIND\tNAME\tSTATUS\tCREATED\tKEY\tREASON"
    assert [line.split("\t")[0] for line in lines[1:]] == ["t-a1"]
    assert err.startswith("more rows: next page with --after '")
    cursor = err.strip().split("'")[1]
    code, out, err = rhythm_cli("list", "--database-url", db_url, "--queue", "payments",
                                "--limit", "1", "--after", cursor, "--json")
    doc = json.loads(out)
    assert code == 0 and err == ""
    assert [e["id"] for e in doc["executions"]] == ["t-a2"] and doc["next"] is None
    code, out, _ = rhythm_cli("list", "--database-url", db_url, "--parent", "w-root",
                              "--status", "completed", "--json")
    assert [e["id"] for e in json.loads(out)["executions"]] == ["t-a1"]


@pytest.mark.parametrize("args", [
    ("--since", "last tuesday"),
    ("--until", "5 parsecs"),
    ("--after", "2026-01-01T00:00:00"),
    ("--status", "done"),
])
def test_cli_bad_input_is_one_line_and_exit_2(db_url: str, args: tuple[str, ...]) -> None:
    code, out, err = rhythm_cli("list", "--database-url", db_url, *args)
    assert code == 2 and out == ""
    assert err.startswith("rhythm: error: ") and err.count("\n") == 1
