"""Upgrade and fork from the execution page, in the browser, with their effects asserted
in the database: "Upgrade to latest" shows the dry run's verdict (compatible, or why
not) and moves nothing before the confirmation; "Fork from step N" starts a new
execution from that step's snapshot without running earlier tasks again; both are
hidden and refused in --read-only, and refused with a forged CSRF token."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import expect
from runtime_conftest import flows_worker, one_row, register_flow, wait_for
from uifixtures import Server

from rhythm.runtime.client import Client

V1 = ('const a = await Task.run("add", { a: Inputs.n, b: 1 })\n'
      'const go = await Signal.next("go")\n'
      'return { v: 1, a: a, go: go }\n')
V2 = V1.replace("v: 1", "v: 2")  # the same awaits: compatible
V3 = ('const a = await Task.run("add", { a: Inputs.n, b: 1 })\n'
      'return { v: 3, a: a }\n')  # the signal wait is gone: incompatible


def _made(folder: Path) -> Path:
    folder.mkdir()
    return folder


def _row(url: str, execution_id: str) -> tuple[Any, ...]:
    return one_row(url, "SELECT status, version, run_at IS NULL FROM rhythm.executions"
                        " WHERE id = %s", (execution_id,))


def _waiting(url: str, execution_id: str) -> bool:
    """Suspended at the signal (its task done, no wake-up pending)."""
    status, _, idle = _row(url, execution_id)
    return bool(status == "suspended" and idle and one_row(
        url, "SELECT count(*) FROM rhythm.history WHERE execution_id = %s"
             " AND kind = 'activation'", (execution_id,))[0] == 2)


def _history_kinds(url: str, execution_id: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT kind FROM rhythm.history WHERE execution_id = %s"
                            " ORDER BY seq", (execution_id,)).fetchall()
    return [kind for (kind,) in rows]


def _post(url: str, form: bytes, token: str) -> int:
    request = urllib.request.Request(url, data=form,
                                     headers={"Cookie": f"rhythm_ui_token={token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_upgrade_shows_the_verdict_then_moves_on_confirmation(
        db_url: str, ui: Server, page: Any, tmp_path: Path) -> None:
    with flows_worker(db_url, _made(tmp_path / "w"), {"upg": V1}), Client(db_url) as client:
        stays, moves = (client.start("upg", {"n": n}, id=f"upg-{n}") for n in (1, 2))
        wait_for(lambda: _waiting(db_url, "upg-1") and _waiting(db_url, "upg-2"),
                 timeout=20, what="both waiting for their signal")
        v1 = _row(db_url, "upg-1")[1]

        register_flow(db_url, tmp_path / "v3", "upg", V3)  # newest: the signal wait is gone
        page.goto(ui.url("/execution?id=upg-1", token=True))
        page.click("#upgrade")
        expect(page.locator("#upgrade-verdict")).to_contain_text("no longer exists")
        expect(page.locator("#confirm-upgrade")).to_have_count(0)
        assert _row(db_url, "upg-1")[1] == v1

        v2 = register_flow(db_url, tmp_path / "v2", "upg", V2)  # newest now: compatible
        page.goto(ui.url("/execution?id=upg-2"))
        expect(page.locator("#upgrade")).to_contain_text(v2[:12])
        page.click("#upgrade")
        expect(page.locator("#upgrade-verdict")).to_contain_text("compatible")
        assert _row(db_url, "upg-2")[1] == v1  # (the dry run moved nothing)
        page.click("#confirm-upgrade")
        expect(page.locator(".flash")).to_contain_text("Upgraded")
        assert _row(db_url, "upg-2")[:2] == ("suspended", v2)
        assert _history_kinds(db_url, "upg-2")[-1] == "upgraded"
        expect(page.locator("#upgrade")).to_have_count(0)  # (on the latest now)

        client.signal("upg-2", "go", "yes")
        client.signal("upg-1", "go", "yes")
        assert moves.result(timeout=20) == {"v": 2, "a": 3, "go": "yes"}
        assert stays.result(timeout=20) == {"v": 1, "a": 2, "go": "yes"}


def test_fork_from_a_step_runs_no_earlier_task_again(
        db_url: str, ui: Server, page: Any, tmp_path: Path) -> None:
    """Step 1's snapshot waits on the task's promise, forgotten since its result went
    into a variable: that fork is refused in the page. Forked from step 2 (the task's
    result in hand, waiting for a signal), the fork waits for its own signal and no
    second task runs."""
    with flows_worker(db_url, _made(tmp_path / "w"), {"upg": V1}), Client(db_url) as client:
        run = client.start("upg", {"n": 5}, id="src-1")
        wait_for(lambda: _waiting(db_url, "src-1"), timeout=20, what="src-1 waiting")

        page.goto(ui.url("/execution?id=src-1&step=1", token=True))
        expect(page.locator("#fork")).to_have_text("Fork from step 1")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#fork")
        expect(page.locator("#action-error")).to_contain_text("no longer stored")
        assert one_row(db_url, "SELECT count(*) FROM rhythm.executions"
                               " WHERE name = 'upg'")[0] == 1

        page.goto(ui.url("/execution?id=src-1&step=2"))
        expect(page.locator("#fork")).to_have_text("Fork from step 2")
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#fork")
        expect(page.locator(".flash")).to_have_text("Forked: this is the new execution.")
        fork_id = page.locator("#execution-id").inner_text()
        assert fork_id != "src-1"
        options, = one_row(db_url, "SELECT options FROM rhythm.executions WHERE id = %s",
                           (fork_id,))
        assert options["forked_from"] == "src-1"
        assert "forked" in _history_kinds(db_url, fork_id)
        wait_for(lambda: _waiting_fork(db_url, fork_id), timeout=20, what="the fork waiting")
        client.signal(fork_id, "go", "second")
        client.signal("src-1", "go", "first")
        assert run.result(timeout=20) == {"v": 1, "a": 6, "go": "first"}
        wait_for(lambda: _row(db_url, fork_id)[0] == "completed", timeout=20,
                 what="the fork completed")
        result, = one_row(db_url, "SELECT result FROM rhythm.executions WHERE id = %s",
                          (fork_id,))
        assert result == {"v": 1, "a": 6, "go": "second"}
        adds, = one_row(db_url, "SELECT count(*) FROM rhythm.executions WHERE name = 'add'")
        assert adds == 1  # the fork took the task's recorded result


def _waiting_fork(url: str, execution_id: str) -> bool:
    status, _, idle = _row(url, execution_id)
    return bool(status == "suspended" and idle)


def test_read_only_hides_and_refuses_upgrade_and_fork(
        db_url: str, ui_read_only: Server, ui: Server, page: Any, tmp_path: Path) -> None:
    with flows_worker(db_url, _made(tmp_path / "w"), {"upg": V1}), Client(db_url) as client:
        client.start("upg", {"n": 1}, id="ro-1")
        wait_for(lambda: _waiting(db_url, "ro-1"), timeout=20, what="ro-1 waiting")
        v1 = _row(db_url, "ro-1")[1]
        register_flow(db_url, tmp_path / "v2", "upg", V2)
        page.goto(ui_read_only.url("/execution?id=ro-1", token=True))
        expect(page.locator("#history")).to_contain_text("Step")
        assert page.locator("#upgrade, #fork, #fork-form").count() == 0
        for path, form in (("/execution/upgrade", b"id=ro-1&confirmed=yes&csrf=x"),
                           ("/execution/fork", b"id=ro-1&step=1&csrf=x")):
            assert _post(ui_read_only.url(path), form, ui_read_only.token) == 403
            assert _post(ui.url(path), form, ui.token) == 403  # (a forged CSRF token)
        assert _row(db_url, "ro-1")[1] == v1
        assert one_row(db_url, "SELECT count(*) FROM rhythm.executions"
                               " WHERE name = 'upg'")[0] == 1
