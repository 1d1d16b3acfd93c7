"""The promise side of the Host protocol, shared by every host.

Both hosts — the in-memory one of ``rhythm run`` (:mod:`rhythm.engine.memory`) and the
Postgres one of the worker (:mod:`rhythm.runtime.wfhost`) — keep an execution's promises
in a :class:`~rhythm.engine.promises.PromiseTable`. How a request becomes a record, what
"settled" means and what an await receives are defined once, here, so that a workflow
tested in memory behaves exactly as it does on Postgres. A host adds its clock, its
logging, and what happens to the records it buffers in ``requested``.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from rhythm.engine.flow_errors import cancelled_error
from rhythm.engine.promises import PromiseKind, PromiseRecord, PromiseTable
from rhythm.flowrt.protocol import CombinatorKind, FlowThrow, Promise

JsonValue = Any


class PromiseTableHost:
    """Implements the promise half of :class:`rhythm.flowrt.protocol.Host` over ``table``.

    Subclasses provide ``table``, ``requested`` (ids of records created during this
    activation, in request order), ``read`` (an empty list: the ids whose outcome the
    machine reads, for its history entry) and ``now_ms``; they may override the hooks.
    """

    table: PromiseTable
    requested: list[int]
    read: list[int]  # promises whose outcome the machine read, in order (history)

    def now_ms(self) -> int:
        raise NotImplementedError

    def random(self) -> float:
        return random.random()

    # hooks -----------------------------------------------------------------------------

    def cancellation_pending(self) -> bool:
        """True when a cancellation must be thrown at the current await."""
        return False

    def cancellation_delivered(self) -> None:
        """Called once the pending cancellation has been thrown into the workflow."""

    def after_combine(self, record: PromiseRecord) -> None:
        """Called after a combinator record is created (it may already be settled)."""

    # the protocol ----------------------------------------------------------------------

    def _request(self, kind: PromiseKind, params: dict[str, JsonValue]) -> Promise:
        record = self.table.create(kind, params, self.now_ms())
        self.requested.append(record.id)
        return Promise(record.id)

    def start_task(
        self, name: str, inputs: dict[str, JsonValue], options: dict[str, JsonValue]
    ) -> Promise:
        return self._request("task", {"name": name, "inputs": inputs, "options": options})

    def start_child(
        self, name: str, inputs: dict[str, JsonValue], options: dict[str, JsonValue]
    ) -> Promise:
        return self._request("child", {"name": name, "inputs": inputs, "options": options})

    def start_timer(self, due_ms: int) -> Promise:
        return self._request("timer", {"due": due_ms})

    def wait_signal(self, name: str, timeout_ms: int | None) -> Promise:
        return self._request("signal", {"channel": name, "timeout_ms": timeout_ms})

    def combine(self, kind: CombinatorKind, members: list[Any], keys: list[str] | None) -> Promise:
        record = self.table.combine(kind, members, keys, self.now_ms())
        self.after_combine(record)
        return Promise(record.id)

    def is_settled(self, promise: Promise) -> bool:
        # A pending cancellation makes the next await "settled" so that result_of throws.
        return self.cancellation_pending() or self.table.get(promise.id).settled

    def result_of(self, promise: Promise) -> Any:
        if self.cancellation_pending():
            self.cancellation_delivered()
            raise FlowThrow(cancelled_error())
        record = self.table.get(promise.id)
        self.read.append(record.id)
        if not record.settled:
            raise RuntimeError(f"result_of on pending promise {promise.id} (protocol violation)")
        # A copy, so that flow code mutating what it got never changes the record.
        value = copy.deepcopy(record.value)
        if record.state == "rejected":
            raise FlowThrow(value)
        return value
