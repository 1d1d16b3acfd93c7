"""The threads that run a worker's synchronous tasks, built for many short calls.

``loop.run_in_executor`` on a ``ThreadPoolExecutor`` costs the event loop, per call, a
work item, a lock and condition in ``submit``, a second future chained to the first and
one wake-up of the loop (a write to its self-pipe, a callback) for every call that ends.
For a no-op task that is most of what the worker spends on it. Here a call is a tuple on
a ``queue.SimpleQueue``; the thread that ran it appends the result to a deque and wakes
the loop only if no wake-up is pending yet, so calls that end together cost one wake-up
and one callback, which settles all of them.

Threads start on demand up to ``max_workers`` and are daemon threads: an idle one never
keeps the process alive, and a task still running when the process exits is abandoned
(its lease expires and it runs again elsewhere, like after a crash).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = None


class TaskThreads:
    """Runs blocking calls off the event loop (see module)."""

    def __init__(self, max_workers: int, name_prefix: str = "rhythm-task") -> None:
        self.max_workers = max_workers
        self.name_prefix = name_prefix
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ended: collections.deque[tuple[asyncio.Future[Any], bool, Any]] = (
            collections.deque())
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()  # guards _idle and the thread count
        self._stopped = False

    def run(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Start ``call`` on a thread; the future (of the running loop) gets its result or
        its exception."""
        if self._stopped:
            raise RuntimeError("the task threads were shut down")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        assert loop is self._loop, "one event loop per TaskThreads"
        future: asyncio.Future[Any] = loop.create_future()
        self._calls.put((call, future))
        with self._lock:
            if self._idle:  # a thread waiting on the queue takes it
                self._idle -= 1
                start = False
            else:
                start = len(self._threads) < self.max_workers
        if start:
            self._start_thread()
        return future

    def shutdown(self) -> None:
        """Stop the threads once their current call ends; calls not started yet are
        cancelled. Call it from the loop's thread."""
        self._stopped = True
        while True:
            try:
                item = self._calls.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                item[1].cancel()
        for _ in self._threads:
            self._calls.put(_STOP)

    def _start_thread(self) -> None:
        thread = threading.Thread(
            target=self._work, name=f"{self.name_prefix}_{len(self._threads)}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            call, future = item
            try:
                self._ended.append((future, True, call()))
            except StopIteration as err:  # a future refuses it (it would end a generator)
                failure = RuntimeError("the task raised StopIteration")
                failure.__cause__ = err
                self._ended.append((future, False, failure))
            except BaseException as err:  # handed to the awaiting coroutine
                self._ended.append((future, False, err))
            with self._lock:
                self._idle += 1
                wake = not self._wake_pending
                self._wake_pending = True
            if wake:
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(self._settle)
                except RuntimeError:  # the loop is closed: nobody awaits these any more
                    return

    def _settle(self) -> None:
        """On the loop: hand every ended call its result."""
        with self._lock:
            self._wake_pending = False
        while self._ended:
            future, ok, value = self._ended.popleft()
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
