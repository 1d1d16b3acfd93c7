"""The language conformance cases through the real engine: Postgres, a worker, real tasks,
and the same cases in memory: both hosts must give the same outcome (issue 16, item 2).

Each case of ``../shared/conformance/cases.json`` runs in its own database. Its workflows
are compiled and registered as versions; its mocked tasks become real tasks and a
:class:`pgdriver.Driver` moves a manual clock (see ``pgdriver.py``), so a 48-hour timeout
takes milliseconds and every timestamp is what the in-memory run sees. The outcome must
pass the shared ``run.py`` check *and* equal, strictly, what ``rhythm run`` gives
(status, result, error, calls), so a difference the expectations do not pin down still
shows. Compile-error cases never reach Postgres: the worker refuses to register them,
and the test compares the compiler's diagnostics as ``run.py`` does.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import REPO, running_worker
from pgdriver import START, Driver, mocked_registry

from rhythm.engine.mocks import parse_mocks
from rhythm.errors import CompileError
from rhythm.runtime.clock import ManualClock
from rhythm.runtime.versions import WorkflowVersions
from rhythm.testing import diagnostics_json, run_flow, strict_equal

CASES_FILE = REPO.parent / "shared" / "conformance" / "cases.json"

if not CASES_FILE.is_file():
    pytest.skip(f"no conformance cases at {CASES_FILE}", allow_module_level=True)

CASES = json.loads(CASES_FILE.read_text())
_spec = importlib.util.spec_from_file_location("conformance_run", CASES_FILE.parent / "run.py")
assert _spec is not None and _spec.loader is not None
conformance_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(conformance_run)


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
            driver = Driver(db_url, clock)
            root = driver.start("main", case.get("inputs", {}), mocks)
            out = driver.run([root])[root]
        assert_same_outcome(out, in_memory(case))
    reason = conformance_run.check(case, out)
    assert reason is None, f"{case['name']}: {reason}"


def in_memory(case: dict[str, Any]) -> dict[str, Any]:
    """What ``rhythm run --json`` gives for the case (on the same virtual start)."""
    result = run_flow(case["flow"], case.get("inputs", {}), case.get("mocks"), name="main",
                      workflows=case.get("workflows", {}), start_time=START)
    return {"status": result.status, "result": result.result, "error": result.error,
            "calls": result.calls}


def assert_same_outcome(on_postgres: dict[str, Any], in_memory: dict[str, Any]) -> None:
    """Strictly equal (2 is not 2.0) on status, result, error and calls, except what
    must differ between hosts: execution ids, and a TaskError's ``details`` (a mock's,
    or a real task's module and traceback)."""
    on_postgres, in_memory = host_neutral(on_postgres), host_neutral(in_memory)
    for key in ("status", "result", "error", "calls"):
        assert strict_equal(on_postgres[key], in_memory[key]), (
            f"{key} differs: Postgres {json.dumps(on_postgres[key])} "
            f"!= memory {json.dumps(in_memory[key])}")


def host_neutral(value: Any) -> Any:
    """``value`` with execution ids and TaskError details masked."""
    if isinstance(value, list):
        return [host_neutral(v) for v in value]
    if not isinstance(value, dict):
        return value
    masked = {k: host_neutral(v) for k, v in value.items()}
    if masked.get("name") == "TaskError" and "details" in masked:
        masked["details"] = "(details)"
    if masked.get("name") == "ChildWorkflowError" and masked.get("executionId") is not None:
        masked["executionId"] = "(id)"
    return masked
