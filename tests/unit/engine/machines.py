"""Hand-written machines: test doubles of compiled workflows that follow the protocol.

A :class:`ScriptMachine` runs a list of steps. Each step is a function ``(host, vars)``
returning ``None`` (go on), :class:`Await`, :class:`Return` or :class:`Throw`. Its state is
a label, the variables and the await in progress, all saved as JSON (promises as
``{"$promise": id}``), so the in-memory host really snapshots and restores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from rhythm.flowrt.protocol import (
    Completed,
    Failed,
    FlowThrow,
    Host,
    Machine,
    MachineInfo,
    Promise,
    Step,
    Suspended,
)


@dataclass
class Await:
    promise: Any
    into: str
    catch: bool = False  # store a rejection in vars[into + "_error"] instead of failing


@dataclass
class Return:
    value: Any


@dataclass
class Throw:
    value: Any


RESTORED: list[dict[str, Any]] = []  # every snapshot a host restored from, for tests

Action = Await | Return | Throw | None
StepFn = Callable[[Host, dict[str, Any]], Action]


def _encode(value: Any) -> Any:
    if isinstance(value, Promise):
        return {"$promise": value.id}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$promise"}:
            return Promise(value["$promise"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


class ScriptMachine(Machine):
    STEPS: ClassVar[list[StepFn]] = []

    def __init__(self, host: Host, label: int, vars: dict[str, Any], awaiting: Any) -> None:
        self.host, self.label, self.vars, self.awaiting = host, label, vars, awaiting

    @classmethod
    def start(cls, host: Host) -> Machine:
        return cls(host, 0, {}, None)

    @classmethod
    def restore(cls, host: Host, snapshot: dict[str, Any]) -> Machine:
        RESTORED.append(snapshot)
        return cls(host, snapshot["label"], _decode(snapshot["vars"]), snapshot["awaiting"])

    def run(self) -> Step:
        while True:
            if self.awaiting is not None:
                promise_id, into, catch = self.awaiting
                promise = Promise(promise_id)
                if not self.host.is_settled(promise):
                    return Suspended(promise)
                self.awaiting = None
                try:
                    self.vars[into] = self.host.result_of(promise)
                except FlowThrow as thrown:
                    if not catch:
                        return Failed(thrown.value)
                    self.vars[into + "_error"] = thrown.value
            if self.label >= len(self.STEPS):
                return Completed(None)
            action = self.STEPS[self.label](self.host, self.vars)
            self.label += 1
            if isinstance(action, Await):
                if not isinstance(action.promise, Promise):
                    self.vars[action.into] = action.promise  # await of a plain value
                    continue
                self.awaiting = (action.promise.id, action.into, action.catch)
            elif isinstance(action, Return):
                return Completed(action.value)
            elif isinstance(action, Throw):
                return Failed(action.value)

    def snapshot(self) -> dict[str, Any]:
        return {"label": self.label, "vars": _encode(self.vars), "awaiting": self.awaiting}


def machine(name: str, *steps: StepFn) -> type[ScriptMachine]:
    """A ScriptMachine subclass running ``steps``."""
    info = MachineInfo(name, f"sha-{name}", f"{name}.flow", "test")
    return type(name, (ScriptMachine,), {"STEPS": list(steps), "INFO": info})


class DictLoader:
    """A WorkflowLoader over hand-written classes."""

    def __init__(self, **classes: type[Machine]) -> None:
        self.classes = classes

    def load(self, name: str) -> type[Machine]:
        from rhythm.errors import UnknownName

        if name not in self.classes:
            raise UnknownName(f"no workflow named '{name}'")
        return self.classes[name]
