"""Per-key concurrency (issue 18; docs/flow-control.md): at most ``limit`` executions of
one concurrency key hold a slot at a time, across all workers.

This module owns the user-facing spec (``@rhythm.task(concurrency=...)``, checked at
decoration time; ``client.start(concurrency_key=..., concurrency_limit=...)``, checked
before any I/O) and the admissions that give free slots to waiting executions.

How it works (schema: migrations/0010; SQL: rhythm/store/sql/concurrency.sql): an
execution with a key is born waiting - unclaimable - and its insert announces
``!admit:KEY`` on ``rhythm_wake``, as do the statements that end a keyed execution
outside a worker's outcome batch (a worker admits the keys its own outcomes freed right
after recording them: :meth:`Admissions.admit_freed`). An admission gives a key's free
slots to its oldest waiting rows (:func:`admit`); the admitting worker claims those it
has room for on its queues, and the rest become ordinary ready rows, claimed in the
queue's order. Admission time is their place in line, so busy keys take turns: a key's
next execution queues behind those admitted meanwhile (round-robin across keys, FIFO
within one). A slot is held until the execution ends: a retry, a suspended workflow, or
a row whose worker died (its lease expires and it runs again) keeps it. Every few
seconds each worker also sweeps the keys that have waiting rows, in case a notification
was lost. Nothing of this runs for executions without a key. Plain Postgres only: a
key's executions may live in any partition, so on Citus it is refused
(docs/flow-control.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from rhythm.errors import ConfigError, InputError, closest
from rhythm.runtime.cancelling import raise_if_cancelled
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q

log = logging.getLogger("rhythm.worker")

ADMIT = "!admit:"  # the wake-up payload's prefix: ADMIT + the key
SWEEP_SECONDS = 5.0  # the backstop sweep of keys with waiting rows
MAX_KEY = 500  # characters, as idempotency keys


@dataclass(frozen=True)
class ConcurrencySpec:
    """A task's ``concurrency={"key": path, "limit": n}``: ``path`` names an input (or,
    dotted, a field inside one); ``limit`` executions per value at a time."""

    key: str
    limit: int

    def route(self) -> dict[str, Any]:
        """What the task's route records (every insert of the task reads it)."""
        return {"key": self.key, "limit": self.limit}


def parse_spec(value: Any, fn: Callable[..., Any], task: str) -> ConcurrencySpec | None:
    """The decorator's ``concurrency`` option, checked against ``fn``'s parameters
    (ValueError with one line naming the option)."""
    if value is None:
        return None
    where = f"concurrency of task {task!r}"
    if not isinstance(value, Mapping) or set(value) != {"key", "limit"}:
        raise ValueError(f"{where} must be {{'key': 'inputName', 'limit': n}}, got {value!r}")
    key, limit = value["key"], value["limit"]
    if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
        raise ValueError(f"{where}: key must be an input name or a dotted path, got {key!r}")
    _check_limit(limit, f"{where}: limit")
    params = inspect.signature(fn).parameters
    head = key.split(".")[0]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if head not in params and not takes_any:
        near = closest(head, params)
        hint = f" (did you mean {near!r}?)" if near else ""
        raise ValueError(f"{where}: key {key!r} is not in the inputs: {head!r} is not a"
                         f" parameter of the function{hint}")
    return ConcurrencySpec(key, limit)


def _check_limit(limit: Any, what: str) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"{what} must be a positive integer, got {limit!r}")


def check_request(key: str | None, limit: int | None) -> None:
    """``client.start``'s ``concurrency_key`` and ``concurrency_limit`` (InputError)."""
    if key is None:
        if limit is not None:
            raise InputError("concurrency_limit needs a concurrency_key")
        return
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise InputError(f"concurrency_key must be a string of 1 to {MAX_KEY} characters,"
                         f" got {key!r}")
    try:
        _check_limit(limit, "concurrency_limit")
    except ValueError as err:
        raise InputError(str(err)) from None


NOT_ON_CITUS = "per-key concurrency is not supported on Citus yet (docs/flow-control.md)"


def refuse_request_on_citus(topology: Topology) -> None:
    """``client.start(concurrency_key=...)`` on Citus (InputError)."""
    if topology.citus:
        raise InputError(NOT_ON_CITUS)


def refuse_keys_on_citus(definitions: Iterable[Any], topology: Topology) -> None:
    """A worker with a task that has a concurrency key does not start on Citus."""
    keyed = sorted(d.name for d in definitions if d.concurrency is not None)
    if keyed and topology.citus:
        raise ConfigError(f"task {keyed[0]!r} has a concurrency key: {NOT_ON_CITUS}")


async def admit(
    conn: psycopg.AsyncConnection[Any], keys: list[str], taking: Mapping[str, Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Give the free slots of ``keys`` to their oldest waiting executions (one
    transaction: the keys' locks, then the admission, in one round trip: pipelined).
    ``taking``: the admitting worker (``worker``, ``queues``, ``room``, ``lease_until``,
    ``now``), which claims for itself up to ``room`` admitted tasks of its queues. The
    wake-ups sent to the other workers (``part:queue``), and the rows claimed."""
    async with conn.pipeline(), conn.transaction():
        await conn.execute(Q["lock_concurrency_keys"], {"keys": keys})
        cur = await conn.execute(Q["admit_waiting"], {
            **taking, "keys": keys, "notify": True})
    rows = await cur.fetchall()
    return ([row[0] for row in rows if row[0] is not None],
            [row[1] for row in rows if row[1] is not None])


class Admissions:
    """A worker's admitter: keys heard in ``!admit:KEY`` wake-ups are admitted in
    batches, one transaction per batch, on a pooled connection; every
    :data:`SWEEP_SECONDS` the keys with waiting rows are too. ``taking()`` says what the
    worker may claim of what it admits (see :func:`admit`); ``ready`` gets the rows it
    claimed and the wake-ups of the others (its own claimer need not wait for the
    NOTIFY)."""

    def __init__(
        self, connection: Callable[[], Any], taking: Callable[[], Mapping[str, Any]],
        ready: Callable[[list[str], list[dict[str, Any]]], None],
    ) -> None:
        self._connection = connection  # () -> async context manager of a connection
        self._taking = taking
        self._ready = ready
        self._keys: set[str] = set()
        self._heard = asyncio.Event()
        self._freed: set[str] = set()  # by our own outcomes, admitted by admit_freed

    def hear(self, payload: str) -> bool:
        """Take a wake-up payload if it is an admission's; True when it was."""
        if not payload.startswith(ADMIT):
            return False
        self._keys.add(payload[len(ADMIT):])
        self._heard.set()
        return True

    def freed(self, payload: str) -> bool:
        """Like :meth:`hear`, for the wake-ups of the outcomes this worker records: their
        keys wait for :meth:`admit_freed` (one admission per batch of outcomes)."""
        if not payload.startswith(ADMIT):
            return False
        self._freed.add(payload[len(ADMIT):])
        return True

    async def admit_freed(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Admit the keys our outcomes freed, on ``conn`` (the flusher's, right after it
        recorded them); should that fail, the admitter's loop takes them over."""
        if not self._freed:
            return
        keys, self._freed = sorted(self._freed), set()
        try:
            self._ready(*await admit(conn, keys, self._taking()))
        except psycopg.Error:
            self._keys.update(keys)
            self._heard.set()
            raise

    async def run(self) -> None:
        """Admit until cancelled; a failed batch is retried at the next sweep."""
        sweep_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            raise_if_cancelled()  # (rhythm.runtime.cancelling)
            # (asyncio.timeout, not wait_for: on Python 3.11 wait_for can turn a
            # cancellation that meets its timeout into TimeoutError, and this loop would
            # then outlive its stopping worker)
            with contextlib.suppress(TimeoutError):  # (the sweep is due)
                async with asyncio.timeout(max(sweep_at - loop.time(), 0)):
                    await self._heard.wait()
            self._heard.clear()
            keys, self._keys = sorted(self._keys), set()
            try:
                async with self._connection() as conn:
                    if loop.time() >= sweep_at:
                        sweep_at = loop.time() + SWEEP_SECONDS
                        cur = await conn.execute(Q["waiting_concurrency_keys"])
                        keys = sorted({*keys, *(row[0] for row in await cur.fetchall())})
                    if keys:
                        self._ready(*await admit(conn, keys, self._taking()))
            except (psycopg.Error, OSError) as err:
                log.warning("admission of %d concurrency key(s) failed (%s); retrying",
                            len(keys), err)
                sweep_at = loop.time() + 1.0
