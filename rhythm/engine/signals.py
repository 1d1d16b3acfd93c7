"""Signal channels of one execution: FIFO per channel, buffered while nobody waits. Pure.

A signal goes to the oldest live wait on its channel; with no wait it is buffered, and the
next wait takes the oldest buffered signal. A wait that times out or that a race abandons
is withdrawn, so it never consumes a later signal. The caller settles the promises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SignalChannels:
    waiting: dict[str, list[int]] = field(default_factory=dict)  # channel -> promise ids
    buffered: dict[str, list[Any]] = field(default_factory=dict)  # channel -> payloads

    def wait(self, channel: str, promise_id: int) -> tuple[bool, Any]:
        """Register a wait. ``(True, payload)`` if a buffered signal satisfies it at once."""
        queue = self.buffered.get(channel)
        if queue:
            return True, queue.pop(0)
        self.waiting.setdefault(channel, []).append(promise_id)
        return False, None

    def deliver(self, channel: str, payload: Any) -> int | None:
        """Hand a signal to the oldest wait (its promise id), or buffer it (None)."""
        waiters = self.waiting.get(channel)
        if waiters:
            return waiters.pop(0)
        self.buffered.setdefault(channel, []).append(payload)
        return None

    def withdraw(self, promise_id: int) -> bool:
        """Remove a wait (timed out or abandoned); False if it was not waiting."""
        for waiters in self.waiting.values():
            if promise_id in waiters:
                waiters.remove(promise_id)
                return True
        return False
