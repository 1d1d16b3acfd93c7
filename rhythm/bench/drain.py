"""ONE worker process for the benchmarks: ``python -m rhythm.bench.drain URL [options]``.

Modes:

* ``--tasks N``: run until N task outcomes are recorded (committed), then print
  ``{"seconds": ...}`` on stdout. Time runs from just before the worker starts (it opens
  its connections and registers inside the timed span, as Procrastinate's
  ``run_worker`` does in the peer scripts) to the N-th recorded outcome.
* ``--workflows``: print ``started <time.perf_counter()>`` just before the worker
  starts, then serve as ``--serve`` does until SIGTERM, then print the worker's
  counters. The parent (:func:`rhythm.bench.process.run_drain`) counts the workflows
  that end and stops this process: the harness's own listening stays off the worker's
  event loop, as the peer scripts poll from a process of their own.
* ``--serve``: print ``ready`` once registered and run until SIGTERM.

The worker is the runtime's own :class:`~rhythm.runtime.worker.Worker` with stock
options (but ``--cleanup-every S``: its cleaner every S seconds, task retention 0; and
``RHYTHM_BENCH_*``, :mod:`rhythm.bench.toggles`), and
its process freezes its start-up heap as ``rhythm worker``'s does
(:func:`~rhythm.runtime.worker.freeze_startup_heap`); the tasks and flows are those of
:mod:`rhythm.bench.noop`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import time
from typing import Any

from rhythm.bench.progress import Counter, progress_bar


def _worker(url: str, concurrency: int, flows: str | None, keyed: bool = False,
            cleanup_every: float | None = None) -> Any:
    importlib.import_module("rhythm.bench.noop")  # (registers the tasks)
    if keyed:  # (only when asked: a worker with a keyed task refuses Citus)
        importlib.import_module("rhythm.bench.keyed")
    from rhythm.bench.toggles import apply_toggles, bench_telemetry
    from rhythm.runtime.worker import Worker

    options: dict[str, Any] = {"concurrency": concurrency, "poll_interval": 1.0}
    telemetry = bench_telemetry()
    if telemetry is not None:
        options["telemetry"] = telemetry
    if cleanup_every is not None:  # every ended task deleted (workflows kept: counted)
        from rhythm.lifecycle.retention import NEVER, Retention

        options.update(retention=Retention(tasks_s=0, workflows_s=NEVER),
                       cleanup_interval=cleanup_every)
    if flows is not None:
        from rhythm.runtime.versions import WorkflowVersions

        versions = WorkflowVersions()
        versions.add_folder(flows)
        options["versions"] = versions
    worker = Worker(url, **options)
    apply_toggles(worker)
    return worker


async def _until(worker: Any, done: Any, total: int, show: bool) -> float:
    started = time.perf_counter()
    runner = asyncio.create_task(worker.run())
    with progress_bar(total, "draining", show) as bar:
        counter = Counter(bar)
        while (count := await done()) < total:
            if runner.done():
                runner.result()  # the worker died: raise its error
                raise RuntimeError("the worker stopped before the work was done")
            counter.to(count)
            await asyncio.sleep(0.02)
        counter.to(count)
    elapsed = time.perf_counter() - started
    worker.stop()
    await runner
    return elapsed


async def _serve(worker: Any) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop, True)
    runner = asyncio.create_task(worker.run())
    while not worker.registered.is_set() and not runner.done():
        await asyncio.sleep(0.01)
    print("ready", flush=True)
    await runner


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rhythm.bench.drain")
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--flows", default=None)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--keyed", action="store_true",
                        help="also serve bench_keyed (rhythm.bench.keyed)")
    parser.add_argument("--cleanup-every", type=float, default=None, metavar="SECONDS",
                        help="run the cleaner this often with task retention 0 (every "
                             "ended task deleted; workflows kept)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--tasks", type=int)
    mode.add_argument("--workflows", action="store_true")
    mode.add_argument("--serve", action="store_true")
    args = parser.parse_args(argv)
    worker = _worker(args.url, args.concurrency, args.flows, args.keyed, args.cleanup_every)
    from rhythm.runtime.worker import freeze_startup_heap

    freeze_startup_heap()  # as `rhythm worker` does, once its start-up is done
    if args.serve:
        asyncio.run(_serve(worker))
        return
    seconds = None
    if args.tasks is not None:
        async def recorded() -> int:
            return int(worker.recorded)
        seconds = asyncio.run(_until(worker, recorded, args.tasks, args.progress))
    else:
        print(f"started {time.perf_counter()!r}", flush=True)
        asyncio.run(_serve(worker))
    print(json.dumps({"seconds": seconds, "recorded": worker.recorded,
                      "activations": worker.activations, "resumed": worker.resumed,
                      "commit_batches": worker.group.batches,
                      "batched_commits": worker.group.commits}),
          flush=True)


if __name__ == "__main__":
    main()
