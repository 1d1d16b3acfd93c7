"""Base class of every generated workflow machine, and the small helpers its code calls.

A generated class (see ``generated/`` and ``codegen_templates/``) only declares data —
its state methods, the label -> handler table, the label -> live-variables table — and
this module owns the behaviour they share:

- the dispatch loop (``run``): call the state method for the current label; each returns
  the next label, ``DONE`` or ``SUSPEND``; a ``FlowThrow`` is routed to the ``catch`` or
  ``finally`` of the enclosing *lowered* ``try`` through ``HANDLERS``;
- ``await`` (``await_`` / ``received``), the protocol's rules for settled promises;
- pending completions of ``finally`` blocks (``leave`` / ``end_finally``): a
  ``return``/``break``/``continue``/``throw`` that crosses a ``finally`` which may suspend is
  stored as ``[kind, payload, route]`` in the variables dict, so it survives a snapshot;
- the operation counter (``tick``) and the snapshot size limit (LimitError);
- mapping a failure, and the ``return`` that ends a run, to the ``.flow`` line, from the
  ``# file.flow:N`` comments that the generator writes above each statement.

Generated code must not reach anything else of Python: it calls only ``ops``, this module
and ``protocol``.
"""

from __future__ import annotations

import json
import linecache
import re
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, ClassVar

from rhythm.flowrt import codec, ops, values
from rhythm.flowrt.protocol import (
    Completed,
    Failed,
    FlowLimit,
    FlowThrow,
    FlowValue,
    Host,
    JsonValue,
    Machine,
    MachineInfo,
    Promise,
    Step,
    Suspended,
)

DONE = -1
SUSPEND = -2
SNAPSHOT_FORMAT = 1

Vars = dict[str, Any]
StateFunction = Callable[[Any, Vars], int]  # an unbound state method: (machine, vars)
# A route of finally blocks still to run: [[finally label, completion slot], ...].
Route = list[list[Any]]

_FLOW_LINE = re.compile(r"^\s*# \S+:(\d+)(\s|$)")
_STATE_METHOD = re.compile(r"^ {4}def ")  # (a state method; arrows nest deeper)


class FlowMachine(Machine):
    """The shared engine of generated machines (one instance = one activation)."""

    INFO: ClassVar[MachineInfo]
    STATES: ClassVar[tuple[str, ...]] = ()  # label -> state method name
    HANDLERS: ClassVar[dict[int, tuple[int, str | None]]] = {}  # label -> (target, slot)
    LIVE: ClassVar[dict[int, tuple[str, ...]]] = {}  # resume label -> keys kept in snapshots
    AWAITS: ClassVar[dict[int, str]] = {}  # resume label -> await identity (compiler 2+)
    NEEDS: ClassVar[dict[int, tuple[str, ...]]] = {}  # resume label -> keys bound before it
    # label -> state function, looked up once per class. Kept unbound on purpose: a list of
    # bound methods on the instance would be a reference cycle (instance -> list -> method
    # -> instance), so every ended activation would wait for the cyclic garbage collector
    # instead of being freed at once (thousands of collections in a worker's drain).
    _STATE_FUNCTIONS: ClassVar[tuple[StateFunction, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._STATE_FUNCTIONS = tuple(getattr(cls, name) for name in cls.STATES)

    def __init__(self, host: Host, label: int, variables: Vars, waiting: Promise | None) -> None:
        self.host = host
        self.label = label
        self.vars = variables
        self.waiting = waiting
        self.received_value: FlowValue = None
        self.caught: FlowValue = None
        self.result: JsonValue = None
        self.end_line: int | None = None  # the .flow line of the return that ended the run
        self._return_line: int | None = None  # a return crossing finally blocks: its line
        self.ops = 0
        self.max_ops = host.limits.max_ops

    # ------------------------------------------------------------------ protocol

    @classmethod
    def start(cls, host: Host) -> FlowMachine:
        return cls(host, 0, {}, None)

    @classmethod
    def restore(cls, host: Host, snapshot: dict[str, JsonValue]) -> FlowMachine:
        try:
            if snapshot.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"unknown snapshot format {snapshot.get('format')!r}")
            if snapshot.get("version") != cls.INFO.version:
                raise ValueError("snapshot belongs to another version of this workflow")
            label = snapshot["label"]
            if not isinstance(label, int) or label not in cls.LIVE:
                raise ValueError(f"snapshot label {label!r} is not a resume point")
            waiting_id = snapshot["waiting"]
            variables = codec.decode(snapshot["vars"], host)
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"unreadable snapshot: {err}") from err
        if not isinstance(variables, dict):
            raise ValueError("unreadable snapshot: vars is not an object")
        waiting = Promise(waiting_id) if isinstance(waiting_id, int) else None
        return cls(host, label, variables, waiting)

    def run(self) -> Step:
        self.ops = 0
        values.meter_with(self, self.host.limits)  # costly built-ins charge self.ops
        states = self._STATE_FUNCTIONS
        variables = self.vars
        label = self.label
        try:
            return self._dispatch(states, variables, label)
        finally:
            values.unmetered()  # no reference kept to an ended activation

    def _dispatch(self, states: tuple[StateFunction, ...], variables: Vars, label: int) -> Step:
        try:
            while True:
                try:
                    while label >= 0:
                        self.label = label
                        label = states[label](self, variables)
                    break
                except FlowThrow as thrown:
                    label = self._route_throw(thrown)
        except FlowThrow as err:
            return Failed(_json_error(err.value), self._failure_line(err.__traceback__))
        except FlowLimit as err:
            return self._limit_hit(err.message, err)
        except RecursionError as err:  # a walk the depth limits missed: still the user's limit
            return self._limit_hit("a value or a call chain is nested too deeply", err)
        if label == SUSPEND:
            assert self.waiting is not None
            return Suspended(self.waiting)
        try:  # (a finally may have put a promise or a function into the result)
            return Completed(ops.to_json_copy(self.result), self.end_line)
        except FlowThrow as err:
            return Failed(_json_error(err.value))

    def snapshot(self) -> dict[str, JsonValue]:
        return self.snapshot_and_text()[0]

    def snapshot_and_text(self) -> tuple[dict[str, JsonValue], str]:
        # (its text is made to check its size: a history entry keeps that text instead
        # of encoding the snapshot again)
        try:
            return self._snapshot()
        except FlowLimit as limit:  # positioned at the await that suspended
            line = self.INFO.lines.get(self.label)
            if line is None:
                raise
            raise FlowLimit(f"{limit.message} (at {self.INFO.source_path}:{line})") from None

    def _snapshot(self) -> tuple[dict[str, JsonValue], str]:
        live = self.LIVE.get(self.label, ())
        kept = {key: self.vars[key] for key in live if key in self.vars}
        snap = {
            "format": SNAPSHOT_FORMAT,
            "version": self.INFO.version,
            "label": self.label,
            "waiting": self.waiting.id if self.waiting is not None else None,
            "vars": codec.encode(kept),
        }
        text = json.dumps(snap, separators=(",", ":"))
        size = len(text)
        if size > self.host.limits.max_snapshot_bytes:
            raise FlowLimit(
                f"workflow state is {size} bytes, over the snapshot limit of "
                f"{self.host.limits.max_snapshot_bytes} bytes"
            )
        return snap, text

    # ------------------------------------------------------- helpers for states

    def await_(self, value: FlowValue, resume: int) -> int:
        """``await value`` then continue at ``resume`` (now if possible, else after a snapshot)."""
        if not isinstance(value, Promise):
            self.waiting = None
            self.received_value = value
            return resume
        self.waiting = value
        if self.host.is_settled(value):
            return resume
        self.label = resume
        return SUSPEND

    def received(self) -> FlowValue:
        """The outcome of the last ``await``: its value, or raise its rejection."""
        promise = self.waiting
        if promise is None:
            value, self.received_value = self.received_value, None
            return value
        self.waiting = None
        return self.host.result_of(promise)

    def done(self, value: FlowValue) -> int:
        """The workflow returns ``value`` (already awaited). It is checked here (a promise
        inside throws TypeError at the ``return``) but copied only when the run ends: a
        ``finally`` that the return crosses may still change it (a reference)."""
        return self._done(value, self._calling_line())

    def _done(self, value: FlowValue, line: int | None) -> int:
        ops.to_json_copy(value)
        self.result = value
        self.end_line = line
        return DONE

    def finish(self, value: FlowValue, resume: int) -> int:
        """``return value``: a promise is awaited first (its result goes to ``resume``)."""
        if isinstance(value, Promise):
            return self.await_(value, resume)
        return self.done(value)

    def take_caught(self) -> FlowValue:
        value, self.caught = self.caught, None
        return value

    def leave(self, v: Vars, kind: str, payload: FlowValue, route: Route) -> int:
        """Cross the ``finally`` blocks of ``route`` (innermost first) with a pending completion."""
        if kind == "return":  # (its line, for the ending: not kept in a snapshot)
            self._return_line = self._calling_line()
        return self._leave(v, kind, payload, route)

    def _leave(self, v: Vars, kind: str, payload: FlowValue, route: Route) -> int:
        (label, slot), rest = route[0], route[1:]
        v[slot] = [kind, payload, rest]
        return int(label)

    def end_finally(self, v: Vars, slot: str, after: int) -> int:
        """End of a ``finally``: resume its pending completion, or go on at ``after``."""
        completion = v.pop(slot, None)
        if completion is None:
            return after
        kind, payload, route = completion
        if kind == "throw":
            raise FlowThrow(payload)
        if route:
            return self._leave(v, kind, payload, route)
        if kind == "return":
            return self._done(payload, self._return_line)
        return int(payload)

    def tick(self) -> None:
        """Count one loop iteration (LimitError past the budget; costly built-ins charge
        the same counter through ``values.charge``)."""
        self.ops += 1
        if self.ops > self.max_ops:
            values.budget_exceeded(self.max_ops)

    # ------------------------------------------------------------------ internals

    def _limit_hit(self, message: str, err: BaseException) -> Failed:
        """A LimitError, positioned: flow code cannot catch it, so its message may say
        where it happened (``file.flow:line``) for the person reading the failure."""
        line = self._failure_line(err.__traceback__)
        if line is not None:
            message = f"{message} (at {self.INFO.source_path}:{line})"
        return Failed(FlowLimit(message).value, line)

    def _route_throw(self, thrown: FlowThrow) -> int:
        handler = self.HANDLERS.get(self.label)
        if handler is None:
            raise thrown
        target, slot = handler
        if slot is None:
            self.caught = thrown.value
        else:
            self.vars[slot] = ["throw", thrown.value, []]
        return target

    def _failure_line(self, tb: TracebackType | None) -> int | None:
        """The .flow line of the statement that failed, read from the generated comments."""
        generated = _module_file(type(self))
        python_line = None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == generated:
                python_line = tb.tb_lineno
            tb = tb.tb_next
        return self._flow_line(generated, python_line)

    def _calling_line(self) -> int | None:
        """The .flow line of the generated code that called into this module (a
        ``return``: ``done``, ``finish`` or ``leave``), found as a failure's is."""
        generated = _module_file(type(self))
        frame = sys._getframe(1)
        while frame is not None and frame.f_code.co_filename != generated:
            frame = frame.f_back  # type: ignore[assignment]
        return self._flow_line(generated, frame.f_lineno if frame is not None else None)

    def _flow_line(self, generated: str, python_line: int | None) -> int | None:
        """The ``# file.flow:N`` comment above ``python_line`` in its state method, at
        its depth or outside it (deeper lines above are other statements' blocks: a
        branch, an arrow's body); the state's own line when the method has none (a
        resume state that starts mid-statement: a comment further up belongs to another
        state)."""
        if python_line is not None:
            depth = _indent(linecache.getline(generated, python_line))
            for number in range(python_line, 0, -1):
                text = linecache.getline(generated, number)
                if not text.strip() or _indent(text) > depth:
                    continue
                depth = _indent(text)
                match = _FLOW_LINE.search(text)
                if match:
                    return int(match.group(1))
                if _STATE_METHOD.match(text):
                    break
        return self.INFO.lines.get(self.label)


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _module_file(cls: type) -> str:
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None) or f"<flow {cls.__module__}>"


def _json_error(value: FlowValue) -> JsonValue:
    try:
        return ops.to_json_copy(value)
    except FlowLimit as limit:
        return limit.value
    except FlowThrow:
        return {"name": "TypeError", "message": "the thrown value cannot be stored as JSON"}


# --------------------------------------------------------- expression helpers


def params(args: tuple[FlowValue, ...], count: int) -> tuple[FlowValue, ...]:
    """Arrow parameters: missing arguments are null, extra ones are ignored."""
    if len(args) >= count:
        return args[:count]
    return args + (None,) * (count - len(args))


def assign(v: Vars, key: str, value: FlowValue) -> FlowValue:
    """``x = value`` used as an expression."""
    v[key] = value
    return value


def assign_member(target: FlowValue, key: FlowValue, value: FlowValue) -> FlowValue:
    """``o[k] = value`` used as an expression."""
    ops.set(target, key, value)
    return value


def update(v: Vars, key: str, step: Callable[[FlowValue], FlowValue], prefix: bool) -> FlowValue:
    """``x++`` / ``++x`` used as an expression."""
    old = v[key]
    new = step(old)
    v[key] = new
    return new if prefix else old


def update_member(
    target: FlowValue, key: FlowValue, step: Callable[[FlowValue], FlowValue], prefix: bool
) -> FlowValue:
    """``o.k++`` / ``++o.k`` used as an expression."""
    old = ops.get(target, key)
    new = step(old)
    ops.set(target, key, new)
    return new if prefix else old


def register_source(filename: str, source: str) -> None:
    """Make in-memory generated code visible to tracebacks and to failure-line lookup."""
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
