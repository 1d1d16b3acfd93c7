"""Starting the drain worker (:mod:`rhythm.bench.drain`) as its own process, and timing a
workflow drain from outside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from rhythm.bench.database import bench_queries
from rhythm.bench.progress import Counter, progress_bar
from rhythm.errors import RhythmError

DRAIN_TIMEOUT = 1800.0  # seconds: a drain that takes longer is broken, not slow
BACKSTOP_COUNT = 1.0  # seconds between counts of ended workflows, should a NOTIFY be missed


class BenchError(RhythmError):
    """The benchmark could not measure (its worker failed or work did not finish)."""


def _command(url: str, concurrency: int, flows: Path | None, *mode: str,
             python: list[str] | None = None) -> list[str]:
    cmd = [*(python or [sys.executable]), "-m", "rhythm.bench.drain", url,
           "--concurrency", str(concurrency), *mode]
    return cmd + (["--flows", str(flows)] if flows is not None else [])


def _env() -> dict[str, str]:
    # The worker must use the URL it is given, never a developer's RHYTHM_DATABASE_URL.
    return {k: v for k, v in os.environ.items() if k != "RHYTHM_DATABASE_URL"}


def run_drain(
    url: str, *, tasks: int | None = None, workflows: int | None = None,
    concurrency: int = 10, flows: Path | None = None, progress: bool = False,
    python: list[str] | None = None, on_start: Callable[[int], None] | None = None,
    keyed: bool = False, cleanup_every: float | None = None,
) -> dict[str, Any]:
    """Drain ``tasks`` task outcomes or ``workflows`` ended workflows in a new process;
    its counters and ``seconds``, the time from just before its worker started to the
    last outcome or ending. For profiling a workflow drain: ``python`` replaces the
    interpreter command (e.g. ``python -m pyinstrument ...``), and ``on_start`` gets the
    worker's pid once it has started. ``cleanup_every``: the worker's cleaner runs this
    often (seconds) with retention 0."""
    if workflows is not None:
        extra = ["--cleanup-every", str(cleanup_every)] if cleanup_every is not None else []
        return _drain_workflows(url, workflows, concurrency, flows, progress, python,
                                on_start, extra)
    mode = ["--tasks", str(tasks)] + (["--progress"] if progress else []) \
        + (["--keyed"] if keyed else [])
    done = subprocess.run(
        _command(url, concurrency, flows, *mode), stdout=subprocess.PIPE, stderr=None,
        text=True, env=_env(), timeout=DRAIN_TIMEOUT, check=False,
    )
    return _counters(done.returncode, done.stdout)


def _counters(returncode: int, stdout: str) -> dict[str, Any]:
    lines = stdout.strip().splitlines()
    if returncode != 0 or not lines:
        raise BenchError(f"the drain worker failed (exit {returncode}); see its stderr")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _drain_workflows(
    url: str, total: int, concurrency: int, flows: Path | None, progress: bool,
    python: list[str] | None, on_start: Callable[[int], None] | None,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """Time a worker process until ``total`` workflows have ended, counted here: this
    process LISTENs on ``rhythm_done`` (the runtime notifies it when an execution ends),
    with a backstop count each second; polling a count every 20 ms would cost Postgres
    a scan that grows with the table. The worker announces the moment it starts
    (``time.perf_counter``: the same monotonic clock in both processes) and is stopped
    with SIGTERM at the end."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("LISTEN rhythm_done")
        waiting = {row[0] for row in conn.execute(bench_queries()["workflow_ids"])}
        proc = subprocess.Popen(
            _command(url, concurrency, flows, "--workflows", *(extra or []), python=python),
            stdout=subprocess.PIPE, stderr=None, text=True, env=_env(),
        )
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline().split()
            if first[:1] != ["started"]:
                raise BenchError("the drain worker did not start; see its stderr")
            if on_start is not None:
                on_start(proc.pid)
            ended = _count_endings(conn, proc, waiting, total, progress)
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    result = _counters(proc.returncode, out)
    result["seconds"] = ended - float(first[1])
    return result


def _count_endings(
    conn: psycopg.Connection[Any], proc: subprocess.Popen[str], waiting: set[str],
    total: int, progress: bool,
) -> float:
    """Wait until ``total`` of the ``waiting`` workflows have ended; when the last did."""
    ended: set[str] = set()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    last_count = time.monotonic()
    with progress_bar(total, "draining", progress) as bar:
        counter = Counter(bar)
        while len(ended) < total:
            for note in conn.notifies(timeout=0.05):
                if note.payload in waiting:
                    ended.add(note.payload)
                    if len(ended) == total:
                        break
            counter.to(len(ended))
            if len(ended) < total and time.monotonic() - last_count > BACKSTOP_COUNT:
                last_count = time.monotonic()
                row = conn.execute(bench_queries()["count_finished"],
                                   {"kind": "workflow"}).fetchone()
                if row is not None and int(row[0]) >= total:
                    break
            if proc.poll() is not None:
                raise BenchError(f"the drain worker stopped (exit {proc.returncode}) before "
                                 "the work was done; see its stderr")
            if time.monotonic() > deadline:
                raise BenchError(f"{total - len(ended)} workflows did not end within "
                                 f"{DRAIN_TIMEOUT:g}s")
    return time.perf_counter()


@contextmanager
def serving_worker(url: str, *, concurrency: int = 10, flows: Path | None = None) -> Iterator[None]:
    """A worker process serving ``url`` for the duration of the block (SIGTERM after)."""
    proc = subprocess.Popen(
        _command(url, concurrency, flows, "--serve"), stdout=subprocess.PIPE, stderr=None,
        text=True, env=_env(),
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise BenchError("the benchmark worker did not start; see its stderr")
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
