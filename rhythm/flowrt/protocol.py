"""The contract between generated workflow machines and the hosts that drive them.

A *machine* is a compiled workflow (a class in ``generated/``). A *host* is whatever
drives it: the in-memory runner of ``rhythm run`` / ``rhythm.testing`` (virtual clock,
mocked tasks) or the Postgres worker. Both hosts drive the very same generated code.

One activation::

    m = cls.start(host)                 # first activation, or
    m = cls.restore(host, snapshot)     # any later one (snapshot is the JSON from before)
    step = m.run()                      # runs until the next unsettled await, or the end
    if isinstance(step, Suspended):
        save(m.snapshot(), effects_requested_during_run)   # one transaction
        # later, when step.waiting_on is settled (or a cancellation is pending): restore + run

Rules both sides rely on:
- Effects (tasks, children, timers, signal waits, combinators) are requested through the
  host *during* ``run()``; the host buffers them and makes them visible together with
  the snapshot (guarantee 1). The host assigns promise ids, increasing per execution.
- ``await p`` on a promise the host reports settled does not suspend: the machine goes
  on in the same activation (several settled awaits pass in one activation).
- After ``restore`` the machine's first act is ``host.result_of(p)`` for the promise it
  suspended on; the host guarantees that ``p`` is settled, or that a cancellation is
  pending, in which case ``result_of`` raises the ``CancelledError`` flow error there.
- Flow errors travel as :class:`FlowThrow` carrying the thrown flow value (any JSON-like
  value; built-in errors are dicts with ``name`` and ``message``). :class:`FlowLimit`
  is *not* a FlowThrow, so ``catch`` in flow code can never catch it.
- A machine never touches a database, a clock or randomness except through the host.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

# A flow value: None | bool | int | float | str | list | dict | Promise | a callable.
FlowValue = Any
# What may leave a workflow (task inputs, results): JSON only, no promises or functions.
JsonValue = Any

CombinatorKind = Literal["all", "allSettled", "race", "any"]


@dataclass(frozen=True, slots=True)
class Promise:
    """Handle of something the host will settle; stored in snapshots as its id."""

    id: int


class FlowThrow(Exception):
    """A flow-level ``throw``: ``value`` is exactly what was thrown."""

    def __init__(self, value: FlowValue) -> None:
        super().__init__(value)
        self.value = value


class FlowLimit(Exception):
    """A resource limit was hit (LimitError). Flow code cannot catch it; it fails the run."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def value(self) -> dict[str, Any]:
        return {"name": "LimitError", "message": self.message}


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits of spec section 9; every host passes its configured values."""

    max_ops: int = 1_000_000  # loop iterations + callback calls between two suspensions
    max_snapshot_bytes: int = 1 << 20
    max_string_length: int = 10_000_000
    max_array_length: int = 1_000_000


class Host(Protocol):
    """What a machine may ask of the world. Arguments are already validated JSON copies."""

    inputs: dict[str, JsonValue]
    context: dict[str, JsonValue]  # executionId, workflowName, version, startedAt
    limits: Limits

    def start_task(
        self, name: str, inputs: dict[str, JsonValue], options: dict[str, JsonValue]
    ) -> Promise: ...

    def start_child(
        self, name: str, inputs: dict[str, JsonValue], options: dict[str, JsonValue]
    ) -> Promise: ...

    def start_timer(self, due_ms: int) -> Promise:
        """A promise that resolves to null at ``due_ms`` (epoch milliseconds, host clock)."""
        ...

    def wait_signal(self, name: str, timeout_ms: int | None) -> Promise:
        """Next signal on channel ``name``; rejects with TimeoutError after ``timeout_ms``."""
        ...

    def combine(
        self, kind: CombinatorKind, members: list[FlowValue], keys: list[str] | None
    ) -> Promise:
        """``Promise.<kind>`` over members (promises or plain values); ``keys`` for objects."""
        ...

    def is_settled(self, promise: Promise) -> bool: ...

    def result_of(self, promise: Promise) -> FlowValue:
        """The settled value, or raise FlowThrow with the rejection (or CancelledError)."""
        ...

    def now_ms(self) -> int: ...

    def random(self) -> float: ...

    def log(self, text: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Suspended:
    waiting_on: Promise


@dataclass(frozen=True, slots=True)
class Completed:
    """The run returned; ``line`` is the .flow line of that ``return`` if known."""

    result: JsonValue
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    """The run ended with an uncaught throw or a LimitError; ``line`` is the .flow line if known."""

    error: JsonValue
    line: int | None = None


Step = Suspended | Completed | Failed


@dataclass
class MachineInfo:
    """Static facts about a compiled workflow version, emitted by the compiler."""

    name: str
    version: str  # SHA-256 of the source, line endings normalised to \n
    source_path: str
    compiler_version: str
    lines: dict[int, int] = field(default_factory=dict)  # state label -> .flow line


class Machine(ABC):
    """Base of every generated workflow class."""

    INFO: ClassVar[MachineInfo]

    @classmethod
    @abstractmethod
    def start(cls, host: Host) -> Machine:
        """A machine positioned at the first statement."""

    @classmethod
    @abstractmethod
    def restore(cls, host: Host, snapshot: dict[str, JsonValue]) -> Machine:
        """A machine positioned where ``snapshot`` was taken (raises ValueError if unreadable)."""

    @abstractmethod
    def run(self) -> Step:
        """Run until the next unsettled await or the end."""

    @abstractmethod
    def snapshot(self) -> dict[str, JsonValue]:
        """JSON-ready state after ``run`` returned Suspended (raises FlowLimit if too big)."""

    def snapshot_and_text(self) -> tuple[dict[str, JsonValue], str | None]:
        """:meth:`snapshot`, and its compact JSON text when the machine made it anyway
        (None: it did not)."""
        return self.snapshot(), None
