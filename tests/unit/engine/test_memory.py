"""The in-memory host and scheduler, driven by the hand-written machines of machines.py."""

from __future__ import annotations

from typing import Any

from rhythm.flowrt.protocol import Completed, FlowLimit, Host, Limits, Machine, Step
from rhythm.testing import RunResult, run_machine

from .machines import RESTORED, Await, DictLoader, Return, Throw, machine

START = 1_700_000_000_000
HOUR = 3_600_000


def run(cls: type[Machine], mocks: Any = None, loader: Any = None, **kw: Any) -> RunResult:
    return run_machine(cls, kw.pop("inputs", None), mocks, loader=loader, start_time=START, **kw)


def task(name: str, inputs: Any = None, **options: Any) -> Any:
    return lambda h, v: h.start_task(name, inputs or {}, options)


def test_sequential_tasks_calls_and_echo() -> None:
    wf = machine(
        "wf",
        lambda h, v: Await(h.start_task("charge", {"amount": h.inputs["amount"]}, {}), "pay"),
        lambda h, v: Await(h.start_task("ship", {"txn": v["pay"]["txn"]}, {}), "ship"),
        lambda h, v: Return([v["pay"], v["ship"]]),
    )
    mocks = {"tasks": {"charge": {"returns": {"txn": "t-1"}}, "ship": {"echo": True}}}
    result = run(wf, mocks, inputs={"amount": 12})
    assert result.assert_completed([{"txn": "t-1"}, {"txn": "t-1"}])
    assert result.calls == [
        {"kind": "task", "name": "charge", "inputs": {"amount": 12}},
        {"kind": "task", "name": "ship", "inputs": {"txn": "t-1"}},
    ]
    assert result.activations == 3


def test_every_suspension_goes_through_a_json_snapshot() -> None:
    RESTORED.clear()
    wf = machine(
        "wf",
        lambda h, v: v.update(keep=[1, {"a": None}]),
        lambda h, v: Await(h.start_timer(h.now_ms() + 1000), "t"),
        lambda h, v: Return(v["keep"]),
    )
    result = run(wf)
    result.assert_completed([1, {"a": None}])
    assert RESTORED == [
        {"label": 2, "vars": {"keep": [1, {"a": None}]}, "awaiting": [2 - 1, "t", False]}
    ]


def test_effects_are_invisible_until_the_activation_suspends() -> None:
    seen: list[bool] = []

    def start_and_look(h: Host, v: dict[str, Any]) -> Any:
        p = h.start_task("t", {}, {})
        seen.append(h.is_settled(p))
        return Await(p, "r")

    result = run(
        machine("wf", start_and_look, lambda h, v: Return(v["r"])), {"tasks": {"t": {"returns": 5}}}
    )
    assert result.assert_completed(5) == 5
    assert seen == [False]


def test_missing_mock_fails_the_await_with_a_task_error() -> None:
    wf = machine("wf", lambda h, v: Await(h.start_task("nope", {}, {"retries": 3}), "r"))
    result = run(wf)
    error = result.assert_failed("TaskError", task="nope", type="MissingMock", attempts=1)
    assert "has no mock" in error["message"]


def test_retries_take_sequence_entries_across_calls() -> None:
    wf = machine(
        "wf",
        lambda h, v: Await(h.start_task("flaky", {}, {"retries": 1}), "a", catch=True),
        lambda h, v: Await(h.start_task("flaky", {}, {"retries": 5}), "b"),
        lambda h, v: Await(h.start_task("flaky", {}, {}), "c"),
        lambda h, v: Return([v["a_error"], v["b"], v["c"]]),
    )
    down = {"fails": {"type": "IOError", "message": "down", "details": {"code": 7}}}
    mocks = {"tasks": {"flaky": {"sequence": [down, down, down, {"returns": "ok"}]}}}
    error, b, c = run(wf, mocks).assert_completed()
    assert error == {
        "name": "TaskError",
        "message": "down",
        "task": "flaky",
        "type": "IOError",
        "attempts": 2,
        "details": {"code": 7},
    }
    assert (b, c) == ("ok", "ok")  # b used entries 3 and 4; c gets the repeated last one


def test_default_is_no_retry() -> None:
    wf = machine("wf", lambda h, v: Await(h.start_task("f", {}, {}), "r"))
    mocks = {
        "tasks": {"f": {"sequence": [{"fails": {"type": "E", "message": "m"}}, {"returns": 1}]}}
    }
    run(wf, mocks).assert_failed("TaskError", attempts=1)


def test_timers_advance_the_virtual_clock_in_order() -> None:
    wf = machine(
        "wf",
        lambda h, v: v.update(t0=h.now_ms(), long=h.start_timer(h.now_ms() + 2 * HOUR)),
        lambda h, v: Await(h.start_timer(h.now_ms() + HOUR), "x"),
        lambda h, v: v.update(t1=h.now_ms()),
        lambda h, v: Await(v["long"], "y"),
        lambda h, v: Return([v["t0"], v["t1"], h.now_ms(), h.context["startedAt"]]),
    )
    result = run(wf)
    assert result.assert_completed() == [
        START,
        START + HOUR,
        START + 2 * HOUR,
        "2023-11-14T22:13:20.000Z",
    ]
    assert result.virtual_ms == 2 * HOUR


def test_race_timer_beats_signal_and_abandoned_wait_keeps_no_place() -> None:
    wf = machine(
        "wf",
        lambda h, v: Await(
            h.combine("race", [h.wait_signal("s", None), h.start_timer(h.now_ms() + HOUR)], None),
            "first",
        ),
        lambda h, v: Await(h.wait_signal("s", None), "second"),
        lambda h, v: Return([v["first"], v["second"], h.now_ms() - START]),
    )
    mocks = {"signals": [{"name": "s", "payload": "late", "after": "2h"}]}
    assert run(wf, mocks).assert_completed() == [None, "late", 2 * HOUR]


def test_signals_are_fifo_buffered_and_per_channel() -> None:
    wf = machine(
        "wf",
        lambda h, v: Await(h.start_timer(h.now_ms() + 10 * HOUR), "_"),
        lambda h, v: Await(h.wait_signal("x", None), "a"),
        lambda h, v: Await(h.wait_signal("x", None), "b"),
        lambda h, v: Await(h.wait_signal("y", None), "c"),
        lambda h, v: Return([v["a"], v["b"], v["c"]]),
    )
    mocks = {
        "signals": [
            {"name": "x", "payload": 1},
            {"name": "y", "payload": "y"},
            {"name": "x", "payload": 2, "after": "1h"},
        ]
    }
    assert run(wf, mocks).assert_completed() == [1, 2, "y"]


def test_signal_timeout_rejects_and_the_wait_gives_up_its_place() -> None:
    wf = machine(
        "wf",
        lambda h, v: Await(h.wait_signal("s", 48 * HOUR), "a", catch=True),
        lambda h, v: Await(h.wait_signal("s", None), "b"),
        lambda h, v: Return([v["a_error"], v["b"], h.now_ms() - START]),
    )
    mocks = {"signals": [{"name": "s", "payload": "late", "after": "49h"}]}
    error, late, elapsed = run(wf, mocks).assert_completed()
    assert error["name"] == "TimeoutError" and "'s'" in error["message"]
    assert (late, elapsed) == ("late", 49 * HOUR)


def test_signal_at_the_timeout_instant_wins() -> None:
    wf = machine(
        "wf", lambda h, v: Await(h.wait_signal("s", HOUR), "a"), lambda h, v: Return(v["a"])
    )
    run(wf, {"signals": [{"name": "s", "payload": 1, "after": "1h"}]}).assert_completed(1)


def test_waiting_for_ever_is_suspended_not_completed() -> None:
    wf = machine(
        "wf", lambda h, v: Await(h.combine("race", [h.wait_signal("approval", None)], None), "a")
    )
    result = run(wf)
    assert result.status == "suspended"
    assert "signal 'approval'" in (result.waiting_for or "")
    assert result.to_json()["waitingFor"] == result.waiting_for


def test_all_rejects_with_first_error_in_virtual_time() -> None:
    wf = machine(
        "wf",
        lambda h, v: Await(
            h.combine(
                "all",
                [
                    h.wait_signal("late", None),
                    h.start_timer(h.now_ms() + 5),
                    h.wait_signal("early", 10),
                ],
                None,
            ),
            "r",
        ),
    )
    mocks = {"signals": [{"name": "late", "payload": 1, "after": "1s"}]}
    result = run(wf, mocks)
    result.assert_failed("TimeoutError")
    assert result.virtual_ms == 10


def test_fire_and_forget_task_still_runs_when_the_workflow_ends() -> None:
    wf = machine(
        "wf", lambda h, v: v.update(p=h.start_task("audit", {"e": 1}, {})), lambda h, v: Return(1)
    )
    result = run(wf, {"tasks": {"audit": {"returns": None}}})
    assert result.calls == [{"kind": "task", "name": "audit", "inputs": {"e": 1}}]


def test_child_result_failure_and_missing_child() -> None:
    double = machine("double", lambda h, v: Return(h.inputs["x"] * 2))
    boom = machine(
        "boom",
        lambda h, v: Await(h.start_timer(h.now_ms() + HOUR), "t"),
        lambda h, v: Throw({"code": "E1"}),
    )
    parent = machine(
        "parent",
        lambda h, v: Await(h.start_child("double", {"x": 21}, {}), "d"),
        lambda h, v: Await(h.start_child("boom", {}, {}), "b", catch=True),
        lambda h, v: Await(h.start_child("ghost", {}, {}), "g", catch=True),
        lambda h, v: Return([v["d"], v["b_error"], v["g_error"], h.context["executionId"]]),
    )
    result = run(parent, loader=DictLoader(double=double, boom=boom))
    d, b_err, g_err, exec_id = result.assert_completed()
    assert d == 42 and exec_id == "mem-1"
    assert b_err["name"] == "ChildWorkflowError" and b_err["workflow"] == "boom"
    assert b_err["cause"] == {"code": "E1"} and b_err["executionId"] == "mem-3"
    assert g_err["name"] == "ChildWorkflowError" and "no workflow named 'ghost'" in g_err["message"]
    assert [c["kind"] for c in result.calls] == ["workflow"] * 3
    assert result.virtual_ms == HOUR


def test_child_waiting_for_ever_is_described() -> None:
    stuck = machine("stuck", lambda h, v: Await(h.wait_signal("go", None), "x"))
    parent = machine("parent", lambda h, v: Await(h.start_child("stuck", {}, {}), "r"))
    result = run(parent, loader=DictLoader(stuck=stuck))
    assert result.status == "suspended"
    assert "child workflow 'stuck' (mem-2), which waits for signal 'go'" in (
        result.waiting_for or ""
    )


def test_runaway_loop_of_timers_fails_with_limit_error() -> None:
    def again(h: Host, v: dict[str, Any]) -> Any:
        return Await(h.start_timer(h.now_ms() + 1), "t")

    class Forever(machine("forever", again)):  # type: ignore[misc]
        def run(self) -> Step:
            step = super().run()
            if isinstance(step, Completed):  # loop: restart the script
                self.label = 0
                return super().run()
            return step

    result = run(Forever, max_activations=50)
    result.assert_failed("LimitError")
    assert "50 activations" in result.error["message"]


def test_flow_limit_fails_the_run() -> None:
    def too_much(h: Host, v: dict[str, Any]) -> Any:
        raise FlowLimit("more than 10 operations between two suspensions")

    result = run(machine("wf", too_much))
    result.assert_failed("LimitError", message="more than 10 operations between two suspensions")


def test_machine_bug_is_an_internal_error_with_traceback() -> None:
    def broken(h: Host, v: dict[str, Any]) -> Any:
        return {}["missing"]

    result = run(machine("wf", broken))
    result.assert_failed("InternalError")
    assert "KeyError" in result.internal_errors[0]


def test_context_logs_random_and_limits() -> None:
    wf = machine(
        "wf",
        lambda h, v: h.log("hello"),
        lambda h, v: Return([h.context, h.random(), h.limits.max_ops]),
    )
    result = run(wf, inputs={"a": 1}, seed=7, limits=Limits(max_ops=10))
    context, rnd, max_ops = result.assert_completed()
    assert context == {
        "executionId": "mem-1",
        "workflowName": "main",
        "version": "sha-wf",
        "startedAt": "2023-11-14T22:13:20.000Z",
    }
    assert 0 <= rnd < 1 and max_ops == 10
    assert result.logs == ["[mem-1] hello"]
    assert run(wf, seed=7).result[1] == rnd


def test_results_are_copies_flow_code_cannot_change_the_record() -> None:
    wf = machine(
        "wf",
        lambda h, v: v.update(p=h.start_task("t", {}, {})),
        lambda h, v: Await(v["p"], "a"),
        lambda h, v: v["a"].append("mutated"),
        lambda h, v: Await(v["p"], "b"),
        lambda h, v: Return(v["b"]),
    )
    run(wf, {"tasks": {"t": {"returns": [1]}}}).assert_completed([1])
