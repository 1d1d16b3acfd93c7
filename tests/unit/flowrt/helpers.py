"""Shared helpers for the flow runtime tests: catching flow errors, a recording host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rhythm.flowrt.protocol import FlowThrow, Limits, Promise


def thrown(fn: Callable[..., Any], *args: Any) -> Any:
    """The flow value ``fn(*args)`` throws (fails the test if it returns)."""
    with pytest.raises(FlowThrow) as info:
        fn(*args)
    return info.value.value


def error_name(fn: Callable[..., Any], *args: Any) -> str:
    value = thrown(fn, *args)
    assert isinstance(value, dict), value
    return str(value["name"])


class RecordingHost:
    """A host that records every request and answers with increasing promise ids."""

    def __init__(self, now_ms: int = 1_700_000_000_000, random: float = 0.25) -> None:
        self.inputs: dict[str, Any] = {}
        self.context: dict[str, Any] = {}
        self.limits = Limits()
        self.calls: list[tuple[Any, ...]] = []
        self.logs: list[str] = []
        self._now = now_ms
        self._random = random
        self._next = 0

    def _promise(self, *call: Any) -> Promise:
        self.calls.append(call)
        self._next += 1
        return Promise(self._next)

    def start_task(self, name: str, inputs: dict[str, Any], options: dict[str, Any]) -> Promise:
        return self._promise("task", name, inputs, options)

    def start_child(self, name: str, inputs: dict[str, Any], options: dict[str, Any]) -> Promise:
        return self._promise("child", name, inputs, options)

    def start_timer(self, due_ms: int) -> Promise:
        return self._promise("timer", due_ms)

    def wait_signal(self, name: str, timeout_ms: int | None) -> Promise:
        return self._promise("signal", name, timeout_ms)

    def combine(self, kind: str, members: list[Any], keys: list[str] | None) -> Promise:
        return self._promise("combine", kind, members, keys)

    def is_settled(self, promise: Promise) -> bool:
        return False

    def result_of(self, promise: Promise) -> Any:
        raise AssertionError("not used")

    def now_ms(self) -> int:
        return self._now

    def random(self) -> float:
        return self._random

    def log(self, text: str) -> None:
        self.logs.append(text)
