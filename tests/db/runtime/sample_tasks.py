"""Tasks used by the runtime tests, in-process and by worker subprocesses (``-m sample_tasks``).

Transactional tasks write to ``public.task_log`` (created by the ``task_log`` fixture),
so a test can count how many times an effect was committed.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import rhythm

ATTEMPTS: dict[str, int] = {}
CANCELLED: list[str] = []
GATE = threading.Event()  # `gated` returns once a test sets it (in-process workers)
_lock = threading.Lock()

FAST_BACKOFF = {"initial": 0.05, "factor": 2.0, "maximum": 0.2}


@rhythm.task
def add(a: int, b: int = 0) -> int:
    return a + b


@rhythm.task
async def add_async(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


@rhythm.task(retries=2, backoff=FAST_BACKOFF)
def flaky(key: str, failures: int) -> str:
    with _lock:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
        attempt = ATTEMPTS[key]
    if attempt <= failures:
        raise OSError(f"down (attempt {attempt})")
    return f"ok after {attempt}"


@rhythm.task(retries=5, backoff=FAST_BACKOFF, non_retryable=(ValueError,))
def bad_value(key: str) -> None:
    with _lock:
        ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    raise ValueError("bad card")


@rhythm.task(timeout=0.3)
async def slow_async(key: str, seconds: float) -> str:
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        CANCELLED.append(key)
        raise
    return "finished"


@rhythm.task(timeout=0.3)
def slow_sync(seconds: float) -> str:
    time.sleep(seconds)
    return "finished"


@rhythm.task
def gated() -> str:
    if not GATE.wait(20):
        raise TimeoutError("the test never opened the gate")
    return "through"


@rhythm.task
def nap(seconds: float) -> str:
    time.sleep(seconds)
    return f"slept {seconds}"


@rhythm.task(transactional=True)
def log_once(conn: Any, key: str) -> str:
    conn.execute("INSERT INTO public.task_log (key) VALUES (%s)", (key,))
    return key


@rhythm.task(transactional=True)
async def log_once_async(conn: Any, key: str) -> str:
    await conn.execute("INSERT INTO public.task_log (key) VALUES (%s)", (key,))
    return key


@rhythm.task(transactional=True, timeout=0.3)
def log_too_late(conn: Any, key: str, seconds: float) -> str:
    conn.execute("INSERT INTO public.task_log (key) VALUES (%s)", (key,))
    time.sleep(seconds)
    return key


@rhythm.task(transactional=True)
def sleep_then_log(conn: Any, key: str, seconds: float) -> str:
    """For process tests: a long task whose effect must commit exactly once."""
    time.sleep(seconds)
    conn.execute("INSERT INTO public.task_log (key) VALUES (%s)", (key,))
    return key


@rhythm.task
async def wait_forever(key: str) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        CANCELLED.append(key)
        raise


@rhythm.task
def not_json() -> object:
    return {1, 2}


@rhythm.task
def unordered_record(first: int) -> dict[str, Any]:
    """An object whose key order is not jsonb's (length, then bytes): it must survive."""
    return {"zeta": first, "a": 2, "mid": {"yy": 1, "b": 2}}


@rhythm.task
def keys_received(**fields: Any) -> list[str]:
    """The order in which the task's inputs arrived."""
    return list(fields)


@rhythm.task
def append_line(path: str, key: str, seconds: float = 0.0) -> str:
    """A non-transactional side effect (as a call to another system would be): every run
    of it leaves a line, so a test can count the runs."""
    time.sleep(seconds)
    with open(path, "a", encoding="utf-8") as out:
        out.write(key + "\n")
    return key


@rhythm.task
async def block_loop(seconds: float) -> str:
    """An async task that blocks the worker's event loop (a bug of the task's)."""
    time.sleep(seconds)
    return "blocked"


@rhythm.task
def fail_with_char(code: int) -> None:
    """Fails with an error whose text holds the character ``code`` (U+0000, a lone
    surrogate: what Postgres cannot store)."""
    raise ValueError(f"bad {chr(code)} here")


@rhythm.task(retries=0)
def charge(path: str, amount: int, fail: bool = False, seconds: float = 0.0) -> dict[str, Any]:
    """A payment (idempotency keys): every run leaves a line naming its key in ``path``,
    so a test counts the charges; fails (for good) when asked."""
    key = rhythm.current_task().idempotency_key
    time.sleep(seconds)
    with open(path, "a", encoding="utf-8") as out:
        out.write(key + "\n")
    if fail:
        raise ValueError("card declined")
    return {"charged": amount, "key": key}


@rhythm.task(queue="metered", rate_limit="10/s")
def metered(key: str) -> str:
    """Rate limited (issue 18): at most 10 claims a second across all workers. On a
    queue of its own, so that no other test's workers claim with tokens."""
    return key
