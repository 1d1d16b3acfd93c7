"""Runtime test fixtures: a client, the task_log table, in-process and subprocess workers."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import psycopg
import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE))

import sample_tasks  # noqa: E402  (registers the tasks)

from rhythm.runtime.client import Client  # noqa: E402
from rhythm.runtime.versions import WorkflowVersions  # noqa: E402
from rhythm.runtime.worker import Worker  # noqa: E402


@pytest.fixture
def client(db_url: str) -> Iterator[Client]:
    with Client(db_url) as c:
        yield c


@pytest.fixture
def task_log(db_url: str) -> Callable[[], list[str]]:
    """Creates public.task_log; returns a function listing its keys."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.task_log (key text NOT NULL)")
    sample_tasks.ATTEMPTS.clear()
    sample_tasks.CANCELLED.clear()

    def keys() -> list[str]:
        with psycopg.connect(db_url, autocommit=True) as conn:
            return [r[0] for r in conn.execute("SELECT key FROM public.task_log ORDER BY key")]

    return keys


@contextmanager
def running_worker(url: str, **options: Any) -> Iterator[Worker]:
    """A Worker on its own event loop in a background thread, stopped on exit."""
    options.setdefault("concurrency", 4)
    options.setdefault("poll_interval", 0.5)
    # No cleaner unless a test asks for one: a manual clock moved days ahead would let it
    # delete a test's ended rows while the test still reads them.
    options.setdefault("cleanup_interval", None)
    worker: Worker | None = None
    ready = threading.Event()
    loop = asyncio.new_event_loop()

    def main() -> None:
        nonlocal worker
        asyncio.set_event_loop(loop)
        worker = Worker(url, **options)
        ready.set()
        loop.run_until_complete(worker.run())

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    ready.wait(10)
    assert worker is not None
    try:
        yield worker
    finally:
        loop.call_soon_threadsafe(worker.stop, True)
        thread.join(15)
        if thread.is_alive():
            pytest.fail(f"worker did not stop\n{describe_stuck(thread, loop)}")
        loop.close()


def describe_stuck(thread: threading.Thread, loop: asyncio.AbstractEventLoop) -> str:
    """The stuck worker thread's stack and every task of its loop with its stack, so a
    hang at shutdown says where it hangs (read from outside the loop: diagnostic only)."""
    lines = ["worker thread:"]
    frame = sys._current_frames().get(thread.ident or -1)
    lines += traceback.format_stack(frame) if frame is not None else ["  (no frame)"]
    for task in asyncio.all_tasks(loop):
        lines.append(f"task {task.get_name()} ({task!r}):")
        stream = io.StringIO()
        task.print_stack(file=stream)
        lines.append(stream.getvalue())
    return "\n".join(lines)


@pytest.fixture
def worker(db_url: str) -> Iterator[Worker]:
    with running_worker(db_url) as w:
        yield w


def spawn_worker(url: str, *args: str, log: IO[str] | None = None) -> subprocess.Popen[str]:
    """``rhythm worker -m sample_tasks`` in a subprocess. Its output is captured, or
    written to ``log`` for a long run (a pipe nobody reads would fill and block it)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO)])}
    out = log if log is not None else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "rhythm", "worker", "-m", "sample_tasks",
         "--database-url", url, *args],
        cwd=HERE, env=env, stdout=out, stderr=out, text=True,
    )


def stop_workers(procs: list[subprocess.Popen[str]], timeout: float = 20) -> None:
    """SIGTERM every worker process still running, then wait for each (SIGKILL after
    ``timeout`` seconds)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@contextmanager
def flows_worker(url: str, folder: Path, flows: dict[str, str],
                 versions: WorkflowVersions | None = None, **options: Any) -> Iterator[Worker]:
    """An in-process worker serving ``flows`` (name -> source), written into ``folder``,
    registered before it is handed out."""
    for name, source in flows.items():
        (folder / f"{name}.flow").write_text(source)
    versions = versions if versions is not None else WorkflowVersions()
    versions.add_folder(folder)
    with running_worker(url, versions=versions, **options) as w:
        assert w.registered.wait(10)
        yield w


def register_flow(url: str, folder: Path, name: str, source: str) -> str:
    """Register ``source`` as a version of workflow ``name`` (written into ``folder``, which
    must not exist yet); its version hash."""
    folder.mkdir()
    (folder / f"{name}.flow").write_text(source)
    versions = WorkflowVersions()
    (entry,) = versions.add_folder(folder)
    with Client(url) as client:
        client.register(versions)
    return str(entry.version)


def one_row(url: str, sql: str, params: Any = None) -> tuple[Any, ...]:
    """The one row ``sql`` returns, read on a connection of its own."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None, f"no row from {sql!r}"
    return tuple(row)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
