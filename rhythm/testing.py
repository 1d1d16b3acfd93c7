"""Run .flow workflows in memory from Python tests: the library side of ``rhythm run``.

    from rhythm.testing import run_flow

    def test_order_ships():
        result = run_flow("workflows/process_order.flow", inputs={"orderId": "o-1"},
                          mocks={"tasks": {"charge": {"returns": {"id": "p1"}}}})
        result.assert_completed({"status": "shipped"})
        assert result.calls_to("charge") == [{"orderId": "o-1"}]

Tasks are answered by mocks (the ``--mocks`` format of runtime.md), timers advance a
virtual clock instantly, child workflows are compiled from ``.flow`` files next to the
workflow (or from ``workflows={name: source}``). See docs/testing.md.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from rhythm.engine.flow_errors import describe_error
from rhythm.engine.memory import MemoryWorld, RunOutcome, RunSettings
from rhythm.engine.mocks import Mocks, RunInputError, load_mocks, parse_mocks
from rhythm.errors import CompileError, NotBuiltYet, UnknownName
from rhythm.flowrt.protocol import Limits, Machine
from rhythm.flowrt.values import MAX_DEPTH, nesting_exceeds

__all__ = ["FlowLoader", "RunResult", "run_flow", "run_machine"]

_UNSET: Any = object()


@dataclass
class RunResult:
    """The end of an in-memory run. ``status``: completed | failed | cancelled | suspended |
    compile_error (cancelled: the mocks' ``cancel`` reached it; ``result`` is what it
    returned if it caught the CancelledError)."""

    status: str
    result: Any = None
    error: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    waiting_for: str | None = None  # for "suspended": what the workflow waits for
    errors: list[dict[str, Any]] = field(default_factory=list)  # for "compile_error"
    execution_id: str | None = None
    activations: int = 0
    virtual_ms: int = 0
    internal_errors: list[str] = field(default_factory=list)
    # The root execution's history entries, as ``rhythm history --json`` shows them on
    # Postgres (docs/observability.md; ``at`` is virtual time, ``worker`` None).
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, with_history: bool = False) -> dict[str, Any]:
        """The ``rhythm run --json`` object."""
        if self.status == "compile_error":
            return {"status": "compile_error", "errors": self.errors}
        out: dict[str, Any] = {
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "calls": self.calls,
        }
        if self.status == "suspended":
            out["waitingFor"] = self.waiting_for
        if with_history:
            out["history"] = self.history
        return out

    def calls_to(self, name: str) -> list[Any]:
        """The inputs of every request of task or child workflow ``name``, in order."""
        return [call["inputs"] for call in self.calls if call["name"] == name]

    def assert_completed(self, expected: Any = _UNSET) -> Any:
        """Fail the test unless the run completed (with ``expected``, compared strictly)."""
        if self.status != "completed":
            raise AssertionError(f"workflow did not complete: {self.summary()}")
        if expected is not _UNSET and not strict_equal(self.result, expected):
            raise AssertionError(
                f"workflow result {_dump(self.result)} != expected {_dump(expected)}"
            )
        return self.result

    def assert_failed(self, name: str | None = None, **fields: Any) -> Any:
        """Fail the test unless the run failed (with an error of ``name`` and ``fields``)."""
        if self.status != "failed":
            raise AssertionError(f"workflow did not fail: {self.summary()}")
        got = self.error if isinstance(self.error, dict) else {}
        wanted = ({"name": name} if name is not None else {}) | fields
        for key, value in wanted.items():
            if not strict_equal(got.get(key), value):
                raise AssertionError(
                    f"error.{key} = {_dump(got.get(key))}, expected {_dump(value)} "
                    f"(error: {_dump(self.error)})"
                )
        return self.error

    def summary(self) -> str:
        """One line saying how the run ended."""
        if self.status == "completed":
            return f"completed with {_dump(self.result)}"
        if self.status in ("failed", "cancelled"):
            return f"{self.status} with {describe_error(self.error)}"
        if self.status == "suspended":
            return f"suspended: {self.waiting_for}"
        lines = [f"{e['line']}:{e['column']}: {e['message']}" for e in self.errors]
        return "compile error: " + "; ".join(lines)


def strict_equal(a: Any, b: Any) -> bool:
    """JSON equality telling 2 from 2.0 and true from 1; object key order ignored."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _dump(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)[:500]
    except (TypeError, ValueError):
        return repr(value)[:500]


class FlowLoader:
    """Compiles workflows by name: ``workflows`` sources first, then ``<directory>/<name>.flow``."""

    def __init__(
        self, directory: str | os.PathLike[str] | None, workflows: dict[str, str] | None = None
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.workflows = dict(workflows or {})
        self._cache: dict[str, type[Machine]] = {}

    def load(self, name: str) -> type[Machine]:
        if name not in self._cache:
            source, path = self._source_of(name)
            self._cache[name] = compile_source(source, path, name)
        return self._cache[name]

    def _source_of(self, name: str) -> tuple[str, str]:
        if name in self.workflows:
            return self.workflows[name], f"{name}.flow"
        relative = PurePosixPath(f"{name}.flow")
        if self.directory is None or relative.is_absolute() or ".." in relative.parts:
            raise UnknownName(f"no workflow named '{name}'")
        path = self.directory / relative
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except FileNotFoundError:
            raise UnknownName(f"no workflow named '{name}': {path} does not exist") from None
        except OSError as err:
            raise UnknownName(f"cannot read workflow '{name}' from {path}: {err}") from err


def compile_source(source: str, path: str, name: str) -> type[Machine]:
    """Compile .flow text in memory (no black formatting when the compiler offers that)."""
    try:  # imported lazily: the compiler and its toolchain are heavy (and build side)
        compile_flow: Callable[..., type[Machine]] = importlib.import_module(
            "rhythm.codegen"
        ).compile_flow
    except (ImportError, AttributeError) as err:
        raise NotBuiltYet("the .flow compiler (rhythm.codegen.compile_flow) is not built") from err
    if "format" in inspect.signature(compile_flow).parameters:
        return compile_flow(source, path, name, format=False)
    return compile_flow(source, path, name)


def diagnostics_json(err: CompileError) -> list[dict[str, Any]]:
    """``[{"line", "column", "message"}]`` for every diagnostic of a compile error."""
    found = [_diagnostic_json(d) for d in err.diagnostics]
    return found or [{"line": 1, "column": 1, "message": str(err)}]


_POSITION = re.compile(r"(?:.*?:)?(\d+):(\d+): (.*)", re.DOTALL)


def _diagnostic_json(diagnostic: Any) -> dict[str, Any]:
    """Diagnostics are objects with line/column/message; a bare "L:C: text" is read too."""
    if hasattr(diagnostic, "line"):
        return {
            "line": diagnostic.line,
            "column": getattr(diagnostic, "column", 1),
            "message": str(getattr(diagnostic, "message", diagnostic)),
        }
    text = str(diagnostic)
    match = _POSITION.fullmatch(text)
    if match is None:
        return {"line": 1, "column": 1, "message": text}
    return {"line": int(match[1]), "column": int(match[2]), "message": match[3]}


def run_flow(
    flow: str | os.PathLike[str],
    inputs: dict[str, Any] | None = None,
    mocks: dict[str, Any] | str | os.PathLike[str] | Mocks | None = None,
    *,
    name: str | None = None,
    workflows: dict[str, str] | None = None,
    workflows_dir: str | os.PathLike[str] | None = None,
    start_time: int | str | datetime | None = None,
    seed: int | None = None,
    limits: Limits | None = None,
    echo_logs: bool = False,
) -> RunResult:
    """Run a workflow in memory to its end.

    ``flow`` is a path (a ``PathLike``, or a string ending in ``.flow`` with no newline)
    or .flow source text. Children come from ``workflows`` (name -> source), then from
    ``workflows_dir`` (default: the folder of ``flow``). ``mocks`` is the mocks structure,
    a path to a mocks file, or None. ``start_time`` fixes the virtual clock's start (epoch
    ms, ISO-8601 or datetime; default: now). A compile error of ``flow`` gives status
    ``compile_error``; bad inputs or mocks raise :class:`rhythm.engine.mocks.RunInputError`.
    """
    source, path, default_name, folder = _read_flow(flow)
    checked_inputs, checked_mocks = check_inputs(inputs), _mocks(mocks)  # before compiling
    loader = FlowLoader(workflows_dir if workflows_dir is not None else folder, workflows)
    workflow_name = name or default_name
    try:
        cls = compile_source(source, path, workflow_name)
    except CompileError as err:
        return RunResult("compile_error", errors=diagnostics_json(err))
    return run_machine(
        cls,
        checked_inputs,
        checked_mocks,
        name=workflow_name,
        loader=loader,
        start_time=start_time,
        seed=seed,
        limits=limits,
        echo_logs=echo_logs,
    )


def run_machine(
    cls: type[Machine],
    inputs: dict[str, Any] | None = None,
    mocks: dict[str, Any] | str | os.PathLike[str] | Mocks | None = None,
    *,
    name: str = "main",
    loader: Any = None,
    start_time: int | str | datetime | None = None,
    seed: int | None = None,
    limits: Limits | None = None,
    echo_logs: bool = False,
    max_activations: int = 100_000,
) -> RunResult:
    """Run an already compiled (or hand-written) machine class in memory."""
    logs: list[str] = []

    def sink(execution_id: str, text: str) -> None:
        line = f"[{execution_id}] {text}"
        logs.append(line)
        if echo_logs:
            print(line, file=sys.stderr, flush=True)

    settings = RunSettings(
        start_ms=_start_ms(start_time),
        seed=seed,
        limits=limits or Limits(),
        max_activations=max_activations,
    )
    world = MemoryWorld(loader or FlowLoader(None), _mocks(mocks), settings, sink)
    outcome = world.run(cls, name, check_inputs(inputs))
    return _result(outcome, logs)


def _result(outcome: RunOutcome, logs: list[str]) -> RunResult:
    return RunResult(
        outcome.status,
        outcome.result,
        outcome.error,
        outcome.calls,
        logs,
        outcome.waiting_for,
        execution_id=outcome.execution_id,
        activations=outcome.activations,
        virtual_ms=outcome.virtual_ms,
        internal_errors=outcome.internal_errors,
        history=outcome.history,
    )


def check_inputs(inputs: Any) -> dict[str, Any]:
    """Inputs must be a JSON object; returns a JSON copy."""
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise RunInputError(f"inputs must be a JSON object, not {type(inputs).__name__}")
    try:
        copied: dict[str, Any] = json.loads(json.dumps(inputs, allow_nan=False))
    except (TypeError, ValueError) as err:
        raise RunInputError(f"inputs are not JSON: {err}") from err
    except RecursionError as err:
        raise RunInputError(f"inputs are nested more than {MAX_DEPTH} levels deep") from err
    if nesting_exceeds(copied, MAX_DEPTH):  # the same limit as the worker's
        raise RunInputError(f"inputs are nested more than {MAX_DEPTH} levels deep")
    return copied


def _mocks(mocks: dict[str, Any] | str | os.PathLike[str] | Mocks | None) -> Mocks:
    if isinstance(mocks, Mocks):
        return mocks
    if isinstance(mocks, str | os.PathLike):
        return load_mocks(mocks)
    return parse_mocks(mocks)


def _start_ms(start: int | str | datetime | None) -> int | None:
    if start is None or isinstance(start, int):
        return start
    moment = start if isinstance(start, datetime) else _parse_iso(start)
    return int(moment.timestamp() * 1000)


def _parse_iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise RunInputError(f"start_time {text!r} is not an ISO-8601 instant") from err


def _read_flow(flow: str | os.PathLike[str]) -> tuple[str, str, str, Path | None]:
    """(source, path for messages, workflow name, folder of children) of ``flow``."""
    is_path = isinstance(flow, os.PathLike) or (flow.endswith(".flow") and "\n" not in flow)
    if not is_path:
        return str(flow), "main.flow", "main", None
    path = Path(flow)
    try:
        return path.read_text(encoding="utf-8"), str(path), path.stem, path.parent
    except FileNotFoundError:
        raise RunInputError(f"{path}: no such .flow file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunInputError(f"{path}: cannot read: {err}") from err
