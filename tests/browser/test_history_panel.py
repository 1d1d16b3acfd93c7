"""The execution page's history panel over the history a real worker writes
(rhythm.observe, issue 20): the timeline, the waiting line in the source, the variables
now and after an earlier step (the step slider), then the signal and its new step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from runtime_conftest import flows_worker, wait_for
from test_dashboard import APPROVAL, steps, suspended
from uifixtures import Server

from rhythm.runtime.client import Client


def test_waiting_line_timeline_and_step_slider(db_url: str, ui: Server, page: Any,
                                             tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 41}, id="order-real")
        wait_for(lambda: suspended(db_url, run.id) and steps(client, run.id) == 2,
                 what="order-real waiting for approval after its second step")
        page.goto(ui.url("/execution?id=order-real", token=True))
        expect(page.locator("#waiting-line")).to_contain_text('Signal.next("approval")')
        expect(page.locator("#history-line")).to_have_text("2")
        expect(page.locator("#timeline tbody tr")).to_have_count(3)  # started, steps 1 and 2
        expect(page.locator("#timeline")).to_contain_text(
            "step 2 resumed at line 1 (task add) -> waiting at line 2: signal approval")
        expect(page.locator("#variables")).to_contain_text('"payment": 42')
        expect(page.locator("#history-awaits")).to_contain_text("signal approval")
        page.locator("#step").fill("1")
        expect(page.locator("#waiting-line")).to_contain_text('Task.run("add"')
        expect(page.locator("#history")).to_contain_text("After step 1 it stopped at line")
        expect(page.locator("#variables")).not_to_contain_text("payment")

        page.goto(ui.url("/execution?id=order-real"))
        page.fill("#signal-name", "approval")
        page.fill("#signal-payload", '{"by": "maria"}')
        page.click("#send-signal")
        assert run.result(timeout=15) == {"charged": 42, "approvedBy": "maria"}
        page.reload()
        expect(page.locator("#status")).to_have_text("completed")
        expect(page.locator("#timeline tbody tr")).to_have_count(5)  # ... a signal, step 3
        expect(page.locator("#timeline")).to_contain_text(
            "step 3 resumed at line 2 (signal approval) -> completed")


def test_a_workflow_not_run_yet_has_no_history(db_url: str, ui: Server, page: Any,
                                               tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        client.start("approve_order", {"amount": 1}, id="order-parked", queue="parked")
        page.goto(ui.url("/execution?id=order-parked", token=True))
        expect(page.locator("#status")).to_have_text("pending")
        expect(page.locator("#history-unavailable")).to_have_text(
            "no history yet: the workflow has not run a step")
        expect(page.locator("#source")).to_contain_text('Signal.next("approval")')
