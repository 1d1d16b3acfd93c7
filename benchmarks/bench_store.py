"""Embedded Postgres and test-database speed: prints figures, asserts nothing.

Cold start (initdb + start), stop, warm start, ``database_url()`` on a running server,
``migrate`` of an empty database, and the per-test cost of the ``db_url`` fixture (clone of
the migrated template + drop).

Run: ``.venv/bin/python benchmarks/bench_store.py``
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from script_errors import run_main

from rhythm.config import load_settings
from rhythm.store import admin, database_url, embedded
from rhythm.store.connect import with_database
from rhythm.store.migrations import migrate


def timed(label: str, action: Callable[[], Any], repeat: int = 1) -> Any:
    started = time.perf_counter()
    for _ in range(repeat):
        result = action()
    elapsed = (time.perf_counter() - started) / repeat
    print(f"{label:<44} {elapsed * 1000:9.1f} ms")
    return result


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="rhythm-bench-"))
    home.chmod(0o755)
    settings = load_settings(cwd=home, environ={}, home=str(home))
    try:
        timed("cold start (initdb + start + create db)", lambda: embedded.start(settings))
        timed("stop", lambda: embedded.stop(settings))
        timed("warm start", lambda: embedded.start(settings))
        url = timed("database_url() on a running server (x100)",
                    lambda: database_url(settings), repeat=100)
        admin_url = with_database(url, "postgres")
        admin.run_admin(admin_url, "create_database", name="bench_empty")
        timed("migrate an empty database", lambda: migrate(with_database(url, "bench_empty")))
        admin.run_admin(admin_url, "mark_template", name="bench_empty")

        def clone_and_drop() -> None:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            admin.run_admin(admin_url, "create_database_from_template", name=name,
                            template="bench_empty")
            admin.run_admin(admin_url, "drop_database", name=name)

        timed("db_url fixture: clone template + drop (x10)", clone_and_drop, repeat=10)
    finally:
        embedded.stop(settings)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    run_main("bench_store", main)
