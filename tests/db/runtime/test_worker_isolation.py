"""One bad workflow must not hurt the others, with real worker processes: an activation
(or an async task) that keeps the worker's event loop busy for longer than a lease does
not stop the lease renewals of the innocent executions on the same worker, so none of
them is reaped and run again."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import one_row, spawn_worker, stop_workers, wait_for

from rhythm.runtime.client import Client

HOG = """
const big = []
for (let i = 0; i < 2000; i++) { big.push({ i: i, s: "xxxxxxxxxx" }) }
let n = 0
for (let i = 0; i < Inputs.rounds; i++) { n = n + JSON.stringify(big).length }
return n
"""
ARGS = ("--lease", "1", "--poll", "0.2", "--concurrency", "4", "--grace", "0")


@pytest.fixture
def workers(db_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Worker A (queue default: the hog and the innocent task) and worker B (another
    queue: it claims nothing of theirs, but reaps whatever lease A lets expire)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hog.flow").write_text(HOG)
    procs = [spawn_worker(db_url, "--flows", str(flows), *ARGS),
             spawn_worker(db_url, "-q", "other", *ARGS)]
    try:
        wait_for(lambda: one_row(db_url, "SELECT count(*) FROM rhythm.workers")[0] == 2,
                 timeout=60, what="both workers to register")
        yield procs
    finally:
        stop_workers(procs)


def _status(url: str, execution_id: str) -> str:
    return str(one_row(url, "SELECT status FROM rhythm.executions WHERE id = %s",
                       (execution_id,))[0])


@pytest.mark.parametrize("hog", ["activation", "async task"])
def test_a_loop_hog_does_not_make_an_innocent_task_run_twice(
    db_url: str, tmp_path: Path, workers: list[subprocess.Popen[str]], hog: str
) -> None:
    effects = tmp_path / "effects.txt"
    with Client(db_url) as client:
        innocent = client.queue_task(
            "append_line", {"path": str(effects), "key": "innocent", "seconds": 0.5})
        wait_for(lambda: _status(db_url, innocent.id) == "running", what="innocent running")
        if hog == "activation":  # ~2-3 s of CPU in one activation (under the operation
            # budget: ~2,000 units a round), two leases or more
            busy = client.start("hog", {"rounds": 400})
        else:
            busy = client.queue_task("block_loop", {"seconds": 3.0})
        assert busy.result(timeout=60) is not None
        assert innocent.result(timeout=30) == "innocent"
    assert effects.read_text().splitlines() == ["innocent"]
    assert one_row(db_url, "SELECT lease_losses FROM rhythm.executions WHERE id = %s",
                   (innocent.id,)) == (0,)
    assert one_row(db_url, "SELECT lease_losses FROM rhythm.executions WHERE id = %s",
                   (busy.id,)) == (0,)
