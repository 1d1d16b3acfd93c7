"""(b) Workflow step throughput: W concurrent workflows of S sequential no-op tasks.

Per run (fresh database): the benchmark flows are registered, W ``bench_steps``
workflows are started in one transaction, then ONE worker process is timed until all W
have ended. A step is one task plus the activation that resumes the workflow after it:
steps/s = W·S / seconds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg

from rhythm.bench.availability import require_workflows
from rhythm.bench.context import BenchContext, flows_folder
from rhythm.bench.database import bench_queries, run_database
from rhythm.bench.process import BenchError, run_drain
from rhythm.bench.results import Figure, median_figure


def register_flows(url: str, folder: Path) -> None:
    """Register the benchmark flows' versions, so that ``Client.start`` knows them."""
    from rhythm.runtime.clock import SystemClock
    from rhythm.runtime.database import connect_async
    from rhythm.runtime.versions import WorkflowVersions

    versions = WorkflowVersions()
    versions.add_folder(folder)

    async def register() -> None:
        async with await connect_async(url) as conn:
            await versions.register(conn, SystemClock().now())

    asyncio.run(register())


def start_workflows(url: str, name: str, inputs: dict[str, int], count: int) -> float:
    from rhythm.runtime.client import Client

    client = Client(url)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for _ in range(count):
            client.start(name, inputs, connection=conn)
    return time.perf_counter() - started


def check_all_completed(url: str, kind: str) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(bench_queries()["count_finished"], {"kind": kind}).fetchone()
    if row is None or row[1]:
        raise BenchError(f"{row[1] if row else '?'} {kind} executions did not complete")


def run(ctx: BenchContext, workflows: int = 200, steps: int = 10,
        concurrency: int = 10) -> list[Figure]:
    require_workflows("workflows")
    rates: list[float] = []
    with flows_folder() as folder:
        for _ in range(ctx.runs):
            with run_database(ctx) as url:
                register_flows(url, folder)
                start_workflows(url, "bench_steps", {"steps": steps}, workflows)
                result = run_drain(url, workflows=workflows, concurrency=concurrency,
                                   flows=folder, progress=ctx.progress)
                check_all_completed(url, "workflow")
                rates.append(workflows * steps / result["seconds"])
    return [median_figure(
        "workflows", f"workflow steps ({steps}-step workflows), 1 worker process", rates,
        "steps/s", f"W={workflows} concurrent, concurrency={concurrency}",
    )]
