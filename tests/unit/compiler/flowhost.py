"""A tiny host for compiler tests: instant fake tasks, settled by the test driver.

Tasks: ``echo`` returns its inputs, ``fail`` rejects with a TaskError, ``add`` returns
``inputs.a + inputs.b``; anything else returns its name. Timers resolve to null, signals
come from a dict of queued payloads. Promises stay pending until the driver calls
``settle_all`` (or at once with ``eager=True``), so every ``await`` on a task really
suspends unless the test asks otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rhythm.codegen import compile_flow
from rhythm.flowrt.protocol import (
    Completed,
    Failed,
    FlowThrow,
    Limits,
    Machine,
    Promise,
    Step,
    Suspended,
)


@dataclass
class Outcome:
    ok: bool
    value: Any


@dataclass
class FakeHost:
    inputs: dict[str, Any] = field(default_factory=dict)
    eager: bool = False
    limits: Limits = field(default_factory=Limits)
    signals: dict[str, list[Any]] = field(default_factory=dict)
    calls: list[list[Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    context: dict[str, Any] = field(
        default_factory=lambda: {
            "executionId": "e-1",
            "workflowName": "test",
            "version": "v",
            "startedAt": "2026-01-01T00:00:00Z",
        }
    )
    clock_ms: int = 1_000_000
    _pending: dict[int, Any] = field(default_factory=dict)  # id -> thunk giving an Outcome
    _settled: dict[int, Outcome] = field(default_factory=dict)
    _next_id: int = 0

    # ------------------------------------------------------------ the protocol

    def _promise(self, thunk: Any) -> Promise:
        self._next_id += 1
        self._pending[self._next_id] = thunk
        if self.eager:
            self.settle_all()
        return Promise(self._next_id)

    def start_task(self, name: str, inputs: dict[str, Any], options: dict[str, Any]) -> Promise:
        self.calls.append(["task", name, inputs])
        return self._promise(lambda: _fake_task(name, inputs))

    def start_child(self, name: str, inputs: dict[str, Any], options: dict[str, Any]) -> Promise:
        self.calls.append(["child", name, inputs])
        return self._promise(lambda: Outcome(True, {"child": name, "inputs": inputs}))

    def start_timer(self, due_ms: int) -> Promise:
        self.calls.append(["timer", due_ms - self.clock_ms])
        return self._promise(lambda: Outcome(True, None))

    def wait_signal(self, name: str, timeout_ms: int | None) -> Promise:
        def next_payload() -> Outcome:
            queue = self.signals.get(name, [])
            if queue:
                return Outcome(True, queue.pop(0))
            return Outcome(False, {"name": "TimeoutError", "message": f"no signal {name}"})

        return self._promise(next_payload)

    def combine(self, kind: str, members: list[Any], keys: list[str] | None) -> Promise:
        def combined() -> Outcome:
            outcomes = [self._outcome(m) for m in members]
            if kind == "all":
                failed = [o for o in outcomes if not o.ok]
                if failed:
                    return failed[0]
                values = [o.value for o in outcomes]
                return Outcome(True, dict(zip(keys, values, strict=True)) if keys else values)
            if kind == "allSettled":
                items = [
                    {"status": "fulfilled", "value": o.value}
                    if o.ok
                    else {"status": "rejected", "reason": o.value}
                    for o in outcomes
                ]
                return Outcome(True, dict(zip(keys, items, strict=True)) if keys else items)
            if kind == "race":
                return outcomes[0]
            good = [o for o in outcomes if o.ok]
            if good:
                return good[0]
            errors = [o.value for o in outcomes]
            return Outcome(False, {"name": "AggregateError", "message": "all", "errors": errors})

        return self._promise(combined)

    def _outcome(self, member: Any) -> Outcome:
        if not isinstance(member, Promise):
            return Outcome(True, member)
        self.settle_all()
        return self._settled[member.id]

    def is_settled(self, promise: Promise) -> bool:
        return promise.id in self._settled

    def result_of(self, promise: Promise) -> Any:
        outcome = self._settled[promise.id]
        if outcome.ok:
            return outcome.value
        raise FlowThrow(outcome.value)

    def now_ms(self) -> int:
        return self.clock_ms

    def random(self) -> float:
        return 0.5

    def log(self, text: str) -> None:
        self.logs.append(text)

    # ---------------------------------------------------------------- driver

    def settle_all(self) -> None:
        while self._pending:
            pid = min(self._pending)
            thunk = self._pending.pop(pid)
            self._settled[pid] = thunk()


def _fake_task(name: str, inputs: dict[str, Any]) -> Outcome:
    if name == "echo":
        return Outcome(True, inputs)
    if name == "fail":
        error = {"name": "TaskError", "message": "boom", "task": name, "type": "ValueError"}
        return Outcome(False, error)
    if name == "add":
        return Outcome(True, inputs["a"] + inputs["b"])
    return Outcome(True, name)


@dataclass
class RunResult:
    status: str
    value: Any
    calls: list[list[Any]]
    suspensions: int
    line: int | None = None


def drive(
    cls: type[Machine], inputs: dict[str, Any] | None, mode: str, **host_args: Any
) -> RunResult:
    """Run to the end. mode: ``eager`` (nothing suspends), ``same`` (one object resumed),
    ``restore`` (snapshot -> JSON text -> fresh machine at every suspension)."""
    signals = {name: list(queue) for name, queue in host_args.pop("signals", {}).items()}
    host = FakeHost(inputs=inputs or {}, eager=mode == "eager", signals=signals, **host_args)
    machine = cls.start(host)
    suspensions = 0
    while True:
        step: Step = machine.run()
        if isinstance(step, Completed):
            return RunResult("completed", step.result, host.calls, suspensions)
        if isinstance(step, Failed):
            return RunResult("failed", step.error, host.calls, suspensions, step.line)
        assert isinstance(step, Suspended)
        suspensions += 1
        assert suspensions < 10_000, "runaway"
        if mode == "restore":
            text = json.dumps(machine.snapshot())
            host.settle_all()
            machine = cls.restore(host, json.loads(text))
        else:
            machine.snapshot()  # must always be possible
            host.settle_all()


def run_flow(source: str, inputs: dict[str, Any] | None = None, **host_args: Any) -> RunResult:
    """Run a flow in all three modes; they must agree. Returns the ``restore`` run."""
    cls = compile_flow(source, "test.flow")
    runs = {
        mode: drive(cls, inputs, mode, **dict(host_args)) for mode in ("eager", "same", "restore")
    }
    eager, same, restored = runs["eager"], runs["same"], runs["restore"]
    for other in (same, restored):
        assert (other.status, other.value) == (eager.status, eager.value), runs
        assert other.calls == eager.calls, runs
    assert same.suspensions == restored.suspensions
    return restored
