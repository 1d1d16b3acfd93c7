"""examples/crosslang/run_example.py as a user runs it: one workflow calls a Python task
and a JavaScript task, a Python worker and a Node.js worker serve the same queue (each
claims only its own task), and the result holds both tasks' results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nodejs import node_or_skip

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "crosslang" / "run_example.py"


def test_the_cross_language_example_runs_end_to_end(db_url: str) -> None:
    node_or_skip()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RHYTHM_")}
    env["RHYTHM_DATABASE_URL"] = db_url
    done = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout[done.stdout.index("{"):])
    assert result["python"] == {"score": 0.25, "language": "python"}
    assert result["javascript"]["language"] == "javascript"
    assert result["javascript"]["receipt"].endswith(": 250.00 EUR (risk 0.25)")
    assert "UnknownTask" not in done.stderr
