"""The in-memory host and scheduler behind ``rhythm run`` and ``rhythm.testing``.

One :class:`MemoryWorld` runs a root workflow (and the child workflows it starts) to its
end on a virtual clock, with tasks answered by mocks:

- Effects requested during an activation are buffered and become visible when it ends
  (guarantee 1): then tasks finish at that same virtual instant (retries included), child
  executions are queued, timers and signal waits are registered. A finished activation
  keeps its tasks and children (fire-and-forget) and drops its timers and signal waits.
- Every suspension goes through ``snapshot()`` → JSON text → ``restore()``, exactly as a
  Postgres worker would, so the in-memory runner exercises the resume path.
- When nothing is ready the clock jumps to the next event (timer, signal timeout, mocked
  signal); all events of one instant are applied before combinators are decided, so ties
  go to list order. Mocked signals are applied before timers of the same instant.
- A root that waits on something that can never settle ends with status ``suspended``;
  a runaway (too many activations or events) ends ``failed`` with a ``LimitError``.
- Cancellation (the mocks' ``cancel``) works as on Postgres: ``CancelledError`` at the
  current await, once; what was started before it is cancelled (children) or dropped
  (timers, waits); what ``catch``/``finally`` start afterwards runs normally; the
  execution ends ``cancelled`` whatever it does next.

Workflow classes come from a :class:`WorkflowLoader`, so this module never imports the
compiler (run side, docs/architecture.md).
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import random
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from rhythm.engine.flow_errors import (
    cancelled_error,
    child_workflow_error,
    limit_error,
    task_error,
    timeout_error,
)
from rhythm.engine.host import PromiseTableHost
from rhythm.engine.mocks import Mocks, TaskReplies
from rhythm.engine.promises import PromiseRecord, PromiseTable
from rhythm.engine.signals import SignalChannels
from rhythm.errors import RhythmError
from rhythm.flowrt.protocol import (
    Completed,
    Failed,
    FlowLimit,
    FlowThrow,
    Limits,
    Machine,
    Promise,
    Step,
    Suspended,
)
from rhythm.observe import entries

JsonValue = Any
ExecutionStatus = Literal["pending", "running", "suspended", "completed", "failed", "cancelled"]
RunStatus = Literal["completed", "failed", "suspended", "cancelled"]
LogSink = Callable[[str, str], None]  # (execution id, text)
MISSING_MOCK_TYPE = "MissingMock"


class WorkflowLoader(Protocol):
    """Finds the machine class of a workflow by name (raises a RhythmError if it cannot)."""

    def load(self, name: str) -> type[Machine]: ...


@dataclass(frozen=True)
class RunSettings:
    """Knobs of one in-memory run. ``start_ms`` None means the wall clock at start."""

    start_ms: int | None = None
    seed: int | None = None
    limits: Limits = field(default_factory=Limits)
    max_activations: int = 100_000
    max_events: int = 1_000_000
    history_snapshot_cap: int = entries.DEFAULT_SNAPSHOT_CAP  # as the worker's (history)


@dataclass
class RunOutcome:
    """How the root execution ended, and what it asked of the world."""

    status: RunStatus
    result: JsonValue
    error: JsonValue
    calls: list[dict[str, JsonValue]]
    waiting_for: str | None
    execution_id: str
    activations: int
    virtual_ms: int  # virtual time that passed
    internal_errors: list[str] = field(default_factory=list)  # tracebacks of engine/machine bugs
    history: list[dict[str, JsonValue]] = field(default_factory=list)  # the root's entries


class _Runaway(Exception):
    pass


@dataclass
class Execution:
    """One workflow execution inside the world: its state between activations."""

    id: str
    name: str
    cls: type[Machine]
    inputs: dict[str, JsonValue]
    started_at: int
    parent: tuple[Execution, int] | None  # (parent execution, promise id there)
    table: PromiseTable = field(default_factory=PromiseTable)
    channels: SignalChannels = field(default_factory=SignalChannels)
    children: dict[int, Execution] = field(default_factory=dict)  # child promise id -> child
    requested: list[int] = field(default_factory=list)  # effects of the running activation
    snapshot: dict[str, JsonValue] | None = None
    status: ExecutionStatus = "pending"
    waiting_on: int | None = None
    result: JsonValue = None
    error: JsonValue = None
    queued: bool = False
    cancel_requested: bool = False
    cancel_delivered: bool = False
    cancel_boundary: int = 0  # promises below it were started before CancelledError
    history: list[dict[str, JsonValue]] = field(default_factory=list)  # as on Postgres

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    @property
    def cancel_pending(self) -> bool:
        return self.cancel_requested and not self.cancel_delivered

    def before_cancel(self, promise_id: int) -> bool:
        """True for a promise started before CancelledError was thrown in."""
        return self.cancel_delivered and promise_id < self.cancel_boundary


@dataclass(order=True)
class _Event:
    due: int
    seq: int
    kind: Literal["signal", "timer", "signal_timeout", "cancel"] = field(compare=False)
    execution: Execution = field(compare=False)
    promise_id: int = field(default=0, compare=False)
    channel: str = field(default="", compare=False)
    payload: JsonValue = field(default=None, compare=False)


class MemoryHost(PromiseTableHost):
    """The :class:`rhythm.flowrt.protocol.Host` of one execution in a :class:`MemoryWorld`."""

    def __init__(self, world: MemoryWorld, execution: Execution) -> None:
        self._world = world
        self._ex = execution
        self.table = execution.table
        self.requested = execution.requested
        self.read: list[int] = []
        self.inputs = execution.inputs
        self.limits = world.settings.limits
        self.context: dict[str, JsonValue] = {
            "executionId": execution.id,
            "workflowName": execution.name,
            "version": getattr(getattr(execution.cls, "INFO", None), "version", ""),
            "startedAt": iso_utc(execution.started_at),
        }

    def start_task(
        self, name: str, inputs: dict[str, JsonValue], options: dict[str, JsonValue]
    ) -> Promise:
        self._world.record_call(self._ex, "task", name, inputs)
        return super().start_task(name, inputs, options)

    def start_child(
        self, name: str, inputs: dict[str, JsonValue], options: dict[str, JsonValue]
    ) -> Promise:
        self._world.record_call(self._ex, "workflow", name, inputs)
        return super().start_child(name, inputs, options)

    def after_combine(self, record: PromiseRecord) -> None:
        self._world.after_settlements(self._ex)

    def cancellation_pending(self) -> bool:
        return self._ex.cancel_pending

    def cancellation_delivered(self) -> None:
        self._ex.cancel_delivered = True
        self._ex.cancel_boundary = self.table.next_id
        for dropped in self.table.abandon_waits(self._ex.cancel_boundary):
            self._ex.channels.withdraw(dropped)

    def now_ms(self) -> int:
        return self._world.clock

    def random(self) -> float:
        return self._world.rng.random()

    def log(self, text: str) -> None:
        self._world.log_sink(self._ex.id, text)


def iso_utc(epoch_ms: int) -> str:
    """``2024-05-01T12:00:00.000Z`` for an epoch-milliseconds instant."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_copy(value: JsonValue) -> JsonValue:
    return json.loads(json.dumps(value, allow_nan=False))


class MemoryWorld:
    """Runs one root workflow and its children on a virtual clock with mocked tasks."""

    def __init__(
        self,
        loader: WorkflowLoader,
        mocks: Mocks | None = None,
        settings: RunSettings | None = None,
        log_sink: LogSink | None = None,
    ) -> None:
        self.loader = loader
        self.mocks = mocks or Mocks()
        self.settings = settings or RunSettings()
        self.log_sink: LogSink = log_sink or (lambda _id, _text: None)
        start = self.settings.start_ms
        self.start_ms = int(time.time() * 1000) if start is None else start
        self.clock = self.start_ms
        self.rng = random.Random(self.settings.seed)
        self.replies = TaskReplies(self.mocks)
        self.calls: list[dict[str, JsonValue]] = []
        self.internal_errors: list[str] = []
        self.activations = 0
        self._events: list[_Event] = []
        self._event_seq = itertools.count()
        self._events_applied = 0
        self._ready: deque[Execution] = deque()
        self._ids = itertools.count(1)
        self._root: Execution | None = None
        self._last: tuple[MemoryHost, Machine | None] | None = None  # the activation's

    # ------------------------------------------------------------------ the run

    def run(self, cls: type[Machine], name: str, inputs: dict[str, JsonValue]) -> RunOutcome:
        root = self._new_execution(cls, name, inputs, parent=None)
        self._root = root
        version = getattr(getattr(cls, "INFO", None), "version", None)
        self._note(root, "started", {"name": name, "version": version})
        for signal in self.mocks.signals:
            due = self.start_ms + signal.after_ms
            self._push(_Event(due, 0, "signal", root, channel=signal.name, payload=signal.payload))
        if self.mocks.cancel_after_ms is not None:
            self._push(_Event(self.start_ms + self.mocks.cancel_after_ms, 0, "cancel", root))
        try:
            while not root.finished:
                if self._ready:
                    self._activate(self._ready.popleft())
                elif not self._advance():
                    break
        except _Runaway as err:
            root.status, root.error = "failed", limit_error(str(err))
        return self._outcome(root)

    def _outcome(self, root: Execution) -> RunOutcome:
        waiting = None
        status: RunStatus
        if root.status == "completed":
            status = "completed"
        elif root.status in ("failed", "cancelled"):
            status = root.status
        else:
            status = "suspended"
            waiting = self.describe_wait(root)
        return RunOutcome(
            status,
            root.result,
            root.error,
            self.calls,
            waiting,
            root.id,
            self.activations,
            self.clock - self.start_ms,
            self.internal_errors,
            root.history,
        )

    def _new_execution(
        self,
        cls: type[Machine],
        name: str,
        inputs: dict[str, JsonValue],
        parent: tuple[Execution, int] | None,
    ) -> Execution:
        ex = Execution(f"mem-{next(self._ids)}", name, cls, inputs, self.clock, parent)
        ex.queued = True
        self._ready.append(ex)
        return ex

    def histories(self) -> dict[str, list[dict[str, JsonValue]]]:
        """The history of every execution of the run (the root and its descendants) by
        id, as ``rhythm history --json`` shows each on Postgres."""
        found: dict[str, list[dict[str, JsonValue]]] = {}
        todo = [self._root] if self._root is not None else []
        while todo:
            ex = todo.pop()
            found[ex.id] = ex.history
            todo.extend(ex.children.values())
        return found

    def record_call(self, ex: Execution, kind: str, name: str, inputs: JsonValue) -> None:
        if ex is self._root:
            self.calls.append({"kind": kind, "name": name, "inputs": _json_copy(inputs)})

    # ------------------------------------------------------------ activations

    def _activate(self, ex: Execution) -> None:
        if ex.finished:  # cancelled before it ever ran
            return
        # While it runs, an execution waits on nothing: settlements it causes itself (a
        # combinator decided at once) must not queue it again on what it waited on before.
        ex.queued, ex.status, ex.waiting_on = False, "running", None
        self.activations += 1
        if self.activations > self.settings.max_activations:
            raise _Runaway(
                f"the in-memory runner stopped after {self.settings.max_activations} "
                "activations (does the workflow wait in an endless loop?)"
            )
        delivered_before = ex.cancel_delivered
        resumed_from = ex.snapshot
        step = self._step(ex)
        self._record(ex, resumed_from, step)
        if isinstance(step, Suspended):
            ex.status, ex.waiting_on = "suspended", step.waiting_on.id
            self._flush(ex, keep_waits=True)
        else:
            self._flush(ex, keep_waits=False)
        if ex.cancel_delivered and not delivered_before:
            self._cancel_effects(ex)
        if not isinstance(step, Suspended):
            self._finish(ex, step)
        self.after_settlements(ex)

    def _note(self, ex: Execution, kind: str, detail: dict[str, JsonValue]) -> None:
        """A history entry other than an activation's, as the Postgres client writes it
        (one run: ``run_no`` 1)."""
        ex.history.append({
            "seq": len(ex.history) + 1, "at": iso_utc(self.clock), "kind": kind,
            "step": None, "worker": None, "detail": {**detail, "run_no": 1},
            "snapshot_bytes": None, "snapshot_truncated": False})

    def _record(self, ex: Execution, resumed_from: Any, step: Step) -> None:
        """The activation's history entry, as the Postgres worker writes it
        (:mod:`rhythm.observe.entries`; no ``at`` or ``worker`` to match there)."""
        assert self._last is not None
        host, machine = self._last
        status = "suspended" if isinstance(step, Suspended) else (
            "completed" if isinstance(step, Completed) else "failed")
        if ex.cancel_delivered and status != "suspended":
            status = "cancelled"
        saved = ex.snapshot if status == "suspended" else None
        packed = entries.pack_snapshot(saved, self.settings.history_snapshot_cap)
        stopped = saved["label"] if saved is not None else getattr(machine, "label", None)
        detail = entries.activation_detail(
            resumed_label=resumed_from["label"] if resumed_from else None,
            stopped_label=stopped, status=status,
            lines=getattr(getattr(ex.cls, "INFO", None), "lines", {}), table=ex.table,
            read=host.read, requested=ex.requested, packed=packed,
            error=step.error if isinstance(step, Failed) else (
                cancelled_error() if status == "cancelled" else None),  # (as _finish)
            stopped_line=step.line if isinstance(step, Failed | Completed) else None,
            waiting_on=step.waiting_on.id if isinstance(step, Suspended) else None,
            awaits=getattr(ex.cls, "AWAITS", {}))
        detail = entries.contract_detail("activation", detail)  # (as read_history reads it)
        steps = sum(1 for e in ex.history if e["kind"] == "activation")
        ex.history.append({
            "seq": len(ex.history) + 1, "at": iso_utc(self.clock), "kind": "activation",
            "step": steps + 1, "worker": None, "detail": detail,
            "snapshot_bytes": packed.size, "snapshot_truncated": packed.truncated})

    def _step(self, ex: Execution) -> Step:
        """One activation: start or restore, run, and snapshot through JSON text."""
        host = MemoryHost(self, ex)
        self._last = (host, None)
        try:
            if ex.snapshot is None:
                machine = ex.cls.start(host)
                self._last = (host, machine)
            else:
                machine = ex.cls.restore(host, ex.snapshot)
            self._last = (host, machine)  # (for the history entry)
            step = machine.run()
            if isinstance(step, Suspended):
                ex.snapshot = json.loads(json.dumps(machine.snapshot(), allow_nan=False))
            return step
        except FlowLimit as err:
            return Failed(err.value)
        except FlowThrow as err:
            return Failed(err.value)
        except Exception as err:  # a bug in a machine or in the engine, never the user's
            self.internal_errors.append(traceback.format_exc())
            message = f"internal error in {ex.name}: {type(err).__name__}: {err}"
            return Failed({"name": "InternalError", "message": message})

    def _finish(self, ex: Execution, step: Completed | Failed) -> None:
        if isinstance(step, Completed):
            ex.status, ex.result = "completed", step.result
        else:
            ex.status, ex.error = "failed", step.error
        if ex.cancel_delivered:  # it may have caught CancelledError: still cancelled (spec)
            ex.status = "cancelled"
            ex.error = ex.error if isinstance(step, Failed) else cancelled_error()
        self._tell_parent(ex)

    def _tell_parent(self, ex: Execution) -> None:
        if ex.parent is None:
            return
        parent, promise_id = ex.parent
        if ex.status == "completed":
            parent.table.settle(promise_id, True, ex.result, self.clock)
        else:
            error = child_workflow_error(ex.name, ex.id, ex.error)
            parent.table.settle(promise_id, False, error, self.clock)
        self.after_settlements(parent)

    def after_settlements(self, ex: Execution) -> None:
        """Decide combinators, withdraw abandoned waits, and queue ``ex`` if it can go on."""
        for abandoned in ex.table.propagate().abandoned:
            ex.channels.withdraw(abandoned)
        if ex.status == "suspended" and not ex.queued and self._can_resume(ex):
            ex.queued = True
            self._ready.append(ex)

    @staticmethod
    def _can_resume(ex: Execution) -> bool:
        if ex.cancel_pending:
            return True
        return ex.waiting_on is not None and ex.table.get(ex.waiting_on).settled

    # ----------------------------------------------------------- cancellation

    def request_cancel(self, ex: Execution) -> None:
        """Cancel ``ex``: one that never ran ends now; a suspended one is woken to meet
        CancelledError at its await. A second request changes nothing (its compensation
        is never cancelled)."""
        if ex.finished or ex.cancel_requested:
            return
        ex.cancel_requested = True
        if ex.snapshot is None and ex.status == "pending":
            ex.status, ex.error = "cancelled", cancelled_error()
            self._tell_parent(ex)
        else:
            self.after_settlements(ex)

    def _cancel_effects(self, ex: Execution) -> None:
        """CancelledError was just thrown in: cancel the children started before it, as
        the Postgres commit does (its timers and waits were dropped on delivery)."""
        for promise_id, child in list(ex.children.items()):
            if ex.before_cancel(promise_id) and not ex.table.get(promise_id).settled:
                if not (child.finished or child.cancel_requested):  # (as cancel_children)
                    self._note(child, "cancel_requested", {"parent_id": ex.id})
                self.request_cancel(child)

    # ---------------------------------------------------------------- effects

    def _flush(self, ex: Execution, keep_waits: bool) -> None:
        """Make the activation's effects visible, in request order."""
        requested, ex.requested = ex.requested, []
        for promise_id in requested:
            record = ex.table.get(promise_id)
            if record.kind == "task":
                self._run_task(ex, record)
            elif record.kind == "child":
                self._start_child(ex, record)
            elif record.kind == "timer" and keep_waits:
                self._push(_Event(record.params["due"], 0, "timer", ex, promise_id))
            elif record.kind == "signal" and keep_waits:
                self._register_wait(ex, record)

    def _run_task(self, ex: Execution, record: PromiseRecord) -> None:
        """All attempts of a mocked task happen at this virtual instant."""
        if ex.before_cancel(record.id):  # requested, then CancelledError: never runs
            ex.table.settle(record.id, False, cancelled_error(), self.clock)
            return
        name, inputs = record.params["name"], record.params["inputs"]
        retries = record.params["options"].get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            retries = 0
        attempts = 0
        while True:
            attempts += 1
            reply = self.replies.next_reply(name)
            if reply is None:
                message = f"task '{name}' has no mock (add it under \"tasks\" in the mocks file)"
                error = task_error(name, MISSING_MOCK_TYPE, message, attempts)
                ex.table.settle(record.id, False, error, self.clock)
                return
            if reply.kind != "fails":
                value = _json_copy(inputs) if reply.kind == "echo" else _json_copy(reply.value)
                ex.table.settle(record.id, True, value, self.clock)
                return
            if attempts > retries:
                error = task_error(name, reply.error_type, reply.message, attempts, reply.details)
                ex.table.settle(record.id, False, error, self.clock)
                return

    def _start_child(self, ex: Execution, record: PromiseRecord) -> None:
        name = record.params["name"]
        try:
            cls = self.loader.load(name)
        except RhythmError as err:
            message = f"child workflow '{name}' cannot start: {err}"
            error = child_workflow_error(name, None, None, message)
            ex.table.settle(record.id, False, error, self.clock)
            return
        child = self._new_execution(cls, name, _json_copy(record.params["inputs"]), (ex, record.id))
        ex.children[record.id] = child
        version = getattr(getattr(cls, "INFO", None), "version", None)
        self._note(child, "started", {"name": name, "version": version, "parent_id": ex.id})

    def _register_wait(self, ex: Execution, record: PromiseRecord) -> None:
        if record.abandoned:  # by a race decided at once, or by a cancellation
            return
        channel, timeout_ms = record.params["channel"], record.params["timeout_ms"]
        matched, payload = ex.channels.wait(channel, record.id)
        if matched:
            ex.table.settle(record.id, True, payload, self.clock)
        elif timeout_ms is not None:
            due = self.clock + int(timeout_ms)
            self._push(_Event(due, 0, "signal_timeout", ex, record.id, channel=channel))

    # ------------------------------------------------------------ the clock

    def _push(self, event: _Event) -> None:
        event.seq = next(self._event_seq)
        heapq.heappush(self._events, event)

    def _stale(self, event: _Event) -> bool:
        if event.execution.finished:
            return True
        if event.kind in ("signal", "cancel"):
            return False
        record = event.execution.table.get(event.promise_id)
        return record.settled or record.abandoned

    def _advance(self) -> bool:
        """Jump to the next live event instant and apply all its events; False if none."""
        while self._events and self._stale(self._events[0]):
            heapq.heappop(self._events)
        if not self._events:
            return False
        due = self._events[0].due
        self.clock = max(self.clock, due)
        touched: list[Execution] = []
        while self._events and self._events[0].due == due:
            event = heapq.heappop(self._events)
            if self._stale(event):
                continue
            self._events_applied += 1
            if self._events_applied > self.settings.max_events:
                raise _Runaway(
                    f"the in-memory runner stopped after {self.settings.max_events} timer and "
                    "signal events (does the workflow wait in an endless loop?)"
                )
            self._apply(event)
            if event.execution not in touched:
                touched.append(event.execution)
        for ex in touched:
            self.after_settlements(ex)
        return True

    def _apply(self, event: _Event) -> None:
        ex = event.execution
        if event.kind == "cancel":
            if not ex.finished:
                self._note(ex, "cancel_requested", {})
            self.request_cancel(ex)
        elif event.kind == "timer":
            ex.table.settle(event.promise_id, True, None, self.clock)
        elif event.kind == "signal_timeout":
            ex.channels.withdraw(event.promise_id)
            waited = _duration_text(ex.table.get(event.promise_id))
            message = f"no signal '{event.channel}' arrived within {waited}"
            ex.table.settle(event.promise_id, False, timeout_error(message), self.clock)
        else:
            receiver = ex.channels.deliver(event.channel, event.payload)
            self._note(ex, "signal", {"name": event.channel, "buffered": receiver is None,
                                      "delivered_to": receiver})
            if receiver is not None:
                ex.table.settle(receiver, True, copy.deepcopy(event.payload), self.clock)

    # ------------------------------------------------------- describing waits

    def describe_wait(self, ex: Execution) -> str:
        what = self._describe(ex, ex.waiting_on) if ex.waiting_on is not None else "nothing"
        return (
            f"{ex.name} ({ex.id}) waits for {what}, and nothing left can settle it "
            "(no timers or mocked signals remain)"
        )

    def _describe(self, ex: Execution, promise_id: int) -> str:
        record = ex.table.get(promise_id)
        params = record.params
        if record.kind == "signal":
            note = " (its wait was abandoned by Promise.race/any)" if record.abandoned else ""
            return f"signal '{params['channel']}'{note}"
        if record.kind == "child":
            child = ex.children.get(promise_id)
            if child is None or child.waiting_on is None:
                return f"child workflow '{params['name']}'"
            inner = self._describe(child, child.waiting_on)
            return f"child workflow '{params['name']}' ({child.id}), which waits for {inner}"
        if record.kind == "combinator":
            pending = [
                self._describe(ex, ref["promise"])
                for ref in params["members"]
                if "promise" in ref and not ex.table.get(ref["promise"]).settled
            ]
            return f"Promise.{params['combinator']} of [{', '.join(pending)}]"
        if record.kind == "timer":
            return f"a timer due at {iso_utc(params['due'])}"
        return f"task '{params['name']}'"


def _duration_text(record: PromiseRecord) -> str:
    ms = int(record.params.get("timeout_ms") or 0)
    return f"{ms / 1000:g}s" if ms % 1000 else f"{ms // 1000}s"
