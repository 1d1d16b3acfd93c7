"""Where the runtime reads the time: an injected clock, so tests can pin it.

Every timestamp the runtime writes or compares in SQL (run_at, leases, finished_at)
comes from a :class:`Clock`; SQL never calls ``now()`` on those paths. Durations
waited in-process (timeouts, sleeps) use the event loop's monotonic time instead.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """Wall-clock time of this machine (keep workers NTP-synchronised)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment
