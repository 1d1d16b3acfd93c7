"""The execution page's history panel (timeline, waiting line, variables at a step)
against the history contract (docs/ui.md; /work/briefs/history-contract.md's names).

Until ``rhythm.observe`` is in this Rhythm, the panel says "history not available"
(checked here); the panel's rendering is checked with readers that follow the contract's
signatures and shapes, standing in for ``read_history`` and ``inspect_execution``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import Server, flows_worker, wait_for
from playwright.sync_api import expect
from test_dashboard import APPROVAL, suspended

from rhythm.runtime.client import Client
from rhythm.ui import history

AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Entry:  # the contract's HistoryEntry
    seq: int
    at: datetime
    kind: str
    step: int | None
    worker: str | None
    detail: dict[str, Any]
    snapshot_bytes: int | None = None
    snapshot_truncated: bool = False


@dataclass
class Inspection:  # the contract's Inspection (the fields the panel reads)
    line: int | None
    variables: dict[str, Any]
    pending: list[dict[str, Any]] = field(default_factory=list)


def read_history(conn: Any, execution_id: str) -> list[Entry]:
    first = {"resumed": None, "stopped": {"state": 1, "line": 1, "status": "suspended"},
             "settled": [], "effects": [{"promise": 1, "kind": "task", "name": "add"}]}
    second = {"resumed": {"state": 1, "line": 1},
              "stopped": {"state": 2, "line": 2, "status": "suspended"},
              "settled": [{"promise": 1, "kind": "task", "name": "add", "outcome": "ok"}],
              "effects": [{"promise": 2, "kind": "signal", "name": "approval"}]}
    return [Entry(1, AT, "started", None, None, {}),
            Entry(2, AT, "activation", 1, "w-1", first),
            Entry(3, AT, "activation", 2, "w-1", second)]


def inspect_execution(conn: Any, execution_id: str, at_step: int | None = None
                      ) -> Inspection:
    if at_step == 1:
        return Inspection(1, {}, [{"kind": "task", "name": "add", "promise": 1,
                                   "state": "running", "attempt": 1}])
    return Inspection(2, {"payment": 42, "note": "<img src=x onerror=alert(1)>"},
                      [{"kind": "signal", "name": "approval", "promise": 2}])


@pytest.mark.skipif(importlib.util.find_spec("rhythm.observe") is not None,
                    reason="rhythm.observe is here: the panel shows real history")
def test_without_history_the_panel_says_so(db_url: str, ui: Server, page: Any,
                                           tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        client.start("approve_order", {"amount": 1}, id="order-h")
        wait_for(lambda: suspended(db_url, "order-h"), what="order-h waiting")
        page.goto(ui.url("/execution?id=order-h", token=True))
        expect(page.locator("#history-unavailable")).to_contain_text(
            "history not available")
        expect(page.locator("#status")).to_have_text("suspended")


def test_timeline_waiting_line_and_step_slider(db_url: str, ui: Server, page: Any,
                                               tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "_observe", lambda: (read_history, inspect_execution))
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        client.start("approve_order", {"amount": 41}, id="order-t")
        wait_for(lambda: suspended(db_url, "order-t"), what="order-t waiting")
        page.goto(ui.url("/execution?id=order-t", token=True))
        expect(page.locator("#waiting-line")).to_contain_text('Signal.next("approval")')
        expect(page.locator("#history-line")).to_have_text("2")
        expect(page.locator("#timeline tbody tr")).to_have_count(3)
        expect(page.locator("#timeline")).to_contain_text("settled: task add ok")
        expect(page.locator("#variables")).to_contain_text('"payment": 42')
        expect(page.locator("#variables")).to_contain_text("<img src=x onerror=alert(1)>")
        expect(page.locator("#history-awaits")).to_contain_text("signal approval")
        page.locator("#step").fill("1")  # htmx reloads the panel and the source
        expect(page.locator("#waiting-line")).to_contain_text('Task.run("add"')
        expect(page.locator("#history")).to_contain_text("After step 1 it stopped at line")
        expect(page.locator("#variables")).to_have_text("{}")
        expect(page.locator("#history-awaits")).to_contain_text("task add (state running")
        assert page.locator("main img").count() == 0
