"""`rhythm.testing.run_flow` on real .flow sources (needs the compiler)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhythm.engine.mocks import RunInputError
from rhythm.testing import run_flow

try:
    from rhythm.codegen import compile_flow  # noqa: F401
except ImportError:  # pragma: no cover - before the compiler lands
    pytest.skip("rhythm.codegen.compile_flow not built", allow_module_level=True)

START = "2024-05-01T12:00:00Z"
START_MS = 1_714_564_800_000


def test_children_are_sibling_files_including_subfolders(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "double.flow").write_text("return Inputs.x * 2\n")
    (tmp_path / "boom.flow").write_text("let x = \n")  # does not compile
    (tmp_path / "main.flow").write_text(
        'let d = await Workflow.run("lib/double", {x: 4})\n'
        "let errs = []\n"
        'for (const n of ["boom", "ghost"]) {\n'
        "  try { await Workflow.run(n) } catch (e) { errs.push([e.name, e.message]) }\n"
        "}\n"
        "return [d, errs]\n"
    )
    d, errs = run_flow(tmp_path / "main.flow").assert_completed()
    assert d == 8
    assert errs[0][0] == errs[1][0] == "ChildWorkflowError"
    assert "cannot start" in errs[0][1] and "boom.flow" in errs[0][1]
    assert "ghost.flow does not exist" in errs[1][1]


def test_clock_context_and_logs() -> None:
    result = run_flow(
        "console.log('start', {a: 1})\n"
        "let t0 = Date.now()\n"
        "await Timer.delay('90m')\n"
        "await Timer.until('2024-05-02T00:00:00Z')\n"
        "return [t0, Date.now() - t0, Context.startedAt, Context.executionId]\n",
        start_time=START,
    )
    t0, elapsed, started, exec_id = result.assert_completed()
    assert (t0, elapsed, started, exec_id) == (
        START_MS,
        12 * 3_600_000,
        "2024-05-01T12:00:00.000Z",
        "mem-1",
    )
    assert len(result.logs) == 1 and result.logs[0].startswith("[mem-1] start")


def test_race_ties_go_to_list_order() -> None:
    source = 'let a = Task.run("a")\nlet b = Task.run("b")\nreturn await Promise.race([b, a])\n'
    mocks = {"tasks": {"a": {"returns": "a"}, "b": {"returns": "b"}}}
    assert run_flow(source, mocks=mocks).assert_completed() == "b"


def test_all_settled_object_form_and_any() -> None:
    source = (
        'let s = await Promise.allSettled({x: Task.run("ok"), y: Task.run("bad")})\n'
        'let w = await Promise.any([Task.run("bad"), Task.run("ok")])\n'
        "return [s.x.status, s.y.reason.type, w]\n"
    )
    mocks = {"tasks": {"ok": {"returns": 1}, "bad": {"fails": {"type": "E", "message": "m"}}}}
    result = run_flow(source, mocks=mocks)
    assert result.assert_completed() == ["fulfilled", "E", 1]


def test_signal_timeout_then_late_signal_is_kept_for_the_next_wait() -> None:
    source = (
        "let first = null\n"
        "try { await Signal.next('s', {timeout: '1h'}) } catch (e) { first = e.name }\n"
        "return [first, await Signal.next('s')]\n"
    )
    mocks = {"signals": [{"name": "s", "payload": "late", "after": "2h"}]}
    assert run_flow(source, mocks=mocks).assert_completed() == ["TimeoutError", "late"]


def test_suspended_when_nothing_can_settle() -> None:
    result = run_flow("await Promise.race([])\n")
    assert result.status == "suspended"
    assert "Promise.race of []" in (result.waiting_for or "")


def test_bad_inputs_are_rejected_before_running() -> None:
    with pytest.raises(RunInputError, match="inputs must be a JSON object"):
        run_flow("return 1\n", inputs=[1])  # type: ignore[arg-type]
