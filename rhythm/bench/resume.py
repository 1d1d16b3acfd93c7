"""(d) Resume cost along one long loop: per-step time, snapshot size and storage at
iterations 10, 1,000 and 10,000 of a single ``bench_loop`` workflow (one task per
iteration).

Per-step time at iteration k is the median gap between consecutive task starts (worker
clock, ``executions.started_at``) over the 40 iterations around k (k-20 … k+20, never
before iteration 1: the very first step pays the worker's warm-up). The snapshot is sampled
every 20 ms while the workflow runs; the size at k is the first sample taken at or after
activation k (its JSON text, and the bytes Postgres stores after compression). Storage
is probed just past each checkpoint's window, after a VACUUM (one also runs every
VACUUM_EVERY iterations, as autovacuum would): the rows and bytes of the
workflow's state (promises, signals, snapshots: constant, issue 19) and of the executions
table (it grows by the loop's tasks until retention deletes them).
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.bench.availability import require_workflows
from rhythm.bench.context import BenchContext, flows_folder
from rhythm.bench.database import bench_queries, run_database
from rhythm.bench.process import BenchError, run_drain
from rhythm.bench.progress import Counter, progress_bar
from rhythm.bench.results import Figure
from rhythm.bench.workflows import check_all_completed, register_flows

CHECKPOINTS = (10, 1_000, 10_000)
WINDOW = 40
# A VACUUM of the workflow tables every so many iterations stands in for autovacuum,
# which a production database runs on such hot tables (docs/lifecycle.md): the space of
# deleted rows is reused only after a vacuum, so without one any table grows with the
# number of deletions, constant storage or not.
VACUUM_EVERY = 1_000
CLEANUP_EVERY = 1.0  # seconds between the cleaner's passes with --cleanup


def _drain_in_thread(url: str, folder: Any, cleanup_every: float | None
                     ) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome.update(run_drain(url, workflows=1, flows=folder,
                                     cleanup_every=cleanup_every))
        except Exception as err:  # reported by the caller
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def _sample_snapshots(url: str, execution_id: str, ctx: BenchContext, thread: threading.Thread,
                      total: int, storage_at: list[int]) -> list[dict[str, Any]]:
    """Snapshot samples every 20 ms; at each iteration of ``storage_at``, a storage probe
    too (after a VACUUM: it runs past the step-time windows, so it disturbs none)."""
    from rhythm.runtime.partitions import part_of

    queries = bench_queries()
    probe = {"id": execution_id, "part": part_of(execution_id, ctx.partitions)}
    storage_query = queries["storage_probe_citus" if ctx.citus_partitions else "storage_probe"]
    pending = sorted(storage_at)
    vacuum_at = VACUUM_EVERY
    samples: list[dict[str, Any]] = []
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn, \
            progress_bar(total, "looping", ctx.progress) as bar:
        counter = Counter(bar)
        while thread.is_alive():
            row = conn.execute(queries["snapshot_probe"], probe).fetchone()
            if row is not None:
                sample = dict(row)
                if sample["activations"] >= vacuum_at:  # (as autovacuum would)
                    conn.execute(queries["vacuum_workflow_tables"])
                    vacuum_at = sample["activations"] + VACUUM_EVERY
                if pending and sample["activations"] >= pending[0]:
                    conn.execute(queries["vacuum_workflow_tables"])
                    sample["storage"] = conn.execute(storage_query).fetchone()
                    del pending[0]
                samples.append(sample)
                counter.to(min(row["activations"], total))
            time.sleep(0.02)
    return samples


def _step_seconds(starts: dict[int, float], k: int) -> float:
    first = max(1, k - WINDOW // 2)
    gaps = [starts[i + 1] - starts[i] for i in range(first, first + WINDOW)
            if i in starts and i + 1 in starts]
    if not gaps:
        raise BenchError(f"no task start times around iteration {k}")
    return statistics.median(gaps)


def run(ctx: BenchContext, checkpoints: tuple[int, ...] = CHECKPOINTS,
        cleanup: bool = False) -> list[Figure]:
    """``cleanup``: the worker's cleaner deletes every ended task once a second (task
    retention 0), as it goes; the loop's tasks' start times are then gone, so the
    per-step times are not reported (the overall steps/s is)."""
    require_workflows("resume")
    from rhythm.runtime.client import Client

    n = max(checkpoints) + WINDOW + 1
    with flows_folder() as folder, run_database(ctx) as url:
        register_flows(url, folder)
        with Client(url) as client:
            execution_id = client.start("bench_loop", {"n": n}).id
        thread, outcome = _drain_in_thread(url, folder, CLEANUP_EVERY if cleanup else None)
        samples = _sample_snapshots(url, execution_id, ctx, thread, n,
                                    [k + WINDOW // 2 + 1 for k in checkpoints])
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        check_all_completed(url, "workflow")
        if cleanup:
            return [*_storage_figures(checkpoints, samples),
                    _rate(n / outcome["seconds"], cleanup)]
        with psycopg.connect(url) as conn:
            starts: dict[int, float] = dict(conn.execute(bench_queries()["task_start_times"],
                                       {"name": "bench_noop"}).fetchall())
    return _figures(checkpoints, starts, samples, n / outcome["seconds"])


def _rate(rate: float, cleanup: bool) -> Figure:
    return Figure("resume", "loop steps overall (1 workflow)", rate, "steps/s",
                  note=f"cleaner every {CLEANUP_EVERY:g} s, task retention 0"
                  if cleanup else "")


def _figures(checkpoints: tuple[int, ...], starts: dict[int, float],
             samples: list[dict[str, Any]], rate: float) -> list[Figure]:
    figures: list[Figure] = []
    steps = {k: _step_seconds(starts, k) for k in checkpoints}
    sizes = {k: next((s for s in samples if s["activations"] >= k), None) for k in checkpoints}
    for k in checkpoints:
        figures.append(Figure("resume", f"per-step time at iteration {k:,}", steps[k] * 1000,
                              "ms", note=f"median of {WINDOW} gaps"))
        size = sizes[k]
        figures.append(Figure(
            "resume", f"snapshot size at iteration {k:,}",
            None if size is None else float(size["text_bytes"]), "bytes",
            note="not sampled" if size is None else
            f"stored {size['stored_bytes']} B; {size['promises']} promise rows",
        ))
    first, last = min(checkpoints), max(checkpoints)
    figures.append(Figure("resume", f"per-step time ratio {last:,}/{first}",
                          steps[last] / steps[first], "x", note="target <= 1.2"))
    if len(checkpoints) > 2:  # the first checkpoint still pays the worker's warm-up
        middle = sorted(checkpoints)[-2]
        figures.append(Figure("resume", f"per-step time ratio {last:,}/{middle:,}",
                              steps[last] / steps[middle], "x", note="both warm"))
    small, large = sizes[first], sizes[last]
    if small is not None and large is not None:
        figures.append(Figure(
            "resume", f"snapshot size ratio {last:,}/{first}",
            large["text_bytes"] / small["text_bytes"], "x", note="target <= 1.2"))
    figures.extend(_storage_figures(checkpoints, samples))
    figures.append(_rate(rate, cleanup=False))
    return figures


def _storage_figures(checkpoints: tuple[int, ...], samples: list[dict[str, Any]]
                     ) -> list[Figure]:
    """Rows and bytes of the workflow's state (promises, signals, snapshot) and of the
    executions table, just past each checkpoint; the ratio of the last to the one before
    (issue 19: within 10%)."""
    probes = [s for s in samples if "storage" in s]
    figures = []
    for probe in probes:
        at, storage = probe["activations"], probe["storage"]
        figures.append(Figure(
            "resume", f"workflow state at iteration {at:,}",
            float(storage["workflow_rows"]), "rows",
            note=f"{storage['workflow_bytes']:,} B after VACUUM"))
        figures.append(Figure(
            "resume", f"executions at iteration {at:,}", float(storage["executions"]),
            "rows", note=f"{storage['executions_bytes']:,} B; the loop's tasks, "
                         "deleted by retention"))
    if len(probes) >= 2 and len(checkpoints) >= 2:
        before, last = probes[-2]["storage"], probes[-1]["storage"]
        figures.append(Figure(
            "resume", f"workflow state bytes ratio {checkpoints[-1]:,}/{checkpoints[-2]:,}",
            last["workflow_bytes"] / max(before["workflow_bytes"], 1), "x",
            note=f"rows {before['workflow_rows']} -> {last['workflow_rows']}; "
                 "target within 10%"))
    return figures
