"""No-op JavaScript tasks drained by one Node.js worker: wall rate and CPU per task,
optionally in pairs against another revision.

    .venv/bin/python benchmarks/node_drain.py --database-url URL [--n 10000]
        [--concurrency 10] [--async] [--runs 1] [--base REV] [--cpu-prof DIR]

Per run: a fresh database on URL's server, N ``bench_noop_js`` tasks queued on queue
``bench`` in one statement (``Client.queue_tasks``, not timed), then
``node node/bench/drain.js N C --queued`` drains them (timed from just before its worker
starts until the N-th outcome is committed, the contract of ``rhythm bench tasks``).
Each run prints the wall rate, the Node.js process's CPU per task (``process.cpuUsage``
over the drain) and the CPU per task of URL's Postgres server (from /proc, its backends
reaped during the drain included: ``paired_drains.server_spent``; which side bounds the
figure).

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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from paired_drains import checkout, server_spent
from script_errors import run_main

from rhythm.bench.database import fresh_database

REPO = Path(__file__).resolve().parent.parent
DRAIN = REPO / "node" / "bench" / "drain.js"


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
        pg_before = server_spent(db)[0]
        proc = subprocess.Popen(
            ["node", *prof, str(DRAIN), str(args.n), str(args.concurrency), "--queued",
             *(["--async"] if args.use_async else []), "--from", str(pkg)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=600)
        pg_spent = server_spent(db)[0] - pg_before
        if proc.returncode != 0:
            raise SystemExit(f"node_drain: drain.js failed:\n{err[-2000:]}")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["pgUsPerTask"] = round(pg_spent / args.n * 1e6)
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
