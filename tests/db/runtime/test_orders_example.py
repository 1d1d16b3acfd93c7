"""examples/orders/run_example.py as a user runs it: it starts the workflow right after
launching the worker, with no retry loop (a start before the worker registered the
workflow waits for it), and prints the shipped order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "orders" / "run_example.py"


def test_the_orders_example_runs_end_to_end(db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env["RHYTHM_DATABASE_URL"] = db_url
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "retry" not in EXAMPLE.read_text().lower()
    printed = done.stdout[done.stdout.index("{"):]
    result = json.loads(printed)
    assert (result["status"], result["approvedBy"]) == ("shipped", "maria")
