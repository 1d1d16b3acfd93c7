"""Run the order example end to end on Postgres (the embedded server unless
RHYTHM_DATABASE_URL is set): migrate, start a worker in the background, start the
``process_order`` workflow, send the manager's approval signal, print the result, stop.

    python examples/orders/run_example.py [--reject]

The worker is an ordinary ``rhythm worker`` process (tasks from ``tasks.py``, workflow
versions from ``workflows/``); it is stopped with SIGTERM, as a deployment would stop it.
"""

from __future__ import annotations

import argparse
import json
import os
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


def rhythm_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rhythm", *args]


def start_worker(url: str, log: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        rhythm_command("worker", "-m", "tasks", "-q", "orders", "-q", "default",
                       "--flows", "workflows", "--grace", "5", "--database-url", url),
        cwd=HERE, stderr=None if os.environ.get("VERBOSE") else log,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reject", action="store_true", help="the manager says no")
    args = parser.parse_args()
    url = database_url()  # the embedded server (started if needed) or RHYTHM_DATABASE_URL
    subprocess.run(rhythm_command("migrate", "--database-url", url), check=True,
                   stdout=subprocess.DEVNULL)
    with tempfile.TemporaryFile() as log:
        return run_order(url, log, reject=args.reject)


def run_order(url: str, log: Any, reject: bool) -> int:
    worker = start_worker(url, log)
    try:
        with rhythm.Client(url) as client:
            order = {"orderId": uuid.uuid4().hex[:8], "amount": 99.5, "customer": "ada"}
            # No need to wait for the worker: a start before it has registered the
            # workflow waits (pending) and runs once it has.
            run = client.start("process_order", order, id=f"order-{order['orderId']}")
            print(f"started {run.id}: charge the card, then wait for approval")
            # Signals are durable: sent before the workflow waits, it is kept for it.
            client.signal(run.id, "approval", {"approved": not reject, "by": "maria"})
            print("sent signal 'approval'")
            result = run.result(timeout=60)
            print(json.dumps(result, indent=2))
            return 0
    except BaseException:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-4000:])
        raise
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


if __name__ == "__main__":
    sys.exit(main())
