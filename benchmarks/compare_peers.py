"""Rhythm side by side with its Python peers and the raw Postgres limit, in ONE run.

    .venv/bin/python benchmarks/compare_peers.py [--n 2000] [--runs 3] [--wf 200] [--steps 10]
                                                 [--no-pgbench] [--pgbench-clients "1 2 4 8 16"]
                                                 [--scratch DIR] [--peers-venv DIR]

One throwaway PostgreSQL cluster (``../shared/bench/peers/pgcluster.sh``, system binaries,
stock durable settings) serves everything that runs on Postgres, in this order:

1. the peers (``../shared/bench/peers/run_peers.sh`` with BENCH_DSN pointing at it):
   Procrastinate (concurrency 1 and 10), DBOS (queue, and W workflows of S steps),
   Celery+Redis and RQ (when redis-server is installed);
2. Rhythm under the same contract: ``rhythm bench tasks`` (fresh database per run, N
   no-op tasks, ONE worker process, median of RUNS) and ``rhythm bench workflows``
   (W workflows of S sequential no-op tasks);
3. ``../shared/bench/peers/py_claim.py``: the same claim SQL as pgbench from Python on one
   connection (claim 1 and claim 50 + done), the ceiling of a psycopg worker;
4. ``../shared/bench/peers/pgbench/run_pgbench.sh on`` (its own cluster, unless --no-pgbench).

It prints every peer's own output, then a summary with the ratios: Rhythm / best Python
peer (the peer's most favourable figure), Rhythm / psycopg batch-claim ceiling, and
Rhythm workflow steps/s / DBOS steps/s. The peer scripts are called in place, never copied.
The peers work in ``--scratch`` (default ``../bench-tmp``, created if missing); a missing
tool or a failing helper script is reported in one line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from script_errors import require_file, run_main, scratch_folder

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO.parent / "shared" / "bench" / "peers"
SCRATCH = REPO.parent / "bench-tmp"  # the peers' working folder and virtualenv
CLUSTER_DIR = "/tmp/pgpeer"
NUMBER = r"([0-9][0-9,.]*)"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run a command, echo its output to stderr as it comes, return the output."""
    log(f"$ {' '.join(cmd)}")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=cwd)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        log("  " + line.rstrip())
        lines.append(line)
    if proc.wait() != 0:
        raise SystemExit(f"compare_peers: {cmd[0]} failed (exit {proc.returncode})")
    return "".join(lines)


def num(text: str) -> float:
    return float(text.replace(",", ""))


def find(pattern: str, text: str) -> float | None:
    match = re.search(pattern, text)
    return num(match.group(1)) if match else None


def parse_peers(out: str) -> dict[str, float]:
    """Each peer's figures, by a readable label (absent peers are simply missing)."""
    figures = {
        "Procrastinate, concurrency 1": find(
            r"procrastinate worker \(1 process, concurrency=1\): median " + NUMBER, out),
        "Procrastinate, concurrency 10": find(
            r"procrastinate worker \(1 process, concurrency=10\): median " + NUMBER, out),
        "DBOS queue, incl. launch": find(r"queue worker \(1 process.*?incl\. launch: median "
                                         + NUMBER, out),
        "DBOS queue, excl. launch": find(r"queue worker, excl\. launch: median " + NUMBER, out),
        "Celery+Redis solo, incl. start-up": find(
            r"celery [0-9.]+: .*?worker median " + NUMBER + " tasks/s incl", out),
        "Celery+Redis solo, first->last task": find(
            r"celery [0-9.]+: .*?start-up, " + NUMBER + " tasks/s first->last", out),
        "RQ SimpleWorker, incl. start-up": find(
            r"rq SimpleWorker [0-9.]+: .*?worker median " + NUMBER + " tasks/s incl", out),
        "RQ SimpleWorker, first->last task": find(
            r"rq SimpleWorker [0-9.]+: .*?start-up, " + NUMBER + " tasks/s first->last", out),
    }
    return {k: v for k, v in figures.items() if v is not None}


def rhythm_bench(dsn: str, *args: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    out = run([sys.executable, "-m", "rhythm", "bench", *args, "--json", "--no-progress",
               "--database-url", dsn], env=env, cwd=REPO)
    report: dict[str, Any] = json.loads(out[out.index("{"):])
    return {f["name"]: f["value"] for f in report["figures"]}


def py_claim(dsn: str, python: str) -> dict[str, float]:
    """py_claim.py on a fresh 'pyclaim' database holding pgbench's jobs table."""
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1"]
    admin = dsn
    run([*psql, admin, "-c", "DROP DATABASE IF EXISTS pyclaim WITH (FORCE)",
         "-c", "CREATE DATABASE pyclaim"])
    db = admin.replace("/postgres?", "/pyclaim?")
    run([*psql, db, "-f", str(PEERS / "pgbench" / "schema.sql")])
    figures: dict[str, float] = {}
    for label, extra in (("batch 1, 1 tx", ["--batch", "1"]),
                         ("batch 50, 1 tx", ["--batch", "50"]),
                         ("batch 50, 2 tx", ["--batch", "50", "--twotx"])):
        run([*psql, db, "-f", str(PEERS / "pgbench" / "refill.sql")])
        out = run([python, str(PEERS / "py_claim.py"), db, "--secs", "5", *extra])
        figures[f"psycopg 1 connection, claim {label}"] = find(NUMBER + " jobs/s", out) or 0.0
    return figures


def pgbench(clients: str) -> dict[str, float]:
    out = run([str(PEERS / "pgbench" / "run_pgbench.sh"), "on"],
              env={**os.environ, "CLIENTS": clients})
    figures = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[1].isdigit() and parts[0].startswith("claim"):
            figures[f"pgbench {parts[0]}, {parts[1]} clients"] = num(parts[3])
    return figures


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def summary(peers: dict[str, float], rhythm: dict[str, float], claim: dict[str, float],
            limit: dict[str, float], args: argparse.Namespace) -> str:
    tasks = rhythm.get("no-op sync tasks drained, 1 worker process")
    steps = rhythm.get(f"workflow steps ({args.steps}-step workflows), 1 worker process")
    dbos_steps = peers.get("DBOS steps")
    queue_peers = {k: v for k, v in peers.items() if k != "DBOS steps"}
    best = max(queue_peers.items(), key=lambda kv: kv[1]) if queue_peers else ("none", None)
    ceiling = claim.get("psycopg 1 connection, claim batch 50, 1 tx")
    lines = [f"N={args.n} no-op tasks, median of {args.runs} runs; "
             f"{args.wf} workflows x {args.steps} steps", ""]
    lines += [f"{name:52s} {value:>10,.0f}" for name, value in
              [*sorted(peers.items()), *((k, v) for k, v in rhythm.items() if v),
               *claim.items(), *limit.items()]]
    lines += [
        "",
        f"Rhythm tasks/s / best Python peer ({best[0]}): {ratio(tasks, best[1])}  (target >= 10x)",
        f"Rhythm tasks/s / psycopg batch-50 ceiling:          {ratio(tasks, ceiling)}"
        "  (aim >= 0.25x)",
        f"Rhythm workflow steps/s / DBOS steps/s:            {ratio(steps, dbos_steps)}"
        "  (target >= 10x)",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--wf", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--pgbench-clients", default="1 2 4 8 16")
    parser.add_argument("--scratch", default=os.environ.get("BENCH_SCRATCH", str(SCRATCH)),
                        help="working folder of the peers (created if missing)")
    parser.add_argument("--peers-venv", default=os.environ.get("PEERS_VENV"),
                        help="the peers' virtualenv (default: SCRATCH/peers-venv, created "
                             "on first use)")
    args = parser.parse_args(argv)
    if args.peers_venv is None:
        args.peers_venv = str(Path(args.scratch) / "peers-venv")
    return args


def prepare(args: argparse.Namespace) -> Path:
    """What a fresh clone lacks: the scratch folder (created), the peer scripts (checked)."""
    require_file(PEERS / "run_peers.sh", "the peer benchmarks (../shared/bench/peers)")
    return scratch_folder(args.scratch)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    scratch = prepare(args)
    dsn = subprocess.run([str(PEERS / "pgcluster.sh"), "start", CLUSTER_DIR], check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        env = {**os.environ, "BENCH_DSN": dsn, "PEERS_VENV": args.peers_venv,
               "N": str(args.n), "RUNS": str(args.runs), "WF": str(args.wf),
               "STEPS": str(args.steps)}
        out = run([str(PEERS / "run_peers.sh")], env=env, cwd=scratch)
        peers = parse_peers(out)
        dbos_steps = find(r"dbos [0-9.]+ steps: median " + NUMBER, out)
        if dbos_steps is not None:
            peers["DBOS steps"] = dbos_steps
        rhythm = rhythm_bench(dsn, "tasks", "-n", str(args.n), "--runs", str(args.runs))
        rhythm |= rhythm_bench(dsn, "workflows", "-w", str(args.wf), "--steps", str(args.steps),
                               "--runs", str(args.runs))
        claim = py_claim(dsn, str(Path(args.peers_venv) / "bin" / "python"))
    finally:
        subprocess.run([str(PEERS / "pgcluster.sh"), "stop", CLUSTER_DIR], check=False)
    limit = {} if args.no_pgbench else pgbench(args.pgbench_clients)
    print(summary(peers, rhythm, claim, limit, args))


if __name__ == "__main__":
    run_main("compare_peers", main)
