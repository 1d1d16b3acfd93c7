"""The language conformance cases through the real engine: Postgres, a worker, real tasks.

Each case of ``../shared/conformance/cases.json`` runs in its own database. Its workflows
are compiled and registered as versions; its mocked tasks become real ``@rhythm.task``
definitions that answer from the mocks (every attempt takes the next reply, as
``rhythm run`` does); a worker runs everything. Time is a :class:`ManualClock` that the
test moves: when nothing is runnable, the clock jumps to the next timer or mocked signal
(signals are sent by the test through ``Client.signal`` at their ``after`` instant), so a
48-hour timeout takes milliseconds and every timestamp is what the in-memory run sees.
Compile-error cases never reach Postgres: the worker refuses to register them, and the
test compares the compiler's diagnostics as ``run.py`` does.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from conftest import REPO, running_worker, wait_for

from rhythm.engine.mocks import MockReply, Mocks, TaskReplies, parse_mocks
from rhythm.errors import CompileError
from rhythm.runtime.client import Client
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.tasks import Backoff, TaskDefinition, TaskRegistry
from rhythm.runtime.versions import WorkflowVersions
from rhythm.testing import diagnostics_json

CASES_FILE = REPO.parent / "shared" / "conformance" / "cases.json"
START = datetime(2030, 1, 1, tzinfo=UTC)

if not CASES_FILE.is_file():
    pytest.skip(f"no conformance cases at {CASES_FILE}", allow_module_level=True)

CASES = json.loads(CASES_FILE.read_text())
_spec = importlib.util.spec_from_file_location("conformance_run", CASES_FILE.parent / "run.py")
assert _spec is not None and _spec.loader is not None
conformance_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance_run)


def mocked_registry(mocks: Mocks) -> TaskRegistry:
    """One real task per mocked name, answering from the mocks."""
    registry = TaskRegistry()
    replies = TaskReplies(mocks)
    for name in mocks.tasks:
        registry.add(TaskDefinition(name=name, fn=_answer(name, replies),
                                    backoff=Backoff(initial=0.0)))
    return registry


def _answer(name: str, replies: TaskReplies) -> Any:
    def task(**inputs: Any) -> Any:
        reply = replies.next_reply(name)
        assert reply is not None
        return _apply(reply, inputs)

    task.__name__ = task.__qualname__ = f"mock_{name}"
    return task


def _apply(reply: MockReply, inputs: dict[str, Any]) -> Any:
    if reply.kind == "echo":
        return inputs
    if reply.kind == "returns":
        return reply.value
    error_type = type(reply.error_type, (Exception,), {})
    raise error_type(reply.message)


class Driver:
    """Runs one case: the clock stands still while anything is runnable."""

    def __init__(self, url: str, clock: ManualClock, mocks: Mocks) -> None:
        self.url = url
        self.clock = clock
        self.signals = [(START + timedelta(milliseconds=s.after_ms), s) for s in mocks.signals]
        self.client = Client(url, clock=clock)

    def run(self, inputs: dict[str, Any]) -> dict[str, Any]:
        root = self.client.start("main", inputs).id
        for _ in range(10_000):
            self._settle_down(root)
            status = self.client.get(root)["status"]
            if status in ("completed", "failed", "cancelled"):
                break
            if not self._advance(root):
                break
        return self._outcome(root)

    def _busy(self) -> bool:
        now = self.clock.now()
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM rhythm.executions WHERE status = 'running'"
                "          OR (run_at IS NOT NULL AND run_at <= %(now)s))"
                "     + (SELECT count(*) FROM rhythm.promises WHERE state = 'pending'"
                "          AND due_at <= %(now)s)", {"now": now}).fetchone()
        return bool(row and row[0])

    def _settle_down(self, root: str) -> None:
        def quiet() -> bool:
            if not self._busy():
                return True
            self._nudge()
            return False

        wait_for(quiet, timeout=20, what=f"{root} to settle down")

    def _nudge(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('rhythm_wake', 'default')")

    def _advance(self, root: str) -> bool:
        """Move the clock to the next timer or mocked signal; False when there is none."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT min(due_at) FROM rhythm.promises "
                               "WHERE state = 'pending' AND due_at IS NOT NULL").fetchone()
        timer = row[0] if row else None
        signal_at = self.signals[0][0] if self.signals else None
        candidates = [t for t in (timer, signal_at) if t is not None]
        if not candidates:
            return False
        moment = max(min(candidates), self.clock.now())
        self.clock.set(moment)
        while self.signals and self.signals[0][0] <= moment:
            _, signal = self.signals.pop(0)
            self.client.signal(root, signal.name, signal.payload)
        self._nudge()
        return True

    def _outcome(self, root: str) -> dict[str, Any]:
        row = self.client.get(root)
        status = row["status"] if row["status"] in ("completed", "failed") else "suspended"
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT kind, params FROM rhythm.promises WHERE execution_id = %s"
                                " AND kind IN ('task', 'child') ORDER BY promise_id",
                                (root,)).fetchall()
        calls = [{"kind": "task" if kind == "task" else "workflow", "name": p["name"],
                  "inputs": p["inputs"]} for kind, p in rows]
        return {"status": status, "result": row["result"], "error": row["error"],
                "calls": calls}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def _versions(case: dict[str, Any]) -> WorkflowVersions:
    versions = WorkflowVersions()
    for name, source in case.get("workflows", {}).items():
        versions.add_source(source, f"{name}.flow", name)
    versions.add_source(case["flow"], "main.flow", "main")
    return versions


@pytest.fixture
def case_worker(request: pytest.FixtureRequest, db_url: str, clock: ManualClock) -> Iterator[Any]:
    yield lambda versions, registry: running_worker(
        db_url, versions=versions, registry=registry, clock=clock, poll_interval=0.2,
        concurrency=8)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_through_postgres(case: dict[str, Any], db_url: str, clock: ManualClock,
                               case_worker: Any) -> None:
    try:
        versions = _versions(case)
    except CompileError as err:
        out: dict[str, Any] = {"status": "compile_error", "errors": diagnostics_json(err)}
    else:
        mocks = parse_mocks(case.get("mocks"))
        with case_worker(versions, mocked_registry(mocks)) as worker:
            assert worker.registered.wait(10)
            out = Driver(db_url, clock, mocks).run(case.get("inputs", {}))
    reason = conformance_run.check(case, out)
    assert reason is None, f"{case['name']}: {reason}"
