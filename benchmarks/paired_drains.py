"""Two revisions of Rhythm, drain throughput measured in pairs: which is faster.

    .venv/bin/python benchmarks/paired_drains.py --base REV [--head REV] [--rounds 20]
                                                 [--bench workflows|tasks]
                                                 [--workflows 400] [--steps 10] [--tasks 2000]
                                                 [--database-url URL]
                                                 [--base-env NAME=VALUE] [--head-env NAME=VALUE]

On a shared machine one drain's rate moves by as much as ±25% from the next one's, so
two series measured one after the other cannot tell a 10% change. Here every round runs
one drain of each revision back to back (``rhythm bench workflows --runs 1``, or
``rhythm bench tasks --runs 1`` with ``--bench tasks``: a fresh database, one worker
process), alternating which goes first, and the verdict is the median of the rounds'
ratios head/base and in how many rounds head was faster.

When other work shares the machine, rates measure it as much as Rhythm. Each drain's CPU
is therefore also counted: the ``rhythm bench`` process and what it waited for (its
drain worker), and the Postgres server (the postmaster, the backends it reaped, its live
processes; read from /proc, so the server must run on this machine). The second verdict,
"CPU per unit", is the median of the rounds' ratios base/head of CPU seconds per step (or
task): on a box whose cores the drain saturates, the throughput ratio it would have alone.
The run's set-up (a fresh database, its migrations) is taken off: before the rounds,
each side runs three drains of one unit, and the median of their CPU is subtracted.
Each round's line, and the end, also split the CPU per unit into the bench's (Rhythm's
Python) and the server's, and give the WAL the server wrote per unit (its position
before and after each drain, the set-up's share taken off as for CPU): where a
difference is spent. WAL is the steadiest of these figures on a shared machine.

Each revision runs from a ``git worktree`` of it (the working tree itself when --head
is left out) with this virtual environment's interpreter; the worktrees are removed at
the end. ``--head-env``/``--base-env`` add a variable to one side's drains only: with
the same revision on both sides, ``--base HEAD --head HEAD --head-env
RHYTHM_BENCH_TELEMETRY=metrics`` measures what a setting costs
(:mod:`rhythm.bench.toggles`). Without --database-url a throwaway cluster with stock
settings (``../shared/bench/peers/pgcluster.sh``) serves the drains.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NamedTuple

from script_errors import run_main

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO.parent / "shared" / "bench" / "peers"
CLUSTER_DIR = "/tmp/pgpaired"
# per bench: the name its figure starts with, and the figure's unit
BENCHES = {"workflows": ("workflow steps", "steps/s"),
           "tasks": ("no-op sync tasks drained", "tasks/s")}


@contextmanager
def checkout(rev: str | None) -> Iterator[Path]:
    """A tree of ``rev`` (a detached worktree, removed afterwards), or the working tree."""
    if rev is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="rhythm-paired-") as parent:
        tree = Path(parent) / "tree"
        subprocess.run(["git", "worktree", "add", "--quiet", "--detach", str(tree), rev],
                       cwd=REPO, check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO,
                           check=False)


@contextmanager
def server(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    script = str(PEERS / "pgcluster.sh")
    started = subprocess.run([script, "start", CLUSTER_DIR], check=True, capture_output=True,
                             text=True)
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([script, "stop", CLUSTER_DIR], check=False, capture_output=True)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith("RHYTHM_") and k != "PYTHONPATH"}


def check_imports_from(tree: Path) -> None:
    """The drain must run the tree's code, not the installed one: ``python -m`` puts the
    current directory first on sys.path, and the bench's worker inherits it."""
    out = subprocess.run([sys.executable, "-c", "import rhythm; print(rhythm.__file__)"],
                         cwd=tree, env=_env(), capture_output=True, text=True, check=True)
    if not Path(out.stdout.strip()).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"paired_drains: {tree} imports rhythm from {out.stdout.strip()}")


def _assignment(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return text


def drain_size(args: argparse.Namespace) -> tuple[list[str], str]:
    """The drain's size: as options of its ``rhythm bench`` command, and in words."""
    if args.bench == "tasks":
        return ["-n", str(args.tasks)], f"N={args.tasks} no-op tasks"
    return (["-w", str(args.workflows), "--steps", str(args.steps)],
            f"W={args.workflows} x {args.steps} steps")


def _ticks(pid: int, children: bool) -> int:
    """CPU clock ticks of process ``pid`` (with ``children``: also those it reaped)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # (after the name: state is field 3, so utime 14 .. cstime 17 are [11:15])
    return sum(int(f) for f in fields[11:15 if children else 13])


def server_spent(url: str) -> tuple[float, int]:
    """CPU seconds the Postgres server at ``url`` has used so far (see the docstring),
    and its WAL position in bytes."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('data_directory'), "
                           "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()
    assert row is not None
    try:
        postmaster = int((Path(row[0]) / "postmaster.pid").read_text().split()[0])
    except OSError:
        raise OSError(f"the server of {url} does not run on this machine (its CPU is "
                      "read from /proc)") from None
    ticks = _ticks(postmaster, children=True)
    for task in Path(f"/proc/{postmaster}/task").iterdir():
        for child in (task / "children").read_text().split():
            # (one that ended meanwhile is reaped: counted in the postmaster's next read)
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                ticks += _ticks(int(child), children=False)
    return ticks / os.sysconf("SC_CLK_TCK"), int(row[1])


def drain(tree: Path, url: str, args: argparse.Namespace, extra_env: list[str],
          sizes: list[str] | None = None) -> tuple[float, Spent]:
    """The figure of one ``rhythm bench workflows`` (steps/s) or ``rhythm bench tasks``
    (tasks/s) drain run from ``tree``, with ``extra_env`` (NAME=VALUE) set; and what it
    spent (CPU seconds of the bench process tree and of the server, bytes of WAL).
    ``sizes``: instead of the drain's size options."""
    before = Spent(_own_children_cpu(), *server_spent(url))
    sizes = sizes or drain_size(args)[0]
    env = _env() | dict(item.split("=", 1) for item in extra_env)
    done = subprocess.run(
        [sys.executable, "-m", "rhythm", "bench", args.bench, *sizes, "--runs", "1",
         "--json", "--no-progress", "--database-url", url],
        cwd=tree, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"paired_drains: the drain in {tree} failed:\n{done.stderr[-2000:]}")
    after = Spent(_own_children_cpu(), *server_spent(url))
    spent = Spent(*(a - b for a, b in zip(after, before, strict=True)))
    report = json.loads(done.stdout[done.stdout.index("{"):])
    return float(next(f["value"] for f in report["figures"]
                      if f["name"].startswith(BENCHES[args.bench][0]))), spent


class Spent(NamedTuple):
    """What a drain spent: CPU seconds of the bench process tree (Rhythm's side) and of
    the Postgres server, and bytes of WAL the server wrote (the whole server's: nothing
    else should run on it)."""

    bench: float
    server: float
    wal: float

    def per_unit(self, setup: Spent, count: int) -> Spent:
        """Per unit, the set-up's share taken off: CPU in microseconds, WAL in bytes."""
        return Spent((self.bench - setup.bench) / count * 1e6,
                     (self.server - setup.server) / count * 1e6,
                     (self.wal - setup.wal) / count)

    @property
    def cpu(self) -> float:
        return self.bench + self.server


def _own_children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def setup_spent(tree: Path, url: str, args: argparse.Namespace,
                extra_env: list[str]) -> Spent:
    """What a drain's set-up spends: of three drains of one unit, each field's median."""
    one = ["-n", "1"] if args.bench == "tasks" else ["-w", "1", "--steps", "1"]
    runs = [drain(tree, url, args, extra_env, one)[1] for _ in range(3)]
    return Spent(*(statistics.median(field) for field in zip(*runs, strict=True)))


def units(args: argparse.Namespace) -> int:
    """Steps (or tasks) one drain does."""
    return args.tasks if args.bench == "tasks" else args.workflows * args.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare against")
    parser.add_argument("--head", help="the revision to judge (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--bench", choices=sorted(BENCHES), default="workflows")
    parser.add_argument("--workflows", type=int, default=400)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--database-url", help="a server to use (default: a throwaway one)")
    for side in ("base", "head"):
        parser.add_argument(f"--{side}-env", action="append", default=[], metavar="NAME=VALUE",
                            type=_assignment, help=f"set NAME in the {side}'s drains only")
    args = parser.parse_args()
    _, size = drain_size(args)
    unit = BENCHES[args.bench][1]
    with ExitStack() as stack:
        trees = {"base": stack.enter_context(checkout(args.base)),
                 "head": stack.enter_context(checkout(args.head))}
        for tree in trees.values():
            check_imports_from(tree)
        url = stack.enter_context(server(args.database_url))
        setup = {name: setup_spent(tree, url, args, getattr(args, f"{name}_env"))
                 for name, tree in trees.items()}
        ratios, cpu_ratios, splits = [], [], []
        for number in range(1, args.rounds + 1):
            order = ["base", "head"] if number % 2 else ["head", "base"]
            got = {name: drain(trees[name], url, args, getattr(args, f"{name}_env"))
                   for name in order}
            rate = {name: figure for name, (figure, _) in got.items()}
            split = {name: spent.per_unit(setup[name], units(args))
                     for name, (_, spent) in got.items()}
            cpu = {name: one.cpu for name, one in split.items()}
            ratios.append(rate["head"] / rate["base"])
            cpu_ratios.append(cpu["base"] / cpu["head"])
            splits.append(split)
            print(f"round {number}: base {rate['base']:,.0f}  head {rate['head']:,.0f} {unit}"
                  f"  head/base {ratios[-1]:.3f}   CPU per unit base {cpu['base']:.0f} us"
                  f"  head {cpu['head']:.0f} us  base/head {cpu_ratios[-1]:.3f}"
                  f"   (bench/server base {split['base'].bench:.0f}/{split['base'].server:.0f}"
                  f"  head {split['head'].bench:.0f}/{split['head'].server:.0f};"
                  f" WAL base {split['base'].wal:.0f} B  head {split['head'].wal:.0f} B)",
                  flush=True)
    faster = sum(r > 1 for r in ratios)
    cheaper = sum(r > 1 for r in cpu_ratios)
    settings = " ".join(f"{side}: {' '.join(getattr(args, f'{side}_env'))}"
                        for side in ("base", "head") if getattr(args, f"{side}_env"))
    print(f"head/base over {len(ratios)} rounds ({size}{', ' + settings if settings else ''}): "
          f"median {statistics.median(ratios):.3f}, head faster in {faster} of {len(ratios)}")
    print(f"CPU per unit, base/head over {len(cpu_ratios)} rounds: median "
          f"{statistics.median(cpu_ratios):.3f}, head cheaper in {cheaper} of {len(cpu_ratios)}")
    for part, unit_of in (("bench", "us"), ("server", "us"), ("wal", "B")):
        medians = {side: statistics.median(getattr(s[side], part) for s in splits)
                   for side in ("base", "head")}
        what = "WAL" if part == "wal" else f"of which {part}"
        print(f"  {what}: median base {medians['base']:.0f} {unit_of}, "
              f"head {medians['head']:.0f} {unit_of} a unit")


if __name__ == "__main__":
    run_main("paired_drains", main)
