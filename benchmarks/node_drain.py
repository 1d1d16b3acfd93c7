"""No-op JavaScript tasks drained by one Node.js worker: wall rate and CPU per task,
optionally in pairs against another revision.

    .venv/bin/python benchmarks/node_drain.py --database-url URL [--n 10000]
        [--concurrency 10] [--async] [--runs 1] [--base REV] [--cpu-prof DIR]

Per run: a fresh database on URL's server, N ``bench_noop_js`` tasks queued on queue
``bench`` in one statement (``Client.queue_tasks``, not timed), then
``node node/bench/drain.js N C --queued`` drains them (timed from just before its worker
starts until the N-th outcome is committed, the contract of ``rhythm bench tasks``).
Each run prints the wall rate, the Node.js process's CPU per task (``process.cpuUsage``
over the drain) and the CPU per task of the processes of URL's Postgres server (from /proc, sampled
during the drain: which side bounds the figure).

With ``--base REV`` every run is a pair: one drain of REV's ``node/`` package and one of
the working tree's, back to back, alternating which goes first, so that a shared
machine's load falls on both alike; the verdict is the median of the pairs' ratios
(head/base, wall rate and CPU per task) and in how many pairs head was faster. REV is
checked out as a temporary ``git worktree`` that borrows this tree's ``node_modules``.
``--async``: the no-op task is an async function (each attempt awaits a promise).
``--cpu-prof DIR``: the drains run under ``node --cpu-prof`` (profiles in DIR; the
profiler's own cost lands in the figures).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from paired_drains import checkout
from profile_hot_path import cpu_seconds
from script_errors import run_main

from rhythm.bench.database import fresh_database

REPO = Path(__file__).resolve().parent.parent
DRAIN = REPO / "node" / "bench" / "drain.js"


def postmaster(url: str) -> int:
    """The pid of the server that serves ``url`` (the parent of a backend of it)."""
    import psycopg

    with psycopg.connect(url) as conn:  # (read while the backend lives)
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        pid = parent(int(row[0]))
    if pid <= 1:
        raise SystemExit(f"node_drain: the server of {url} does not run on this machine")
    return pid


def parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


class ServerCpu:
    """CPU seconds spent by one server's processes (the postmaster's children) since
    creation: other servers on the machine (other people's tests) are not counted.
    Sampled often, since backends that exit take their counters with them."""

    def __init__(self, url: str) -> None:
        self.pid = postmaster(url)
        self.before = self.processes()
        self.latest = dict(self.before)

    def processes(self) -> dict[int, float]:
        return {int(e.name): cpu_seconds(int(e.name)) for e in Path("/proc").iterdir()
                if e.name.isdigit() and parent(int(e.name)) == self.pid}

    def sample(self) -> None:
        for pid, seconds in self.processes().items():
            self.latest[pid] = max(seconds, self.latest.get(pid, 0.0))

    def spent(self) -> float:
        return sum(v - self.before.get(pid, 0.0) for pid, v in self.latest.items())


def queue_tasks(url: str, n: int) -> None:
    """N no-op JavaScript tasks on queue ``bench``, in one statement."""
    from rhythm.runtime.client import Client

    with Client(url) as client:
        client.queue_tasks([("bench_noop_js", {"i": i}, {"queue": "bench"}) for i in range(n)])


@contextmanager
def package(rev: str | None) -> Iterator[Path]:
    """The ``node/`` folder of ``rev`` (with this tree's node_modules), or this tree's."""
    if rev is None:
        yield REPO / "node"
        return
    with checkout(rev) as tree:
        modules = tree / "node" / "node_modules"
        if not modules.exists():
            modules.symlink_to(REPO / "node" / "node_modules")
        yield tree / "node"


def drain(url: str, pkg: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One drain of ``pkg`` on a fresh database: drain.js's JSON line plus ``pgUsPerTask``."""
    with fresh_database(url) as db:
        queue_tasks(db, args.n)
        prof = ["--cpu-prof", "--cpu-prof-dir", args.cpu_prof] if args.cpu_prof else []
        env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
        env["RHYTHM_DATABASE_URL"] = db
        pg = ServerCpu(db)
        proc = subprocess.Popen(
            ["node", *prof, str(DRAIN), str(args.n), str(args.concurrency), "--queued",
             *(["--async"] if args.use_async else []), "--from", str(pkg)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        done = threading.Event()

        def sample() -> None:  # backends leave with their connection: sample as it runs
            while not done.is_set():
                pg.sample()
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = proc.communicate(timeout=600)
        done.set()
        sampler.join()
        pg.sample()
        if proc.returncode != 0:
            raise SystemExit(f"node_drain: drain.js failed:\n{err[-2000:]}")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["pgUsPerTask"] = round(pg.spent() / args.n * 1e6)
        return result


def line(name: str, r: dict[str, Any]) -> str:
    return (f"{name} {r['tasksPerSecond']:,} tasks/s, node {r['cpuPerTaskUs']} us/task, "
            f"postgres {r['pgUsPerTask']} us/task")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a server to create databases on")
    parser.add_argument("--n", type=int, default=10000, help="tasks per drain")
    parser.add_argument("--concurrency", type=int, default=10, help="the worker's concurrency")
    parser.add_argument("--async", dest="use_async", action="store_true",
                        help="an async no-op task (each attempt awaits a promise)")
    parser.add_argument("--runs", type=int, default=1, help="drains (pairs with --base)")
    parser.add_argument("--base", help="a revision to compare against, in pairs")
    parser.add_argument("--cpu-prof", help="write node --cpu-prof profiles to this folder")
    args = parser.parse_args()
    if args.cpu_prof:
        args.cpu_prof = str(Path(args.cpu_prof).resolve())
    with ExitStack() as stack:
        head = stack.enter_context(package(None))
        base = stack.enter_context(package(args.base)) if args.base else None
        rates: list[float] = []
        cpus: list[float] = []
        for number in range(1, args.runs + 1):
            if base is None:
                r = drain(args.database_url, head, args)
                print(f"run {number}: {line('head', r)}", flush=True)
                continue
            order = [("base", base), ("head", head)]
            if number % 2 == 0:
                order.reverse()
            got = {name: drain(args.database_url, pkg, args) for name, pkg in order}
            rates.append(got["head"]["tasksPerSecond"] / got["base"]["tasksPerSecond"])
            cpus.append(got["head"]["cpuPerTaskUs"] / got["base"]["cpuPerTaskUs"])
            print(f"pair {number}: {line('base', got['base'])} | {line('head', got['head'])}",
                  flush=True)
    if rates:
        print(f"head/base over {len(rates)} pairs (N={args.n}, concurrency {args.concurrency}):"
              f" tasks/s median {statistics.median(rates):.3f} (head faster in "
              f"{sum(r > 1 for r in rates)}), node CPU/task median {statistics.median(cpus):.3f}")


if __name__ == "__main__":
    run_main("node_drain", main)
