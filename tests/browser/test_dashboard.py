"""The dashboard in a real browser: the operator's paths end to end, against a real
worker and database (tests/browser/conftest.py)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import expect
from runtime_conftest import flows_worker, wait_for
from uifixtures import Server

from rhythm.runtime.client import Client

APPROVAL = ('const payment = await Task.run("add", { a: Inputs.amount, b: 1 })\n'
            'const approval = await Signal.next("approval")\n'
            'return { charged: payment, approvedBy: approval.by }\n')


def status_of(db_url: str, execution_id: str) -> str:
    with Client(db_url) as client:
        return str(client.get(execution_id)["status"])


def steps(client: Client, execution_id: str) -> int:
    """How many activations the execution's history records."""
    return sum(entry.kind == "activation" for entry in client.history(execution_id))


def suspended(db_url: str, execution_id: str) -> bool:
    return status_of(db_url, execution_id) == "suspended"


def test_list_filter_open_signal_complete(db_url: str, ui: Server, page: Any,
                                          tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 41}, id="order-1")
        client.start("approve_order", {"amount": 1}, id="order-2")
        client.queue_task("add", {"a": 1, "b": 2}, id="sum-1")
        wait_for(lambda: suspended(db_url, run.id) and steps(client, run.id) == 2,
                 what="order-1 waiting for approval")

        page.goto(ui.url("/executions", token=True))
        expect(page.locator("table.list")).to_contain_text("order-1")
        expect(page.locator("table.list")).to_contain_text("sum-1")
        page.select_option("select[name=kind]", "workflow")
        page.fill("input[name=id_prefix]", "order-1")
        page.click("#filters button[type=submit]")
        expect(page.locator("table.list tbody tr")).to_have_count(1)
        expect(page.locator("table.list")).not_to_contain_text("sum-1")

        page.click("a.id:text('order-1')")
        expect(page.locator("#status")).to_have_text("suspended")
        expect(page.locator("#awaits")).to_contain_text("waiting for signal 'approval'")
        expect(page.locator("#inputs")).to_contain_text('"amount": 41')
        expect(page.locator("#children")).to_contain_text("add")
        expect(page.locator("#waiting-line")).to_have_text(
            'const approval = await Signal.next("approval")')

        page.fill("#signal-name", "approval")
        page.fill("#signal-payload", "{not json")
        page.click("#send-signal")  # refused in the page, before anything is sent
        expect(page.locator("#payload-error")).to_contain_text("not JSON")
        assert suspended(db_url, run.id)

        page.fill("#signal-payload", '{"by": "maria"}')
        page.click("#send-signal")
        expect(page.locator(".flash")).to_have_text("Signal sent.")
        assert run.result(timeout=15) == {"charged": 42, "approvedBy": "maria"}
        page.reload()
        expect(page.locator("#status")).to_have_text("completed")
        expect(page.locator("#result")).to_contain_text('"approvedBy": "maria"')


def test_server_refuses_a_bad_json_payload(db_url: str, ui: Server, page: Any,
                                            tmp_path: Path) -> None:
    """The server checks the payload again (a script-less client, an edited form)."""
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 1}, id="order-3")
        wait_for(lambda: suspended(db_url, run.id), what="order-3 waiting")
        page.goto(ui.url("/execution?id=order-3", token=True))
        page.fill("#signal-name", "approval")
        page.evaluate("document.querySelector('#signal-payload').value = '{oops'")
        page.eval_on_selector("#signal-form", "f => HTMLFormElement.prototype.submit.call(f)")
        expect(page.locator("#action-error")).to_contain_text("not JSON")
        assert suspended(db_url, run.id)


def test_cancel_from_the_execution_page(db_url: str, ui: Server, page: Any,
                                        tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 5}, id="order-c")
        wait_for(lambda: suspended(db_url, run.id), what="order-c waiting")
        page.goto(ui.url("/execution?id=order-c", token=True))
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#cancel")
        expect(page.locator(".flash")).to_have_text("Cancel requested.")
        wait_for(lambda: status_of(db_url, run.id) == "cancelled", what="order-c cancelled")
        page.reload()
        expect(page.locator("#status")).to_have_text("cancelled")
        expect(page.locator("#retry")).to_be_visible()
        expect(page.locator("#cancel")).to_have_count(0)


def test_bulk_retry_says_how_many_then_retries_them(db_url: str, ui: Server, page: Any,
                                                    tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        ids = [client.queue_task("bad_value", {"key": f"k{i}"}, id=f"bad-{i}").id
               for i in range(3)]
        client.queue_task("add", {"a": 1}, id="fine")
        for execution_id in ids:
            wait_for(lambda i=execution_id: status_of(db_url, i) == "failed", what="failed")
        page.goto(ui.url("/execution?id=bad-0", token=True))
        expect(page.locator("#error")).to_contain_text('"message": "bad card"')
        expect(page.locator("pre.traceback")).to_contain_text("ValueError: bad card")
        page.goto(ui.url("/executions"))
        page.select_option("select[name=status]", "failed")
        page.fill("input[name=name]", "bad_value")
        page.click("#filters button[type=submit]")
        expect(page.locator("table.list tbody tr")).to_have_count(3)
        page.click("#bulk-retry")
        expect(page.locator("#bulk-count")).to_contain_text(
            "3 executions match; 3 of them would be retried")
        assert {status_of(db_url, i) for i in ids} == {"failed"}  # nothing done yet
        page.click("#bulk-confirm")
        expect(page.locator("#bulk-done")).to_contain_text("3 of 3 matching executions retried")
        with psycopg.connect(db_url) as conn:
            runs = conn.execute("SELECT count(*) FROM rhythm.executions "
                                "WHERE id LIKE 'bad-%%' AND run_no = 2").fetchone()
        assert runs == (3,)


def test_bulk_cancel_of_the_filtered_set(db_url: str, ui: Server, page: Any) -> None:
    """No worker serves queue "parked": its rows stay pending until cancelled."""
    with Client(db_url) as client:
        for i in range(4):
            client.queue_task("add", {"a": i}, id=f"park-{i}", queue="parked")
        client.queue_task("add", {"a": 9}, id="elsewhere", queue="other")
        page.goto(ui.url("/executions?queue=parked", token=True))
        page.click("#bulk-cancel")
        expect(page.locator("#bulk-count")).to_contain_text(
            "4 executions match; 4 of them would be cancelled")
        page.click("#bulk-confirm")
        expect(page.locator("#bulk-done")).to_contain_text("4 of 4 matching executions")
        assert {status_of(db_url, f"park-{i}") for i in range(4)} == {"cancelled"}
        assert status_of(db_url, "elsewhere") == "pending"


HOSTILE = '<script>window.pwned = 1</script>"><img src=x onerror="window.pwned = 2">'


def test_hostile_values_render_inert(db_url: str, ui: Server, page: Any,
                                     tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 2, "note": HOSTILE}, id="x" + HOSTILE)
        wait_for(lambda: suspended(db_url, run.id), what="hostile order waiting")
        client.signal(run.id, "other" + HOSTILE, {"evil": HOSTILE})  # buffered
        client.queue_task(HOSTILE, {"evil": HOSTILE}, queue="q" + HOSTILE)
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))

        page.goto(ui.url("/executions", token=True))
        expect(page.locator("table.list")).to_contain_text(HOSTILE)
        page.click(f"a.id:text-is('x{HOSTILE}')")
        expect(page.locator("#execution-id")).to_have_text("x" + HOSTILE)
        expect(page.locator("#inputs")).to_contain_text(HOSTILE.replace('"', '\\"'))
        expect(page.locator("#buffered")).to_contain_text("other" + HOSTILE)
        for path in ("/queues", "/executions?name=" + urllib.request.quote(HOSTILE)):
            page.goto(ui.url(path))
            expect(page.locator("main")).to_contain_text(HOSTILE)
            assert page.locator("main img, main script").count() == 0
        assert page.evaluate("window.pwned") is None
        assert errors == []


def _status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None
            ) -> int:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_token_and_csrf_are_required(db_url: str, ui: Server, page: Any,
                                     tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 3}, id="order-s")
        wait_for(lambda: suspended(db_url, run.id), what="order-s waiting")
        assert _status(ui.url("/executions")) == 401
        assert _status(ui.url("/static/htmx.min.js")) == 401
        assert _status(ui.base + "/executions?token=wrong-token-0123456789") == 401
        cookie = {"Cookie": f"rhythm_ui_token={ui.token}"}
        assert _status(ui.url("/executions"), headers=cookie) == 200
        assert _status(ui.url("/executions"), headers={"Host": "evil.example"}) == 400
        form = b"id=order-s&csrf=forged"
        assert _status(ui.url("/execution/cancel"), form, cookie) == 403
        assert _status(ui.url("/execution/cancel"), b"id=order-s", cookie) == 403
        # A form the browser posts with the token cookie attached but a forged CSRF token.
        page.goto(ui.url("/executions", token=True))
        page.set_content(f'<form method="post" action="{ui.url("/execution/cancel")}">'
                         '<input name="id" value="order-s"><input name="csrf" value="x">'
                         '<button id="go">go</button></form>')
        with page.expect_navigation():
            page.click("#go")
        assert "403 missing or bad CSRF token" in page.content()
        assert suspended(db_url, run.id)


def test_read_only_hides_and_refuses_actions(db_url: str, ui_read_only: Server, page: Any,
                                             tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}), Client(db_url) as client:
        run = client.start("approve_order", {"amount": 3}, id="order-r")
        wait_for(lambda: suspended(db_url, run.id), what="order-r waiting")
        page.goto(ui_read_only.url("/execution?id=order-r", token=True))
        expect(page.locator("#read-only")).to_be_visible()
        expect(page.locator("#status")).to_have_text("suspended")
        assert page.locator("#actions, #cancel, #signal-form, form[method=post]").count() == 0
        page.goto(ui_read_only.url("/executions?status=suspended"))
        assert page.locator("#bulk-retry").count() == 0
        page.goto(ui_read_only.url("/queues"))
        assert page.locator("form[method=post]").count() == 0
        cookie = {"Cookie": f"rhythm_ui_token={ui_read_only.token}"}
        assert _status(ui_read_only.url("/execution/cancel"), b"id=order-r", cookie) == 403
        assert suspended(db_url, run.id)


def test_keyset_pages_and_auto_refresh(db_url: str, ui: Server, page: Any) -> None:
    """No worker serves queue "parked": its rows stay pending while the pages are read."""
    with Client(db_url) as client:
        client.queue_tasks([("add", {"a": i}, {"id": f"p-{i:03d}", "queue": "parked"})
                            for i in range(55)])
        page.goto(ui.url("/executions?queue=parked", token=True))
        expect(page.locator("table.list tbody tr")).to_have_count(50)
        page.click("#next-page")
        expect(page.locator("table.list tbody tr")).to_have_count(5)
        assert "after=" in page.url and "offset" not in page.url
        seen = set(page.locator("a.id").all_inner_texts())
        page.go_back()
        seen |= set(page.locator("a.id").all_inner_texts())
        assert seen == {f"p-{i:03d}" for i in range(55)}

        page.goto(ui.url("/executions?queue=later"))
        expect(page.locator("table.list")).to_contain_text("No execution matches.")
        client.queue_task("add", {"a": 1}, id="arrives-later", queue="later")
        expect(page.locator("table.list")).to_contain_text("arrives-later", timeout=15_000)


def test_queues_pause_and_resume(db_url: str, ui: Server, page: Any) -> None:
    with Client(db_url) as client:
        client.queue_task("add", {"a": 1}, queue="billing")
        page.goto(ui.url("/queues", token=True))
        row = page.locator("#queues tr", has_text="billing")
        expect(row).to_contain_text("running")
        row.locator("button", has_text="Pause").click()
        expect(page.locator(".flash")).to_have_text("Paused.")
        expect(page.locator("#queues tr", has_text="billing")).to_contain_text("paused")
        with psycopg.connect(db_url) as conn:
            paused = conn.execute("SELECT paused FROM rhythm.queues WHERE name = 'billing'"
                                  ).fetchone()
        assert paused == (True,)
        page.locator("#queues tr", has_text="billing").locator("button").click()
        expect(page.locator("#queues tr", has_text="billing")).to_contain_text("running")


def test_workers_and_schedules_pages(db_url: str, ui: Server, page: Any,
                                     tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"approve_order": APPROVAL}) as worker, \
            Client(db_url) as client:
        client.schedules.create("nightly", workflow="approve_order", cron="0 3 * * *",
                                inputs={"amount": 1})
        page.goto(ui.url("/workers", token=True))
        expect(page.locator("#workers")).to_contain_text(worker.id)
        expect(page.locator("#workers")).to_contain_text("yes")
        page.goto(ui.url("/schedules"))
        row = page.locator("#schedules tr", has_text="nightly")
        expect(row).to_contain_text("workflow approve_order")
        row.locator("button", has_text="Pause").click()
        expect(page.locator("#schedules tr", has_text="nightly")).to_contain_text("paused")
        assert client.schedules.list()[0]["paused"] is True


def test_bad_filters_and_unknown_ids_answer_in_the_page(ui: Server) -> None:
    auth = {"Authorization": f"Bearer {ui.token}"}
    assert _status(ui.url("/executions?since=yesterday-ish"), headers=auth) == 400
    assert _status(ui.url("/executions?after=not-a-cursor"), headers=auth) == 400
    assert _status(ui.url("/execution?id=nobody"), headers=auth) == 404
    request = urllib.request.Request(ui.url("/executions?since=nonsense<b>"), headers=auth)
    try:
        urllib.request.urlopen(request)
    except urllib.error.HTTPError as err:
        body = err.read().decode()
    assert "--since: &#39;nonsense&lt;b&gt;&#39; is neither an ISO 8601 time" in body
