"""(c) Latency at light load: enqueue → task start, and task end → next workflow step start.

One worker process serves a fresh database. Enqueue → start: one ``bench_stamp`` task at
a time, from just before ``Client.queue_task`` (commit included) to the first line of
the task (wall clock, same host). Task end → next step: workflows of S sequential
``bench_stamp`` tasks, one workflow at a time; each gap is from the return of task k to
the first line of task k+1 (recording task k, the activation, queueing and claiming k+1).
"""

from __future__ import annotations

import itertools
import time

from rhythm.bench.availability import workflows_missing
from rhythm.bench.context import BenchContext, flows_folder
from rhythm.bench.database import run_database
from rhythm.bench.process import serving_worker
from rhythm.bench.progress import progress_bar
from rhythm.bench.results import Figure, not_built, percentiles
from rhythm.bench.workflows import register_flows

PAUSE = 0.005  # seconds between samples: light load, one execution in flight at a time


def _ms_figures(bench: str, what: str, seconds: list[float], note: str) -> list[Figure]:
    return [Figure(bench, f"{what} {label}", value * 1000, "ms",
                   note=note if label == "p50" else "")
            for label, value in percentiles(seconds).items()]


def enqueue_to_start(url: str, samples: int, progress: bool) -> list[float]:
    from rhythm.runtime.client import Client

    out: list[float] = []
    with Client(url) as client, progress_bar(samples, "enqueue->start", progress) as bar:
        for _ in range(samples):
            sent = time.time()
            result = client.queue_task("bench_stamp", {}).result(timeout=30)
            out.append(result["start"] - sent)
            bar.update(1)
            time.sleep(PAUSE)
    return out


def end_to_next_step(url: str, chains: int, steps: int, progress: bool) -> list[float]:
    from rhythm.runtime.client import Client

    gaps: list[float] = []
    with Client(url) as client, progress_bar(chains, "end->next step", progress) as bar:
        for _ in range(chains):
            stamps = client.start("bench_chain", {"steps": steps}).result(timeout=60)
            gaps += [b["start"] - a["end"] for a, b in itertools.pairwise(stamps)]
            bar.update(1)
            time.sleep(PAUSE)
    return gaps


def run(ctx: BenchContext, samples: int = 200, chains: int = 20, steps: int = 10) -> list[Figure]:
    missing = workflows_missing()
    figures: list[Figure] = []
    with flows_folder() as folder, run_database(ctx) as url:
        if missing is None:
            register_flows(url, folder)
        with serving_worker(url, flows=None if missing else folder):
            figures += _ms_figures("latency", "enqueue -> task start", enqueue_to_start(
                url, samples, ctx.progress), f"{samples} tasks, one at a time")
            if missing is None:
                gaps = end_to_next_step(url, chains, steps, ctx.progress)
                figures += _ms_figures("latency", "task end -> next step start", gaps,
                                       f"{len(gaps)} gaps, {chains} workflows of {steps} steps")
            else:
                figures.append(not_built("latency", "task end -> next step start", missing))
    return figures
