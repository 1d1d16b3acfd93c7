"""Run the cross-language example end to end on Postgres (the embedded server unless
RHYTHM_DATABASE_URL is set): migrate, start a Python worker (the workflow and the
Python task) and a Node.js worker (the JavaScript task) on the same queue, start the
``checkout`` workflow, print its result - both tasks' - and stop both workers.

    python examples/crosslang/run_example.py

Needs Node.js 20+ and npm; the Node.js package's dependency (pg) is installed with
``npm ci`` in node/ the first time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import rhythm
from rhythm.store import database_url

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parents[1] / "node"


def rhythm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rhythm", *args]


def node_ready() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        sys.exit("this example needs Node.js 20+ and npm on PATH")
    if not (PACKAGE / "node_modules" / "pg").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True,
                       stdout=subprocess.DEVNULL)
    return node


def main() -> int:
    node = node_ready()
    url = database_url()  # the embedded server (started if needed) or RHYTHM_DATABASE_URL
    subprocess.run(rhythm_command("migrate", "--database-url", url), check=True,
                   stdout=subprocess.DEVNULL)
    env = {**os.environ, "RHYTHM_DATABASE_URL": url}
    with tempfile.TemporaryFile() as log:
        out = None if os.environ.get("VERBOSE") else log
        workers = [
            subprocess.Popen(rhythm_command("worker", "-m", "tasks", "-q", "default",
                                            "--flows", "workflows", "--grace", "5",
                                            "--database-url", url), cwd=HERE, stderr=out),
            subprocess.Popen([node, "tasks.js"], cwd=HERE, env=env, stderr=out),
        ]
        try:
            return checkout(url)
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            stop(workers)


def checkout(url: str) -> int:
    with rhythm.Client(url) as client:
        order = {"orderId": uuid.uuid4().hex[:8], "amount": 250}
        run = client.start("checkout", order, id=f"checkout-{order['orderId']}")
        print(f"started {run.id}: a Python task, then a JavaScript task")
        result: Any = run.result(timeout=60)
        print(json.dumps(result, indent=2))
        return 0


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    sys.exit(main())
