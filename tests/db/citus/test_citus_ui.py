"""The dashboard on Citus: every page and action over a cluster distributed over 4
partitions (the named queries of rhythm/store/sql/ui.sql name their partition, and the
pages that read every shard - the list, queues, workers - answer)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from runtime_conftest import flows_worker, wait_for
from uifixtures import Server

from rhythm.runtime.client import Client

FLOW = ('const n = await Task.run("add", { a: Inputs.a, b: 1 })\n'
        'const go = await Signal.next("go")\n'
        'return { n: n, go: go }\n')


def fetch(ui: Server, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(ui.url(path), data=data,
                                     headers={"Authorization": f"Bearer {ui.token}"})
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read().decode()


def csrf_of(page: str) -> str:
    marker = 'name="csrf" value="'
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_pages_and_actions_on_citus(db_url: str, ui: Server, tmp_path: Path) -> None:
    with flows_worker(db_url, tmp_path, {"wait_go": FLOW}) as worker, \
            Client(db_url) as client:
        runs = [client.start("wait_go", {"a": i}, id=f"wf-{i}") for i in range(6)]
        wait_for(lambda: all(client.get(r.id)["status"] == "suspended" for r in runs),
                 what="every workflow waiting")
        client.signal("wf-0", "later", {"x": 1})  # buffered
        status, page = fetch(ui, "/executions?name=wait_go")
        assert status == 200 and all(f"wf-{i}" in page for i in range(6))
        status, page = fetch(ui, "/execution?id=wf-0")
        assert status == 200
        assert "waiting for signal &#39;go&#39;" in page and "later" in page
        assert "add" in page and 'Signal.next(&#34;go&#34;)' in page
        for path in ("/queues", "/workers", "/schedules"):
            status, page = fetch(ui, path)
            assert status == 200, page
        assert worker.id in fetch(ui, "/workers")[1]
        figures = ui.store.queues()  # (exact on Citus: no sample of a shell table)
        assert figures.sample_percent is None
        assert sum(q.suspended for q in figures.queues) == 6

        csrf = csrf_of(fetch(ui, "/execution?id=wf-1")[1])
        status, _ = fetch(ui, "/execution/signal",
                          {"csrf": csrf, "id": "wf-1", "name": "go", "payload": "true"})
        assert status == 200  # (the redirect, followed)
        assert runs[1].result(timeout=20) == {"n": 2, "go": True}
        status, page = fetch(ui, "/executions/bulk", {"csrf": csrf, "action": "cancel",
                                                      "name": "wait_go",
                                                      "status": "suspended"})
        assert "5 executions match; 5 of them would be cancelled" in page
        status, page = fetch(ui, "/executions/bulk", {"csrf": csrf, "action": "cancel",
                                                      "name": "wait_go",
                                                      "status": "suspended",
                                                      "confirmed": "yes"})
        assert "5 of 5 matching executions" in page
        wait_for(lambda: all(client.get(f"wf-{i}")["status"] == "cancelled"
                             for i in (0, 2, 3, 4, 5)), what="every other one cancelled")
