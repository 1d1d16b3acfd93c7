"""Execution history on Postgres (issue 20, docs/observability.md "History"): the
entries a real worker writes, entry by entry, and reading them back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import flows_worker, wait_for

from rhythm.observe.history import HistoryEntry, read_history, snapshot_at
from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker

ADDER = """
const a = await Task.run("add", { a: Inputs.x, b: 1 })
const b = await Task.run("add", { a: a, b: 10 })
return { a: a, b: b }
"""


@pytest.fixture
def worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    with flows_worker(db_url, tmp_path, {"adder": ADDER}) as w:
        yield w


def history(url: str, execution_id: str) -> list[HistoryEntry]:
    with psycopg.connect(url, autocommit=True) as conn:
        return read_history(conn, execution_id)


def activations(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [e.detail for e in entries if e.kind == "activation"]


def test_each_activation_writes_one_entry_in_its_commit(
    db_url: str, client: Client, worker: Worker
) -> None:
    run = client.start("adder", {"x": 1}, id=f"h-{uuid.uuid4().hex}")
    assert run.result(timeout=10) == {"a": 2, "b": 12}
    entries = history(db_url, run.id)
    acts = [e for e in entries if e.kind == "activation"]
    assert [e.step for e in acts] == [1, 2, 3]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.worker == worker.id for e in acts)
    first, second, third = (e.detail for e in acts)
    assert first["resumed"] is None
    assert first["stopped"]["status"] == "suspended"
    assert first["stopped"]["line"] == 2
    assert first["effects"] == [{"promise": 1, "kind": "task", "name": "add"}]
    assert first["settled"] == []
    assert second["resumed"]["line"] == 2
    assert second["settled"] == [{"promise": 1, "kind": "task", "name": "add", "outcome": "ok"}]
    assert second["stopped"]["line"] == 3
    assert third["stopped"]["status"] == "completed"
    assert third["effects"] == []
    snap = snapshot_at(psycopg.connect(db_url, autocommit=True), run.id, 2)
    assert snap["label"] == second["stopped"]["state"] and snap["vars"]["vars"] == ["a", 2]
    assert acts[2].snapshot_bytes is None
