"""Every main page renders in the browser without a script error or a console error
(a Content-Security-Policy violation would be one); the screenshots of
docs/ui.md are these pages (written to ``$UI_SCREENSHOTS`` when it is set, e.g.
``UI_SCREENSHOTS=$PWD/docs/images .venv/bin/pytest tests/browser/test_screenshots.py``;
else to the test's temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runtime_conftest import flows_worker, wait_for
from test_dashboard import APPROVAL, status_of, steps
from uifixtures import Server

from rhythm.runtime.client import Client

PAGES = {
    "ui-executions.png": "/executions",
    "ui-execution.png": "/execution?id=order-1042",
    "ui-queues.png": "/queues",
    "ui-workers.png": "/workers",
    "ui-schedules.png": "/schedules",
}


def test_main_pages_render_cleanly(db_url: str, ui: Server, page: Any,
                                   tmp_path: Path) -> None:
    folder = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        for n in range(1040, 1046):
            client.start("approve_order", {"amount": n % 7 * 10 + 5, "customer": "ada"},
                         id=f"order-{n}")
        for n in range(3):
            client.queue_task("bad_value", {"key": f"card-{n}"}, id=f"charge-{n}")
        client.queue_task("add", {"a": 2, "b": 3}, id="sum-1")
        client.schedules.create("nightly-report", workflow="approve_order",
                                cron="0 3 * * *", inputs={"amount": 0})
        wait_for(lambda: all(steps(client, f"order-{n}") == 2 for n in range(1040, 1046)),
                 what="every order waiting for approval")
        client.signal("order-1040", "approval", {"by": "maria"})
        client.cancel("order-1041")
        wait_for(lambda: status_of(db_url, "charge-2") == "failed", what="failed charges")
        client.signal("order-1042", "note", {"text": "call the customer first"})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.set_viewport_size({"width": 1280, "height": 800})
        page.goto(ui.url("/executions", token=True))
        for name, path in PAGES.items():
            page.goto(ui.url(path))
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(folder / name), full_page=True)
            assert (folder / name).stat().st_size > 5_000
        assert errors == []
