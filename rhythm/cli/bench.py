"""`rhythm bench`: measure throughput, latency, resume cost and claim cost on Postgres.

Sub-commands: ``tasks``, ``workflows``, ``latency``, ``resume``, ``claim``, ``enqueue``
and ``all``.
Each run uses a fresh database on the server of ``--database-url`` (else
RHYTHM_DATABASE_URL, else the embedded server), ONE worker process, stock settings.
A progress bar is drawn on stderr; a table (or, with ``--json``, one JSON object) is
printed at the end. A sub-benchmark the runtime cannot run yet exits with code 2.
With ``--citus P`` the URL is a Citus coordinator's database, used itself (distributed
over P partitions once, emptied before each run: :mod:`rhythm.bench.citus`).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import click

from rhythm.cli._options import with_settings
from rhythm.config import Settings
from rhythm.errors import EXIT_USAGE, NotBuiltYet


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    """--runs, --json, --no-progress, --citus and --database-url for every sub-command."""

    @click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True,
                  help="Runs per throughput figure (the median is reported).")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
    @click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
    @click.option("--citus", "citus_partitions", type=click.IntRange(1, 4096),
                  default=None, metavar="P",
                  help="--database-url is a Citus coordinator's database: distribute it "
                       "over P partitions (as `rhythm migrate --citus --partitions P`) and "
                       "run in it, emptying its runtime tables (TRUNCATE: every execution "
                       "in it is deleted) before each run, instead of a fresh database "
                       "per run.")
    @with_settings
    @functools.wraps(command)
    def wrapper(settings: Settings, runs: int, as_json: bool, no_progress: bool,
                citus_partitions: int | None, **kwargs: Any) -> None:
        from rhythm.bench.context import BenchContext
        from rhythm.store import database_url

        ctx = BenchContext(database_url(settings), runs=runs, progress=not no_progress,
                           citus_partitions=citus_partitions)
        if citus_partitions is not None:
            from rhythm.bench import citus

            citus.prepare(ctx.server_url, citus_partitions)
        figures = command(ctx, **kwargs)
        _report(ctx, figures, as_json)

    return wrapper


def _report(ctx: Any, figures: list[Any], as_json: bool) -> None:
    from rhythm.bench.database import server_settings
    from rhythm.bench.results import render_table

    server = {k: str(v) for k, v in server_settings(ctx.server_url).items()}
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(),
               "platform": platform.platform()}
    report: dict[str, Any] = {"server": server, "machine": machine}
    if ctx.citus_partitions is not None:
        from rhythm.bench.citus import cluster_settings

        report["citus"] = {k: str(v) for k, v in cluster_settings(ctx.server_url).items()}
    if as_json:
        click.echo(json.dumps({**report, "figures": [f.as_json() for f in figures]},
                              indent=2))
    else:
        click.echo(f"server: PostgreSQL {server['server_version']}, synchronous_commit="
                   f"{server['synchronous_commit']}, fsync={server['fsync']}; "
                   f"{machine['cpus']} CPUs, Python {machine['python']}")
        if "citus" in report:
            cluster = report["citus"]
            click.echo(f"citus: {cluster['citus_version']}, {cluster['worker_nodes']} "
                       f"worker node(s), {cluster['partitions']} partition(s); the "
                       f"coordinator's database, emptied before each run")
        click.echo(render_table(figures))
    missing = [f.name for f in figures if f.missing]
    if missing:
        click.echo(f"rhythm: error: not built yet: {', '.join(missing)}", err=True)
        sys.exit(EXIT_USAGE)


@click.group("bench")
def bench_group() -> None:
    """Benchmarks: fresh database per run, one worker process (docs/performance.md)."""


@bench_group.command("tasks")
@click.option("-n", "--tasks", "n", type=click.IntRange(min=1), default=2000, show_default=True,
              help="No-op tasks queued, then drained, per run.")
@click.option("--concurrency", type=click.IntRange(min=1), default=10, show_default=True,
              help="The worker's concurrency (tasks in flight).")
@click.option("--async", "use_async", is_flag=True, help="Use an async def no-op task.")
@click.option("--keys", type=click.IntRange(min=0), default=0, show_default=True,
              help="Per-key concurrency: a keyed no-op task, one slot per key, this many"
                   " keys (0: no key). Plain Postgres only.")
@_common
def tasks_command(ctx: Any, n: int, concurrency: int, use_async: bool, keys: int) -> list[Any]:
    """(a) No-op task throughput: enqueue N, one worker process drains them."""
    from rhythm.bench import tasks

    if keys and use_async:
        raise click.UsageError("--keys runs a sync task: leave out --async")
    return tasks.run(ctx, n=n, concurrency=concurrency, use_async=use_async, keys=keys)


@bench_group.command("workflows")
@click.option("-w", "--workflows", type=click.IntRange(min=1), default=200, show_default=True,
              help="Workflows started together per run.")
@click.option("--steps", type=click.IntRange(min=1), default=10, show_default=True,
              help="Sequential no-op tasks per workflow.")
@click.option("--concurrency", type=click.IntRange(min=1), default=10, show_default=True,
              help="The worker's concurrency (tasks and activations in flight).")
@_common
def workflows_command(ctx: Any, workflows: int, steps: int, concurrency: int) -> list[Any]:
    """(b) Workflow step throughput: W concurrent workflows of S sequential no-op tasks."""
    from rhythm.bench import workflows as bench

    return bench.run(ctx, workflows=workflows, steps=steps, concurrency=concurrency)


@bench_group.command("latency")
@click.option("--samples", type=click.IntRange(min=1), default=200, show_default=True,
              help="Tasks timed one at a time for enqueue -> task start.")
@click.option("--chains", type=click.IntRange(min=1), default=20, show_default=True,
              help="Workflows of --steps tasks for task end -> next step.")
@click.option("--steps", type=click.IntRange(min=2), default=10, show_default=True,
              help="Tasks per workflow of --chains.")
@_common
def latency_command(ctx: Any, samples: int, chains: int, steps: int) -> list[Any]:
    """(c) Latency at light load: enqueue -> task start, task end -> next step start."""
    from rhythm.bench import latency

    return latency.run(ctx, samples=samples, chains=chains, steps=steps)


@bench_group.command("resume")
@click.option("--at", "checkpoints", type=click.IntRange(min=6), multiple=True,
              default=(10, 1000, 10000), show_default=True, help="Iterations to report.")
@click.option("--cleanup", is_flag=True,
              help="The worker's cleaner deletes every ended task once a second (task "
                   "retention 0): storage and steps/s with cleanup active (no per-step "
                   "times: the tasks' rows are gone).")
@_common
def resume_command(ctx: Any, checkpoints: tuple[int, ...], cleanup: bool) -> list[Any]:
    """(d) Resume cost: per-step time, snapshot size and storage along one looping
    workflow."""
    from rhythm.bench import resume

    return resume.run(ctx, checkpoints=tuple(sorted(checkpoints)), cleanup=cleanup)


@bench_group.command("claim")
@click.option("--size", "sizes", type=click.IntRange(min=1), multiple=True,
              default=(1000, 1_000_000), show_default=True, help="Ready rows in the queue.")
@click.option("--samples", type=click.IntRange(min=1), default=300, show_default=True,
              help="Claims timed per size, before and after ANALYZE.")
@_common
def claim_command(ctx: Any, sizes: tuple[int, ...], samples: int) -> list[Any]:
    """(e) Claim latency with few vs very many ready rows."""
    from rhythm.bench import claim

    return claim.run(ctx, sizes=tuple(sorted(sizes)), samples=samples)


@bench_group.command("enqueue")
@click.option("-n", "--tasks", "n", type=click.IntRange(min=1), default=100_000,
              show_default=True)
@_common
def enqueue_command(ctx: Any, n: int) -> list[Any]:
    """(f) Bulk enqueue: N tasks in one Client.queue_tasks call (one statement)."""
    from rhythm.bench import enqueue

    return enqueue.run(ctx, n=n)


@bench_group.command("all")
@_common
def all_command(ctx: Any) -> list[Any]:
    """Every sub-benchmark with its defaults; those not built yet are listed as such."""
    from rhythm.bench import claim, enqueue, latency, resume, tasks, workflows
    from rhythm.bench.results import not_built

    figures: list[Any] = []
    runs: list[tuple[str, Callable[[Any], list[Any]]]] = [
        ("tasks", tasks.run), ("workflows", workflows.run), ("latency", latency.run),
        ("resume", resume.run), ("claim", claim.run), ("enqueue", enqueue.run)]
    for name, run in runs:
        try:
            figures += run(ctx)
        except NotBuiltYet as err:
            figures.append(not_built(name, name, str(err)))
    return figures


COMMANDS = [bench_group]
