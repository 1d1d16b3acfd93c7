"""``@rhythm.task``: declaring Python functions as durable tasks.

A decorated function stays callable as before; the decorator records a
:class:`TaskDefinition` (name, queue, retries, backoff, timeout, non-retryable
exception types, transactional) in a registry that workers read. Inputs are a JSON
object whose keys are bound to the function's parameters by name
(:func:`bind_arguments`); a mismatch is a permanent failure of that execution.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from rhythm.flowrt.durations import parse_duration_ms
from rhythm.runtime.concurrency import ConcurrencySpec, parse_spec
from rhythm.runtime.ratespec import RateLimit, optional_rate_limit

F = TypeVar("F", bound=Callable[..., Any])


class ArgumentMismatch(Exception):
    """The inputs object does not fit the task's parameters (never retried)."""



def _seconds(value: float | int | str | None, what: str) -> float | None:
    """Seconds of a duration given to the decorator (None stays None)."""
    return None if value is None else parse_duration_ms(value, what) / 1000


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: delay n is uniform in [base/2, base] where
    base = min(initial * factor**(n-1), maximum). Jitter keeps retries of many tasks
    that failed together from hitting a recovering service at the same instant."""

    initial: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.5  # fraction of the delay that is randomised

    def delay(self, retry_number: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.initial * self.factor ** max(retry_number - 1, 0), self.maximum)
        return base * (1.0 - self.jitter * rng())

    @classmethod
    def of(cls, value: Backoff | float | int | str | Mapping[str, Any] | None) -> Backoff:
        if value is None:
            return cls()
        if isinstance(value, Backoff):
            return value
        if isinstance(value, Mapping):
            return cls(**{k: float(v) for k, v in value.items()})
        seconds = _seconds(value, "backoff")
        return cls(initial=seconds if seconds is not None else 1.0)


@dataclass(frozen=True)
class TaskDefinition:
    name: str
    fn: Callable[..., Any]
    queue: str = "default"
    retries: int = 0
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float | None = None
    non_retryable: tuple[type[BaseException], ...] = ()
    transactional: bool = False
    concurrency: ConcurrencySpec | None = None  # per-key concurrency (concurrency.py)
    rate_limit: RateLimit | None = None  # claims of this name, across all workers

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    def is_retryable(self, error: BaseException) -> bool:
        return not isinstance(error, self.non_retryable)


class TaskRegistry:
    """Task definitions by name. The module-level :data:`REGISTRY` is what
    ``@rhythm.task`` fills; workers may also be given their own."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskDefinition] = {}

    def add(self, definition: TaskDefinition) -> None:
        existing = self._tasks.get(definition.name)
        if existing is not None and _qualname(existing.fn) != _qualname(definition.fn):
            raise ValueError(
                f"task name {definition.name!r} is used by both {_qualname(existing.fn)} "
                f"and {_qualname(definition.fn)}"
            )
        self._tasks[definition.name] = definition

    def get(self, name: str) -> TaskDefinition | None:
        return self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def definitions(self) -> list[TaskDefinition]:
        return [self._tasks[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._tasks


REGISTRY = TaskRegistry()


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


@overload
def task(fn: F, /) -> F: ...


@overload
def task(
    *,
    name: str | None = None,
    queue: str = "default",
    retries: int = 0,
    backoff: Backoff | float | str | Mapping[str, Any] | None = None,
    timeout: float | str | None = None,
    non_retryable: Iterable[type[BaseException]] = (),
    transactional: bool = False,
    concurrency: Mapping[str, Any] | None = None,
    rate_limit: str | None = None,
) -> Callable[[F], F]: ...


def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str = "default",
    retries: int = 0,
    backoff: Backoff | float | str | Mapping[str, Any] | None = None,
    timeout: float | str | None = None,
    non_retryable: Iterable[type[BaseException]] = (),
    transactional: bool = False,
    concurrency: Mapping[str, Any] | None = None,
    rate_limit: str | None = None,
) -> Any:
    """Declare a durable task. Usable bare (``@rhythm.task``) or with options.

    ``transactional=True``: the function's first parameter receives a psycopg
    connection (``AsyncConnection`` for ``async def``) inside the transaction that
    records its result; its writes commit exactly once, together with that result.

    ``concurrency={"key": "customerId", "limit": 1}``: at most ``limit`` executions per
    value of that input (a dotted path reaches inside one) run at a time, across all
    workers; the others wait in order (docs/flow-control.md).

    ``rate_limit="100/s"`` (or ``N/min``, ``N/h``): at most that many claims of this task
    name per period across all workers, in bursts of up to N (docs/flow-control.md).
    """
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be a non-negative integer, got {retries!r}")
    seconds = _seconds(timeout, "timeout")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    policy = Backoff.of(backoff)
    kinds = tuple(non_retryable)
    limit = optional_rate_limit(rate_limit, "rate_limit")

    def decorate(function: F) -> F:
        task_name = name or function.__name__
        definition = TaskDefinition(
            name=task_name, fn=function, queue=queue, retries=retries,
            backoff=policy, timeout=seconds, non_retryable=kinds, transactional=transactional,
            concurrency=parse_spec(concurrency, function, task_name),
            rate_limit=limit,
        )
        if transactional and not _parameters(function):
            raise ValueError(
                f"transactional task {definition.name!r} needs a first parameter for the connection"
            )
        REGISTRY.add(definition)
        function.__rhythm_task__ = definition  # type: ignore[attr-defined]
        return function

    return decorate(fn) if fn is not None else decorate


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())


@dataclass(frozen=True)
class _Signature:
    named: dict[str, bool]  # parameter name -> required
    required: frozenset[str]
    accepts_any: bool  # **kwargs

    def fits(self, inputs: dict[str, Any]) -> bool:
        keys = inputs.keys()
        return self.required <= keys and (self.accepts_any or keys <= self.named.keys())


@functools.lru_cache(maxsize=1024)
def _signature_of(fn: Callable[..., Any], transactional: bool) -> _Signature:
    """The parameters inputs bind to, computed once per task function:
    ``inspect.signature`` is far too slow to call for every execution."""
    params = _parameters(fn)
    if transactional:
        params = params[1:]  # the connection
    named = {
        p.name: p.default is inspect.Parameter.empty
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return _Signature(
        named=named, required=frozenset(n for n, required in named.items() if required),
        accepts_any=any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params),
    )


def bind_arguments(definition: TaskDefinition, inputs: Any) -> dict[str, Any]:
    """Keyword arguments for the task from its inputs object, matched by parameter name."""
    if not isinstance(inputs, dict):
        raise ArgumentMismatch(f"inputs must be a JSON object, got {type(inputs).__name__}")
    signature = _signature_of(definition.fn, definition.transactional)
    if not signature.fits(inputs):
        raise ArgumentMismatch(_mismatch(definition.name, signature, inputs))
    return dict(inputs)


def _mismatch(name: str, signature: _Signature, inputs: dict[str, Any]) -> str:
    missing = sorted(signature.required - inputs.keys())
    unexpected = [] if signature.accepts_any else sorted(inputs.keys() - signature.named.keys())
    problems = []
    if missing:
        problems.append("missing " + ", ".join(repr(n) for n in missing))
    if unexpected:
        problems.append("unexpected " + ", ".join(repr(n) for n in unexpected))
    expected = ", ".join(signature.named) or "no inputs"
    return f"inputs do not match task {name!r}({expected}): {'; '.join(problems)}"
