"""Profile the drain worker on the no-op task path or the workflow step path.

    .venv/bin/python benchmarks/profile_hot_path.py --database-url URL [--kind tasks|workflows]
        [--n 20000] [--profiler none|py-spy|pyinstrument] [--out DIR]

Fresh database on URL's server, N no-op tasks (or N/10 workflows of 10 steps) queued,
then ONE worker process (``python -m rhythm.bench.drain``) drains them, optionally under
py-spy (``--format raw``: collapsed stacks, all threads, GIL-idle frames excluded; for
workflows it attaches once the worker has started) or pyinstrument (text tree). py-spy
samples in its blocking mode: each sample pauses the worker, so the drain runs slower,
but lines are attributed right (``--nonblocking`` put 14% of the loop on one psycopg
line here that measures at ~1%). Its idle detection counts the task threads, blocked on
their queue, as busy: read the main thread's stacks. Also prints the CPU seconds spent
by the worker process and by the URL's Postgres server during the drain (its processes,
those that exited meanwhile included: ``paired_drains.server_spent``; the server must run on
this machine), from /proc: which side bounds the figure.
py-spy and pyinstrument are ad-hoc tools (pip install py-spy pyinstrument), not
dependencies of the project.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from paired_drains import server_spent
from script_errors import run_main

from rhythm.bench.context import flows_folder
from rhythm.bench.database import fresh_database
from rhythm.bench.process import run_drain
from rhythm.bench.tasks import enqueue_tasks
from rhythm.bench.workflows import register_flows, start_workflows

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def py_spy(out: Path, kind: str, *target: str) -> list[str]:
    spy = str(Path(sys.executable).parent / "py-spy")
    return [spy, "record", "--format", "raw", "--rate", "250", "--threads",
            "-o", str(out / f"{kind}.pyspy.txt"), *target]


def pyinstrument(out: Path, kind: str) -> list[str]:
    return [sys.executable, "-m", "pyinstrument", "-r", "text", "--show-all",
            "-o", str(out / f"{kind}.pyinstrument.txt")]


def drain_tasks(url: str, n: int, profiler: str, out: Path) -> tuple[float, float, float]:
    """Drain n no-op tasks in a worker process (it stops by itself): wall seconds incl.
    process start, worker CPU, Postgres CPU."""
    base = [sys.executable, "-m", "rhythm.bench.drain", url, "--tasks", str(n)]
    if profiler == "py-spy":
        base = py_spy(out, "tasks", "--", *base)
    elif profiler == "pyinstrument":
        base = [*pyinstrument(out, "tasks"), *base[1:]]
    pg_before = server_spent(url)[0]
    started = time.perf_counter()
    proc = subprocess.Popen(base, stdout=subprocess.PIPE, text=True)
    worker_cpu = 0.0
    while proc.poll() is None:
        worker_cpu = max(worker_cpu, cpu_seconds(proc.pid))
        time.sleep(0.05)
    assert proc.stdout is not None
    print(proc.stdout.read().strip())
    return time.perf_counter() - started, worker_cpu, server_spent(url)[0] - pg_before


def drain_workflows(url: str, n: int, flows: Path, profiler: str, out: Path
                    ) -> tuple[float, float, float]:
    """Drain n/10 workflows of 10 steps (run_drain counts the endings and stops the
    worker; py-spy attaches to it once it has started): seconds from the worker's start
    to the last ending, worker CPU, Postgres CPU."""
    pg_before = server_spent(url)[0]
    worker_cpu = 0.0
    spies: list[subprocess.Popen[bytes]] = []
    done = threading.Event()

    def sample(pid: int) -> None:
        nonlocal worker_cpu
        while not done.is_set():
            worker_cpu = max(worker_cpu, cpu_seconds(pid))
            time.sleep(0.05)

    def started(pid: int) -> None:
        if profiler == "py-spy":
            spies.append(subprocess.Popen(py_spy(out, "workflows", "--pid", str(pid))))
        threading.Thread(target=sample, args=(pid,), daemon=True).start()

    python = pyinstrument(out, "workflows") if profiler == "pyinstrument" else None
    result = run_drain(url, workflows=n // 10, flows=flows, python=python, on_start=started)
    done.set()
    for spy in spies:
        spy.wait(timeout=60)
    print(json.dumps(result))
    return float(result["seconds"]), worker_cpu, server_spent(url)[0] - pg_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--kind", choices=["tasks", "workflows"], default="tasks")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--profiler", choices=["none", "py-spy", "pyinstrument"], default="none")
    parser.add_argument("--out", default="/tmp/rhythm-profile")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with flows_folder() as flows, fresh_database(args.database_url) as url:
        if args.kind == "tasks":
            enqueue_tasks(url, "bench_noop", args.n)
            wall, worker_cpu, pg_cpu = drain_tasks(url, args.n, args.profiler, out)
        else:
            register_flows(url, flows)
            start_workflows(url, "bench_steps", {"steps": 10}, args.n // 10)
            wall, worker_cpu, pg_cpu = drain_workflows(url, args.n, flows, args.profiler, out)
    steps = args.n
    start = "process start" if args.kind == "tasks" else "worker start"
    print(f"{args.kind}: {steps} steps, wall {wall:.2f}s from {start} "
          f"({steps / wall:,.0f}/s); CPU: worker process ~{worker_cpu:.2f}s "
          f"({worker_cpu / steps * 1e6:.0f} us/step), postgres {pg_cpu:.2f}s "
          f"({pg_cpu / steps * 1e6:.0f} us/step)")


if __name__ == "__main__":
    run_main("profile_hot_path", main)
