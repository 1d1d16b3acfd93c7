"""The ``--mocks`` file of ``rhythm run``: parsing, validation and per-task replies.

Shape (runtime.md)::

    {"tasks":   {"<task>": {"returns": V} | {"echo": true}
                         | {"fails": {"type", "message"[, "details"]}}
                         | {"sequence": [<one of the above>, ...]}},
     "signals": [{"name": "<channel>", "payload": V, "after": <duration, default 0>}],
     "cancel":  {"after": <duration>}}   (cancel the run then, as `rhythm cancel` would)

Every mistake is one line naming the path of the bad entry (``mocks.json: tasks.flaky:
...``); unknown keys are rejected so that a typo never silently means "no mock".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rhythm.errors import EXIT_USAGE, InputError
from rhythm.flowrt.durations import parse_duration_ms
from rhythm.flowrt.values import MAX_DEPTH, nesting_exceeds

ReplyKind = Literal["returns", "echo", "fails"]
_REPLY_KEYS = ("returns", "echo", "fails")


class RunInputError(InputError):
    """A bad ``--inputs``, ``--mocks`` or FLOW argument of ``rhythm run`` (exit code 2)."""

    exit_code = EXIT_USAGE


@dataclass(frozen=True, slots=True)
class MockReply:
    """What one attempt of a mocked task does."""

    kind: ReplyKind
    value: Any = None  # for "returns"
    error_type: str = ""  # for "fails"
    message: str = ""
    details: Any = None


@dataclass(frozen=True, slots=True)
class SignalMock:
    name: str
    payload: Any
    after_ms: int


@dataclass(frozen=True)
class Mocks:
    """Replies per task name (a sequence; its last entry repeats) and scheduled signals."""

    tasks: dict[str, tuple[MockReply, ...]] = field(default_factory=dict)
    signals: tuple[SignalMock, ...] = ()
    cancel_after_ms: int | None = None  # when the run is cancelled, if ever


class TaskReplies:
    """Hands out replies in order: every attempt of a task, across calls, takes the next."""

    def __init__(self, mocks: Mocks) -> None:
        self._mocks = mocks
        self._used: dict[str, int] = {}

    def next_reply(self, task: str) -> MockReply | None:
        replies = self._mocks.tasks.get(task)
        if replies is None:
            return None
        index = self._used.get(task, 0)
        self._used[task] = index + 1
        return replies[min(index, len(replies) - 1)]


def load_mocks(path: str | os.PathLike[str]) -> Mocks:
    """Read and validate a mocks file; errors are :class:`RunInputError` naming the file."""
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise RunInputError(f"{origin}: cannot read mocks file: {err.strerror or err}") from err
    try:
        data = json.loads(text)
    except ValueError as err:
        raise RunInputError(f"{origin}: not valid JSON: {err}") from err
    except RecursionError as err:
        raise RunInputError(f"{origin}: nested too deeply") from err
    return parse_mocks(data, origin)


def parse_mocks(data: Any, origin: str = "mocks") -> Mocks:
    """Validate the mocks structure (already decoded JSON); None means no mocks."""
    if data is None:
        return Mocks()
    where = _Where(origin)
    _require(isinstance(data, dict), where, "must be a JSON object with 'tasks' and/or 'signals'")
    # A reply or payload may nest as deep as a workflow value can (the mocks file adds up
    # to four levels around it: tasks, name, sequence, entry).
    _require(not nesting_exceeds(data, MAX_DEPTH + 4), where,
             f"a value is nested more than {MAX_DEPTH} levels deep")
    _reject_unknown(data, ("tasks", "signals", "cancel"), where)
    tasks_data = data.get("tasks", {})
    _require(isinstance(tasks_data, dict), where.at("tasks"), "must be an object of task mocks")
    tasks = {
        name: _parse_task(spec, where.at("tasks").at(name)) for name, spec in tasks_data.items()
    }
    signals_data = data.get("signals", [])
    _require(isinstance(signals_data, list), where.at("signals"), "must be a list of signals")
    signals = tuple(
        _parse_signal(s, where.at("signals").index(i)) for i, s in enumerate(signals_data)
    )
    cancel = _parse_cancel(data["cancel"], where.at("cancel")) if "cancel" in data else None
    return Mocks(tasks, signals, cancel)


class _Where:
    """The path of an entry inside the mocks file, for error messages."""

    def __init__(self, origin: str, path: str = "") -> None:
        self.origin, self.path = origin, path

    def at(self, key: str) -> _Where:
        return _Where(self.origin, f"{self.path}.{key}" if self.path else key)

    def index(self, i: int) -> _Where:
        return _Where(self.origin, f"{self.path}[{i}]")

    def fail(self, message: str) -> RunInputError:
        return RunInputError(f"{self.origin}: {self.path or '(top level)'}: {message}")


def _require(condition: bool, where: _Where, message: str) -> None:
    if not condition:
        raise where.fail(message)


def _reject_unknown(data: dict[str, Any], allowed: tuple[str, ...], where: _Where) -> None:
    for key in data:
        _require(key in allowed, where, f"unknown key {key!r} (expected {', '.join(allowed)})")


def _parse_task(spec: Any, where: _Where) -> tuple[MockReply, ...]:
    _require(isinstance(spec, dict), where, "must be an object: returns, echo, fails or sequence")
    if "sequence" in spec:
        _reject_unknown(spec, ("sequence",), where)
        entries = spec["sequence"]
        _require(
            isinstance(entries, list) and len(entries) > 0,
            where.at("sequence"),
            "must be a non-empty list of replies",
        )
        return tuple(_parse_reply(e, where.at("sequence").index(i)) for i, e in enumerate(entries))
    return (_parse_reply(spec, where),)


def _parse_reply(spec: Any, where: _Where) -> MockReply:
    _require(isinstance(spec, dict), where, "must be an object with one of returns, echo, fails")
    _reject_unknown(spec, _REPLY_KEYS, where)
    _require(len(spec) == 1, where, "needs exactly one of returns, echo, fails")
    if "returns" in spec:
        return MockReply("returns", value=spec["returns"])
    if "echo" in spec:
        _require(spec["echo"] is True, where.at("echo"), "must be true")
        return MockReply("echo")
    fails = spec["fails"]
    inner = where.at("fails")
    _require(isinstance(fails, dict), inner, "must be an object with 'type' and 'message'")
    _reject_unknown(fails, ("type", "message", "details"), inner)
    for key in ("type", "message"):
        _require(isinstance(fails.get(key), str), inner.at(key), "must be a string")
    return MockReply(
        "fails", error_type=fails["type"], message=fails["message"], details=fails.get("details")
    )


def _parse_signal(spec: Any, where: _Where) -> SignalMock:
    _require(isinstance(spec, dict), where, "must be an object with 'name', 'payload', 'after'")
    _reject_unknown(spec, ("name", "payload", "after"), where)
    name = spec.get("name")
    _require(isinstance(name, str) and name != "", where.at("name"), "must be a non-empty string")
    try:
        after_ms = parse_duration_ms(spec.get("after", 0))
    except ValueError as err:
        raise where.at("after").fail(str(err)) from err
    return SignalMock(name, spec.get("payload"), after_ms)


def _parse_cancel(spec: Any, where: _Where) -> int:
    _require(isinstance(spec, dict), where, "must be an object with 'after'")
    _reject_unknown(spec, ("after",), where)
    try:
        return parse_duration_ms(spec.get("after", 0))
    except ValueError as err:
        raise where.at("after").fail(str(err)) from err
