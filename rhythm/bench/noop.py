"""The work the benchmarks run: no-op tasks and small flows.

Importing this module registers the tasks (the drain worker imports it). The flows are
kept as source text and written to a temporary folder for the worker to compile, so
the benchmark needs no project layout.
"""

from __future__ import annotations

import time
from pathlib import Path

import rhythm


@rhythm.task
def bench_noop(i: int) -> int:
    """The no-op task of every throughput figure (sync: runs in the worker's pool)."""
    return i


@rhythm.task
async def bench_noop_async(i: int) -> int:
    return i


@rhythm.task
def bench_stamp() -> dict[str, float]:
    """Returns when it started and ended (wall clock; the bench runs on one host)."""
    start = time.time()
    return {"start": start, "end": time.time()}


FLOWS = {
    # (b) workflow step throughput: S sequential no-op tasks.
    "bench_steps": """
for (let i = 0; i < Inputs.steps; i++) {
  await Task.run("bench_noop", { i: i })
}
return Inputs.steps
""",
    # (c) task end -> next step start: the stamps of S sequential tasks.
    "bench_chain": """
const stamps = []
for (let i = 0; i < Inputs.steps; i++) {
  stamps.push(await Task.run("bench_stamp", {}))
}
return stamps
""",
    # (d) resume cost: one workflow looping n times; its live state stays constant.
    "bench_loop": """
let total = 0
for (let i = 0; i < Inputs.n; i++) {
  total += await Task.run("bench_noop", { i: i })
}
return total
""",
}


def write_flows(folder: Path) -> Path:
    """Write the benchmark flows as ``<name>.flow`` files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in FLOWS.items():
        (folder / f"{name}.flow").write_text(source.lstrip(), encoding="utf-8")
    return folder
