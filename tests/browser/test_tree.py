"""The tree of tasks and children on an execution's page: a workflow's node opens (htmx
fetches that level when it is opened, not before), down to a grandchild, with links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from runtime_conftest import flows_worker, one_row, wait_for
from uifixtures import Server

from rhythm.runtime.client import Client

FLOWS = {
    "tree_root": ('const a = await Task.run("add", { a: 1, b: 1 })\n'
                  'const mid = await Workflow.run("tree_mid", { x: a })\n'
                  'return mid\n'),
    "tree_mid": ('const b = await Task.run("add", { a: Inputs.x, b: 2 })\n'
                 'const leaf = await Workflow.run("tree_leaf", {})\n'
                 'return leaf\n'),
    "tree_leaf": ('const go = await Signal.next("go")\n'
                  'return go\n'),
}


def test_children_open_level_by_level(db_url: str, ui: Server, page: Any,
                                      tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, FLOWS), Client(db_url) as client:
        run = client.start("tree_root", {}, id="tree-1")
        leaf = wait_for(lambda: _id_of(db_url, "tree_leaf", "suspended"), timeout=20,
                        what="the grandchild waiting for its signal")
        (mid,) = one_row(db_url, "SELECT id FROM rhythm.executions WHERE name = 'tree_mid'")

        page.goto(ui.url("/execution?id=tree-1", token=True))
        top = page.locator("#children > li")
        expect(top).to_have_count(2)
        expect(page.locator("#children")).to_contain_text("add")
        node = page.locator("#children > li.node", has_text="tree_mid")
        expect(node.locator("a", has_text="tree_mid")).to_have_attribute(
            "href", f"/execution?id={mid}")
        expect(node.locator(":scope > details > ul")).not_to_contain_text("tree_leaf")  # (not yet)

        node.locator(":scope > details > summary").click()
        level2 = node.locator(":scope > details > ul.tree")
        expect(level2).to_contain_text("tree_leaf")
        expect(level2.locator(":scope > li")).to_have_count(2)  # its task and its child
        grandchild = level2.locator(":scope > li.node", has_text="tree_leaf")
        grandchild.locator(":scope > details > summary").click()
        expect(grandchild.locator(":scope > details > ul.tree")).to_have_text("none")

        grandchild.locator(":scope > a").click()
        expect(page.locator("#execution-id")).to_have_text(leaf)
        expect(page.locator("#status")).to_have_text("suspended")
        client.signal(leaf, "go", 7)
        assert run.result(timeout=20) == 7


def _id_of(url: str, name: str, status: str) -> str | None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM rhythm.executions WHERE name = %s AND status = %s",
                           (name, status)).fetchone()
    return None if row is None else str(row[0])
