"""The dashboard's server time over a large database (issue 21's bar: <= 200 ms).

    .venv/bin/python benchmarks/ui_pages.py [--rows 1000000] [--samples 20] [--steps 50]
                                            [--database-url URL] [--vacuum]

Creates a fresh database next to the configured (or embedded) server, fills it with
``--rows`` task executions spread over 30 days (rhythm/bench/sql/bench.sql
``fill_ui_rows``: 20 names, a rare one, the statuses of a long-lived database), serves
the dashboard on a free loopback port and requests each page ``--samples`` times, after
one warm-up request; the execution pages are a task's and a workflow's that has taken
``--steps`` signals (run by a worker in this process: its history has a row per step).
Printed: each page's server time (the app's ``Server-Timing``
header: from the request entering the app to the response leaving it), median, p95 and
max, in ms. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import re
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from script_errors import run_main

TOKEN = "benchmark-token-0123456789"


def _fill(url: str, rows: int, vacuum: bool) -> float:
    from rhythm.bench.database import bench_queries
    from rhythm.runtime.clock import SystemClock
    from rhythm.store.connect import connect

    started = time.monotonic()
    with connect(url, autocommit=True) as conn:
        conn.execute(bench_queries()["fill_ui_rows"], {"n": rows, "now": SystemClock().now()})
        conn.execute(bench_queries()["analyze_executions"])
        if vacuum:  # (as autovacuum has in a long-lived database: the visibility map set)
            conn.execute(bench_queries()["vacuum_executions"])
    return time.monotonic() - started


STEPS_FLOW = ('let total = 0\n'
              'for (let i = 0; i < 100; i++) {\n'
              '  const n = await Signal.next("step")\n'
              '  total = total + n\n'
              '}\n'
              'return total\n')


def _workflow_with_history(url: str, folder: Path, steps: int) -> str:
    """A workflow that has taken ``steps`` signals (``steps`` + 1 history entries) and
    waits for the next, run by a worker in this process that is then stopped."""
    from rhythm.runtime.client import Client
    from rhythm.runtime.versions import WorkflowVersions
    from rhythm.runtime.worker import Worker

    (folder / "count_steps.flow").write_text(STEPS_FLOW)
    versions = WorkflowVersions()
    versions.add_folder(folder)
    loop = asyncio.new_event_loop()
    worker = Worker(url, versions=versions, cleanup_interval=None, poll_interval=0.5)
    thread = threading.Thread(target=loop.run_until_complete, args=(worker.run(),))
    thread.start()
    try:
        worker.registered.wait(30)
        with Client(url) as client:
            run = client.start("count_steps", {}, id="wf-bench")
            for step in range(1, steps + 1):  # (one at a time: one activation each)
                while len(client.history(run.id)) < step:
                    time.sleep(0.01)
                client.signal(run.id, "step", 1)
            while len(client.history(run.id)) < steps + 1:
                time.sleep(0.01)
    finally:
        loop.call_soon_threadsafe(worker.stop, True)
        thread.join(30)
    return run.id


def _serve(url: str) -> tuple[Any, int]:
    import uvicorn

    from rhythm.ui.app import create_app
    from rhythm.ui.security import Guard
    from rhythm.ui.store import Store

    app = create_app(Store(url), Guard(token=TOKEN))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, sock.getsockname()[1]


def _server_ms(port: int, path: str) -> tuple[float, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}: {body[:200]}")
    timing = re.search(r"dur=([\d.]+)", response.getheader("server-timing") or "")
    assert timing is not None, "no Server-Timing header"
    return float(timing.group(1)), body


def _next_page(body: str) -> str:
    found = re.search(r'href="(/executions\?[^"]*after=[^"]*)" id="next-page"', body)
    assert found is not None, "no next page"
    return found.group(1).replace("&amp;", "&")


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/ui_pages.py")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=50,
                        help="signals the benchmark's workflow takes (its history)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--vacuum", action="store_true",
                        help="VACUUM the table after the fill (a long-lived database's "
                             "state: index-only scans read no heap)")
    args = parser.parse_args()
    from rhythm.bench.database import fresh_database
    from rhythm.store import database_url

    with fresh_database(args.database_url or database_url()) as url:
        took = _fill(url, args.rows, args.vacuum)
        print(f"filled {args.rows:,} executions in {took:.1f}s", flush=True)
        with tempfile.TemporaryDirectory() as folder:
            workflow = _workflow_with_history(url, Path(folder), args.steps)
        server, port = _serve(url)
        _, first = _server_ms(port, "/executions?status=failed&name=job_3")
        pages = {
            "list, status+name": "/executions?status=failed&name=job_3",
            "list, status+name, page 2": _next_page(first),
            "list, status+rare name": "/executions?status=failed&name=rare_job",
            "list refresh (htmx fragment)": "/executions/rows?status=failed&name=job_3",
            "list, no filter": "/executions",
            "list, id prefix": "/executions?id_prefix=bench-4242",
            "execution (a task)": f"/execution?id=bench-{args.rows // 2}",
            f"execution (workflow, {args.steps} steps)": f"/execution?id={workflow}",
            "  ... at step 10 (slider)": f"/execution?id={workflow}&step=10",
            "  ... its tree, one level (htmx)": f"/execution/children?id={workflow}",
            "queues": "/queues",
            "workers": "/workers",
        }
        for label, path in pages.items():
            _server_ms(port, path)  # (warm-up: plans, caches)
            times = sorted(_server_ms(port, path)[0] for _ in range(args.samples))
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"{label:36s} median {statistics.median(times):7.1f}  p95 {p95:7.1f}  "
                  f"max {times[-1]:7.1f} ms", flush=True)
        server.should_exit = True


if __name__ == "__main__":
    run_main("benchmarks/ui_pages.py", main)
