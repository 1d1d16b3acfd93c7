"""The threads that run synchronous tasks (``rhythm.runtime.threads.TaskThreads``)."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from typing import Any

import pytest

from rhythm.runtime.threads import TaskThreads


def _run(body: Any) -> Any:
    return asyncio.run(body())


def test_each_call_gets_its_own_result_or_exception() -> None:
    def call(n: int) -> int:
        if n % 3 == 0:
            raise ValueError(f"bad {n}")
        return n * n

    async def body() -> list[Any]:
        threads = TaskThreads(4)
        futures = [threads.run(functools.partial(call, n)) for n in range(200)]
        results = await asyncio.gather(*futures, return_exceptions=True)
        threads.shutdown()
        return results

    results = _run(body)
    for n, result in enumerate(results):
        if n % 3:
            assert result == n * n
        else:
            assert isinstance(result, ValueError) and str(result) == f"bad {n}"


def test_calls_run_on_named_threads_at_most_max_workers_at_once() -> None:
    barrier = threading.Barrier(3, timeout=5)
    running = []
    lock = threading.Lock()
    peak = [0]

    def blocking() -> str:
        with lock:
            running.append(1)
            peak[0] = max(peak[0], len(running))
        barrier.wait()  # only returns if three calls run at the same time
        time.sleep(0.01)
        with lock:
            running.pop()
        return threading.current_thread().name

    async def body() -> list[str]:
        threads = TaskThreads(3, "rhythm-task")
        names = await asyncio.gather(*(threads.run(blocking) for _ in range(6)))
        threads.shutdown()
        return names

    names = _run(body)
    assert peak[0] == 3
    assert set(names) <= {"rhythm-task_0", "rhythm-task_1", "rhythm-task_2"}


def test_a_task_raising_stop_iteration_still_ends_its_future() -> None:
    def stop() -> None:
        raise StopIteration

    async def body() -> BaseException:
        threads = TaskThreads(1)
        with pytest.raises(RuntimeError, match="StopIteration") as err:
            await asyncio.wait_for(threads.run(stop), timeout=5)
        threads.shutdown()
        return err.value

    assert isinstance(_run(body).__cause__, StopIteration)


def test_shutdown_cancels_calls_not_started_and_lets_the_running_one_finish() -> None:
    started = threading.Event()
    release = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "done"

    async def body() -> tuple[Any, bool, list[threading.Thread]]:
        threads = TaskThreads(1)
        first = threads.run(slow)
        queued = threads.run(lambda: "never")
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
        threads.shutdown()
        release.set()
        with pytest.raises(RuntimeError, match="shut down"):
            threads.run(lambda: None)
        return await first, queued.cancelled(), threads._threads

    result, cancelled, workers = _run(body)
    assert result == "done" and cancelled
    assert all(t.daemon for t in workers)  # an idle or stuck thread never holds exit
    for t in workers:
        t.join(5)
        assert not t.is_alive()
