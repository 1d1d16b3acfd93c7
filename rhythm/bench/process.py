"""Starting the drain worker (:mod:`rhythm.bench.drain`) as its own process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rhythm.errors import RhythmError

DRAIN_TIMEOUT = 1800.0  # seconds: a drain that takes longer is broken, not slow


class BenchError(RhythmError):
    """The benchmark could not measure (its worker failed or work did not finish)."""


def _command(url: str, concurrency: int, flows: Path | None, *mode: str) -> list[str]:
    cmd = [sys.executable, "-m", "rhythm.bench.drain", url, "--concurrency", str(concurrency),
           *mode]
    return cmd + (["--flows", str(flows)] if flows is not None else [])


def _env() -> dict[str, str]:
    # The worker must use the URL it is given, never a developer's RHYTHM_DATABASE_URL.
    return {k: v for k, v in os.environ.items() if k != "RHYTHM_DATABASE_URL"}


def run_drain(
    url: str, *, tasks: int | None = None, workflows: int | None = None,
    concurrency: int = 10, flows: Path | None = None, progress: bool = False,
) -> dict[str, Any]:
    """Drain ``tasks`` task outcomes or ``workflows`` ended workflows in a new process."""
    mode = ["--tasks", str(tasks)] if tasks is not None else ["--workflows", str(workflows)]
    if progress:
        mode.append("--progress")
    done = subprocess.run(
        _command(url, concurrency, flows, *mode), stdout=subprocess.PIPE, stderr=None,
        text=True, env=_env(), timeout=DRAIN_TIMEOUT, check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise BenchError(f"the drain worker failed (exit {done.returncode}); see its stderr")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


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
