"""What an active cleaner costs a looping workflow (issue 19): steps/s with and without.

    .venv/bin/python benchmarks/cleanup_cost.py [--pairs 8] [--iterations 5000]
                                                [--database-url URL]

Runs `rhythm bench resume` in alternated pairs, each a fresh database and one worker:
once with stock options (the cleaner runs every 5 minutes and finds nothing to delete),
once with `--cleanup` (the cleaner deletes every ended task once a second, task retention
0, while the loop runs). Alternating, and the order swapped every pair, spreads the
box's drift over both. Printed: each pair's steps/s and ratio, the median ratio and in
how many pairs cleanup was the faster; the workflow state's bytes at the end of both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from script_errors import run_main

REPO = Path(__file__).resolve().parent.parent


def _run(iterations: int, cleanup: bool, url: str | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "rhythm", "bench", "resume", "--at", "10",
           "--at", str(iterations), "--runs", "1", "--json", "--no-progress"]
    cmd += ["--cleanup"] if cleanup else []
    cmd += ["--database-url", url] if url else []
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    figures = {f["name"]: f for f in report["figures"]}
    state = [f for name, f in figures.items() if name.startswith("workflow state at")]
    return {"rate": figures["loop steps overall (1 workflow)"]["value"],
            "state": state[-1]["note"] if state else "?"}


def main() -> None:
    parser = argparse.ArgumentParser(prog="benchmarks/cleanup_cost.py")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    ratios = []
    for pair in range(args.pairs):
        order = (False, True) if pair % 2 == 0 else (True, False)
        runs = {cleanup: _run(args.iterations, cleanup, args.database_url)
                for cleanup in order}
        ratio = runs[True]["rate"] / runs[False]["rate"]
        ratios.append(ratio)
        print(f"pair {pair + 1}: without {runs[False]['rate']:,.0f}  with cleanup "
              f"{runs[True]['rate']:,.0f} steps/s  with/without {ratio:.3f}", flush=True)
    faster = sum(r > 1 for r in ratios)
    print(f"with/without over {len(ratios)} pairs ({args.iterations:,} iterations each): "
          f"median {statistics.median(ratios):.3f}, cleanup faster in {faster} of "
          f"{len(ratios)}; workflow state at the end: without {runs[False]['state']}, "
          f"with {runs[True]['state']}")


if __name__ == "__main__":
    run_main("cleanup_cost.py", main)
