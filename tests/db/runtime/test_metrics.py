"""The Prometheus endpoint of a real worker process, scraped over HTTP: its counters
match the work done, and the polled gauges (queue depth, oldest pending age, workers
alive) match the database (docs/observability.md, "Metrics")."""

from __future__ import annotations

import socket
import urllib.request
import uuid
from pathlib import Path

import pytest
from conftest import spawn_worker, stop_workers, wait_for

from rhythm.runtime.client import Client

pytest.importorskip("prometheus_client", reason="the metrics tests need rhythm[dev]")

from prometheus_client.parser import text_string_to_metric_families

FLOWS = {"metered_flow": 'return await Task.run("add", { a: Inputs.x, b: 1 })\n'}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the endpoint: (name, labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
           **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.mark.slow
def test_the_prometheus_endpoint_counts_the_work_done(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "metered_flow.flow").write_text(FLOWS["metered_flow"])
    port = _free_port()
    proc = spawn_worker(db_url, "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
                        "--metrics-interval", "0.2", "--flows", str(tmp_path), "--poll", "0.2")
    try:
        # Waiting on a queue no worker serves: the depth gauge's subject.
        for n in range(2):
            client.queue_task("add", {"a": n, "b": 0}, queue="nobody-serves")
        runs = [client.queue_task("add", {"a": n, "b": 1}) for n in range(3)]
        runs.append(client.queue_task("flaky", {"key": f"m-{uuid.uuid4().hex}",
                                                "failures": 1}))
        flow = client.start("metered_flow", {"x": 4})
        for run in runs:
            run.result(timeout=30)
        assert flow.result(timeout=30) == 5

        def settled() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
            samples = _scrape(port)
            done = _value(samples, "rhythm_executions_completed_total", kind="workflow",
                          queue="default", status="completed")
            depth = _value(samples, "rhythm_queue_depth", queue="nobody-serves")
            # (a poll after the work: the default queue is empty, if ever seen)
            empty = not _value(samples, "rhythm_queue_depth", queue="default")
            return samples if done == 1 and depth == 2 and empty else None

        samples = wait_for(settled, timeout=20, what="metrics of the work done")
    finally:
        stop_workers([proc])

    def v(name: str, **labels: str) -> float | None:
        return _value(samples, name, **labels)

    # 3 adds + the workflow's add + 1 flaky (once retried): 5 tasks, 6 attempts claimed.
    assert v("rhythm_executions_completed_total", kind="task", queue="default",
             status="completed") == 5
    assert v("rhythm_executions_claimed_total", kind="task", queue="default") == 6
    assert v("rhythm_task_retries_total", queue="default", task="flaky") == 1
    assert v("rhythm_task_duration_seconds_count", queue="default", task="add",
             status="completed") == 4
    assert v("rhythm_task_duration_seconds_count", queue="default", task="flaky",
             status="pending") == 1
    # The workflow: two activations (start, then resumed by its task's result).
    assert v("rhythm_activation_duration_seconds_count", queue="default",
             workflow="metered_flow") == 2
    assert v("rhythm_snapshot_bytes_count", workflow="metered_flow") == 1  # (suspended once)
    assert (v("rhythm_schedule_to_start_seconds_count", kind="task", queue="default")
            or 0) >= 1
    assert (v("rhythm_queue_oldest_pending_seconds", queue="nobody-serves") or 0) > 0
    assert (v("rhythm_workers_alive") or 0) >= 1


def test_a_port_in_use_is_one_line(db_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = spawn_worker(db_url, "--metrics-port", str(port), "--metrics-host",
                            "127.0.0.1")
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert err.strip().splitlines() == [
        f"rhythm: error: cannot serve metrics on 127.0.0.1:{port}: Address already in use"]
