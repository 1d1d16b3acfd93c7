"""The FlowMachine base: limits, snapshots (only live variables), failure lines, restore."""

from __future__ import annotations

import gc
import json
import weakref

import pytest

from rhythm.codegen import compile_flow
from rhythm.flowrt.protocol import Failed, Limits, Suspended
from tests.unit.compiler.flowhost import FakeHost, drive, run_flow


def test_runaway_loop_is_a_limit_error_that_catch_cannot_catch() -> None:
    source = "try { while (true) {} } catch (e) { return 'caught' } finally { }\nreturn 1"
    run = run_flow(source, limits=Limits(max_ops=1000))
    assert run.status == "failed"
    assert run.value["name"] == "LimitError"


def test_callbacks_count_as_operations() -> None:
    source = "let xs = []\nfor (let i = 0; i < 50; i++) xs.push(i)\nreturn xs.map(x => x).length"
    assert run_flow(source, limits=Limits(max_ops=80)).value["name"] == "LimitError"
    assert run_flow(source, limits=Limits(max_ops=200)).value == 50


def test_operation_count_restarts_after_a_suspension() -> None:
    source = (
        "let n = 0\n"
        "for (let i = 0; i < 3; i++) { for (let j = 0; j < 80; j++) n++; await Task.run('x') }\n"
        "return n"
    )
    cls = compile_flow(source, "count.flow")
    run = drive(cls, None, "restore", limits=Limits(max_ops=100))
    assert run.value == 240
    # With every await already settled nothing suspends, so the count keeps growing.
    assert drive(cls, None, "eager", limits=Limits(max_ops=100)).value["name"] == "LimitError"


def test_oversize_snapshot_is_a_limit_error() -> None:
    cls = compile_flow("let s = 'x'.repeat(5000)\nawait Task.run('x')\nreturn s.length", "big.flow")
    host = FakeHost(limits=Limits(max_snapshot_bytes=1000))
    machine = cls.start(host)
    assert isinstance(machine.run(), Suspended)
    with pytest.raises(Exception) as err:
        machine.snapshot()
    assert "snapshot limit" in str(err.value)


def test_snapshot_keeps_only_live_variables() -> None:
    source = (
        "let keep = 1\n"
        "{ let gone = 'x'.repeat(100); keep = gone.length }\n"
        "let t = keep + (await Task.run('echo', {v: 2})).v\n"
        "return t"
    )
    cls = compile_flow(source, "live.flow")
    machine = cls.start(FakeHost())
    assert isinstance(machine.run(), Suspended)
    text = json.dumps(machine.snapshot())
    assert "xxxx" not in text and "keep" in text
    assert run_flow(source).value == 102


def test_failure_reports_the_flow_line() -> None:
    source = "let a = 1\nawait Task.run('x')\nlet b = null\nreturn b.c"
    run = run_flow(source)
    assert run.status == "failed" and run.line == 4


def test_restore_rejects_foreign_snapshots() -> None:
    cls = compile_flow("await Task.run('x')\nreturn 1", "r.flow")
    host = FakeHost()
    machine = cls.start(host)
    machine.run()
    snap = machine.snapshot()
    for broken in ({**snap, "version": "other"}, {**snap, "label": 0}, {"format": 1}):
        with pytest.raises(ValueError):
            cls.restore(host, broken)


def test_uncaught_throw_fails_with_the_thrown_value() -> None:
    cls = compile_flow("throw {name: 'X', message: 'y', n: [1]}", "t.flow")
    step = cls.start(FakeHost()).run()
    assert step == Failed({"name": "X", "message": "y", "n": [1]}, 1)


def test_a_machine_is_freed_without_the_cycle_collector() -> None:
    # A worker makes one machine per activation; one held in a reference cycle would only
    # go when the cyclic collector runs (the worker's drain then spent its time there).
    cls = compile_flow("for (let i = 0; i < 2; i++) await Task.run('x')\nreturn 1", "free.flow")
    gc.disable()
    try:
        machine = cls.start(FakeHost())
        assert isinstance(machine.run(), Suspended)
        gone = weakref.ref(machine)
        del machine
        assert gone() is None
    finally:
        gc.enable()
