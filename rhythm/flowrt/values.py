"""Flow values: kinds, errors, conversions, deep equality, limits and JSON copies.

The representation (docs/architecture.md): ``None`` (null), ``bool``, ``int``/``float``,
``str`` (code points), ``list``, ``dict`` (insertion ordered), ``Promise`` and callables
(compiled arrows, or :class:`BuiltinFunction` for built-ins and bound methods).

This module owns what every other runtime module needs: raising flow errors, describing a
value in a message, ``String()`` conversion, strict deep equality, calling a function
value, the string/array size limits and the JSON copy made when a value leaves the
workflow. It never reads a Python attribute of a user value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from rhythm.flowrt.numbers import format_number
from rhythm.flowrt.protocol import FlowLimit, FlowThrow, FlowValue, JsonValue, Limits, Promise

# ---------------------------------------------------------------- errors


def make_error(name: str, message: str, **extra: Any) -> dict[str, Any]:
    """A built-in error object (spec section 8): ``name``, ``message``, then extra fields."""
    error: dict[str, Any] = {"name": name, "message": message}
    error.update(extra)
    return error


def throw(name: str, message: str, **extra: Any) -> NoReturn:
    """Throw a built-in error into the flow (catchable by ``catch``)."""
    raise FlowThrow(make_error(name, message, **extra))


def type_error(message: str) -> NoReturn:
    raise FlowThrow({"name": "TypeError", "message": message})


def range_error(message: str) -> NoReturn:
    raise FlowThrow({"name": "RangeError", "message": message})


# ---------------------------------------------------------------- limits

_limits = Limits()
FREE_CHARS = 4096  # strings up to this size are paid for by the step that built them
_check_from = FREE_CHARS  # string length from which check_string looks closer


def configure(limits: Limits) -> None:
    """Install the limits of spec section 9 (hosts call this before running machines)."""
    global _limits, _check_from
    _limits = limits
    _check_from = min(FREE_CHARS, limits.max_string_length)


def current_limits() -> Limits:
    return _limits


def check_string(s: str) -> str:
    """``s`` itself, or FlowLimit when it is longer than the configured maximum.

    A long string also costs operations (building it copied its characters); short ones
    cost nothing beyond the step that built them, which keeps ``a + b`` cheap.
    """
    if len(s) > _check_from:
        check_string_length(len(s))
    return s


def check_string_length(n: int) -> None:
    """FlowLimit when a string of ``n`` characters would exceed the configured maximum;
    charges the cost of building it (called before building where that is possible)."""
    if n > _limits.max_string_length:
        raise FlowLimit(
            f"string length limit exceeded: {n} > {_limits.max_string_length} characters"
        )
    if n > FREE_CHARS:
        charge(n // CHARS_PER_OP)


def check_array_length(n: int) -> None:
    """FlowLimit when an array would grow to ``n`` elements beyond the configured maximum."""
    if n > _limits.max_array_length:
        raise FlowLimit(
            f"array length limit exceeded: {n} > {_limits.max_array_length} elements"
        )


# ---------------------------------------------------------------- the operation budget
#
# An activation may spend ``Limits.max_ops`` operations between two suspensions. The
# machine counts one per loop iteration (``tick``, the hot path, untouched here); costly
# built-ins charge what their work is worth in the same unit, so that one statement
# (a huge join, the stringify of a shared DAG, a string doubled in a loop) cannot run
# for minutes on one "operation". One operation is about one loop iteration of work.

CHARS_PER_OP = 1024  # characters copied into a new string
ELEMENTS_PER_OP = 16  # elements touched by C-level work (join, sort, concat, slice)
MAX_DEPTH = 100  # nesting of arrays/objects that equality, String(), JSON and snapshots walk


class Meter(Protocol):
    """What charges go to: the running machine (``ops`` spent, ``max_ops`` allowed)."""

    ops: int
    max_ops: int


class _Unmetered:
    """The meter outside any activation (tools calling built-ins directly)."""

    ops = 0
    max_ops = 1 << 62


_current = threading.local()


def meter_with(meter: Meter, limits: Limits) -> None:
    """Charge this thread's costly operations to ``meter`` under ``limits`` (run start)."""
    _current.meter = meter
    configure(limits)


def charge_scan(n: int) -> None:
    """Charge the C-level work of reading ``n`` characters (free up to FREE_CHARS)."""
    if n > FREE_CHARS:
        charge(n // CHARS_PER_OP)


def check_joined(parts: list[str], separator: str = "") -> None:
    """Before joining ``parts``: FlowLimit (and the cost charged) if the result would be
    too long, so that joining many references to one big string never allocates it all."""
    total = sum(map(len, parts)) + len(separator) * max(len(parts) - 1, 0)
    if total > FREE_CHARS:
        check_string_length(total)


def unmetered() -> None:
    """Stop charging this thread's operations to the activation that ended."""
    _current.meter = _Unmetered


def charge(units: int) -> None:
    """Spend ``units`` operations of the running activation (LimitError past the budget)."""
    meter: Meter = getattr(_current, "meter", _Unmetered)
    meter.ops += units
    if meter.ops > meter.max_ops:
        budget_exceeded(meter.max_ops)


def budget_exceeded(max_ops: int) -> NoReturn:
    raise FlowLimit(
        f"more than {max_ops} operations without a suspension (a runaway loop, or "
        "costly operations such as huge strings, joins, sorts or JSON in a loop)"
    )


def too_deep(what: str) -> NoReturn:
    raise FlowLimit(f"{what}: value nested more than {MAX_DEPTH} levels deep")


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects in ``value`` nest more than ``limit`` levels (no recursion;
    for freshly parsed JSON, which has no cycles)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        t = type(item)
        if t is list or t is dict:
            if depth > limit:
                return True
            for x in item if t is list else item.values():
                tx = type(x)
                if tx is list or tx is dict:
                    stack.append((x, depth + 1))
    return False


class Walk:
    """Budget and depth bookkeeping of one recursive walk over a value (equality, copies,
    JSON, logging). A shared sub-value is walked once per occurrence, so a small DAG can be
    huge: the walk charges the budget as it goes (every ``_SETTLE_EVERY`` units), and a
    small walk (up to ``_FREE_WALK`` units) is paid for by the step that made it."""

    __slots__ = ("charged", "chars", "checkpoint", "spent")

    def __init__(self) -> None:
        self.spent = 0
        self.charged = 0
        self.checkpoint = _SETTLE_EVERY
        self.chars = 0  # characters of strings written out so far (stringify, log, join)

    def output(self, n: int) -> None:
        """``n`` more characters go into the walk's text: LimitError before the text
        grows past the string limit (many references to one big string add up)."""
        self.chars += n
        if self.chars > _limits.max_string_length:
            check_string_length(self.chars)

    def enter(self, container_length: int, depth: int, what: str) -> None:
        self.spent += 1 + container_length // ELEMENTS_PER_OP
        if self.spent > self.checkpoint:
            self.settle()
        if depth > MAX_DEPTH:
            too_deep(what)

    def done(self) -> None:
        if self.spent > _FREE_WALK:
            self.settle()

    def settle(self) -> None:
        charge(self.spent - self.charged)
        self.charged = self.spent
        self.checkpoint = self.spent + _SETTLE_EVERY


_FREE_WALK = 64
_SETTLE_EVERY = 1024


# ---------------------------------------------------------------- functions


class BuiltinFunction:
    """A built-in function as a value: ``Math.max``, ``"abc".slice``, ``xs.push``.

    ``name`` is the qualified name (``Math.max``, ``string.slice``, ``array.push``);
    ``receiver`` is the bound value for methods (kept so a snapshot can rebuild it).
    """

    __slots__ = ("_impl", "name", "receiver")

    def __init__(self, name: str, impl: Callable[..., FlowValue], receiver: FlowValue = None):
        self.name = name
        self.receiver = receiver
        self._impl = impl

    def __call__(self, *args: FlowValue) -> FlowValue:
        return self._impl(*args)

    def __repr__(self) -> str:
        return f"<flow function {self.name}>"


_DATA_TYPES = (type(None), bool, int, float, str, list, dict, Promise)


def is_function(v: FlowValue) -> bool:
    """A callable flow value (never a data value, never a Python class)."""
    return type(v) not in _DATA_TYPES and callable(v) and not isinstance(v, type)


def function_name(fn: FlowValue) -> str:
    if type(fn) is BuiltinFunction:
        return fn.name.rpartition(".")[2]
    return ""


def call(fn: FlowValue, args: list[FlowValue], what: str | None = None) -> FlowValue:
    """Call a function value with ``args``; anything else throws ``TypeError``.

    ``what`` is the callee's source text when the compiler knows it (``o.f``).
    """
    if is_function(fn):
        return fn(*args)
    type_error(f"{what or describe(fn)} is not a function")


# ---------------------------------------------------------------- kinds


def kind(v: FlowValue) -> str:
    """A short name of the value's kind for messages: null, boolean, number, string, ..."""
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    if t is Promise:
        return "promise"
    return "function"


def describe(v: FlowValue) -> str:
    """The value as shown in an error message: short, with its kind when that helps."""
    t = type(v)
    if v is None or t is bool:
        return to_str(v)
    if t is int or t is float:
        return "number " + format_number(v)
    if t is str:
        shown = v if len(v) <= 30 else v[:27] + "..."
        return 'string "' + shown + '"'
    if is_function(v):
        return "function " + function_name(v) if function_name(v) else "function"
    return kind(v)


def type_of(v: FlowValue) -> str:
    """``typeof v``: number, string, boolean, object (null, arrays, promises) or function."""
    t = type(v)
    if t is str:
        return "string"
    if t is int or t is float:
        return "number"
    if t is bool:
        return "boolean"
    if v is None or t is list or t is dict or t is Promise:
        return "object"
    return "function" if is_function(v) else "object"


def truthy(v: FlowValue) -> bool:
    """JavaScript truthiness: false, null, 0 and "" are falsy; everything else is truthy."""
    if v is True:
        return True
    if v is None or v is False:
        return False
    t = type(v)
    if t is int or t is float:
        return v != 0
    if t is str:
        return v != ""
    return True


# ---------------------------------------------------------------- String()


def to_str(v: FlowValue) -> str:
    """JavaScript ``String(v)``."""
    t = type(v)
    if t is str:
        return v
    if t is int or t is float:
        return format_number(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is list:
        return join(v, ",")
    if t is dict:
        return "[object Object]"
    if t is Promise:
        return "[object Promise]"
    return f"function {function_name(v)}() {{ [native code] }}"


def join(items: list[FlowValue], separator: str) -> str:
    """``Array.prototype.join``: null elements as "", nested arrays joined with ","."""
    walk = Walk()
    text = _join(items, separator, set(), walk, 1)
    walk.done()
    return check_string(text)


def _join(items: list[FlowValue], separator: str, active: set[int], walk: Walk, depth: int) -> str:
    # An array met again while it is being joined reads as "" (as JavaScript does).
    walk.enter(len(items), depth, "String() of an array")
    active.add(id(items))
    parts = []
    for item in items:
        if item is None:
            parts.append("")
        elif type(item) is list:
            parts.append("" if id(item) in active else _join(item, ",", active, walk, depth + 1))
        else:
            text = to_str(item)
            walk.output(len(text))
            parts.append(text)
    active.discard(id(items))
    check_joined(parts, separator)  # the parts of a DAG can double at each level
    return separator.join(parts)


# ---------------------------------------------------------------- equality


def eq(a: FlowValue, b: FlowValue) -> bool:
    """``==``/``===``: strict (no coercion) and deep for arrays and objects."""
    if a is b:
        return True
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is str:
            if len(a) > FREE_CHARS and len(a) == len(b):
                charge(len(a) // CHARS_PER_OP)  # a memcmp of the whole string
            return bool(a == b)
        if ta is list or ta is dict:
            walk = Walk()
            equal = _deep_eq(a, b, set(), walk, 1)
            walk.done()
            return equal
        if ta is BuiltinFunction:
            return bool(a.name == b.name and a.receiver is b.receiver)
        return bool(a == b)
    # int and float are one type of the language: 1 == 1.0 (bool is not a number).
    return (ta is int or ta is float) and (tb is int or tb is float) and a == b


def ne(a: FlowValue, b: FlowValue) -> bool:
    return not eq(a, b)


Pairs = set[tuple[int, int]]


def _deep_eq(a: FlowValue, b: FlowValue, assumed: Pairs, walk: Walk, depth: int) -> bool:
    # ``assumed`` holds container pairs under comparison: meeting one again (a cycle)
    # adds no new difference, so it counts as equal.
    pair = (id(a), id(b))
    if pair in assumed:
        return True
    assumed.add(pair)
    if len(a) != len(b):
        return False
    walk.enter(len(a), depth, "comparing values")
    if type(a) is list:
        return all(_eq_in(x, y, assumed, walk, depth) for x, y in zip(a, b, strict=True))
    return all(
        key in b and _eq_in(value, b[key], assumed, walk, depth) for key, value in a.items()
    )


def _eq_in(a: FlowValue, b: FlowValue, assumed: Pairs, walk: Walk, depth: int) -> bool:
    ta = type(a)
    if ta is type(b) and (ta is list or ta is dict):
        return a is b or _deep_eq(a, b, assumed, walk, depth + 1)
    return eq(a, b)


# ---------------------------------------------------------------- leaving the workflow


def to_json_copy(v: FlowValue, where: str = "the workflow result") -> JsonValue:
    """A plain JSON copy of a value that leaves the workflow (inputs, payloads, the result).

    A promise or a function anywhere inside throws ``TypeError``; so does a cycle, which
    JSON cannot hold. Shared (non-cyclic) sub-values are copied once per occurrence.
    """
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    walk = Walk()
    copy = _copy(v, where, [], walk)
    walk.done()
    return copy


def _copy(v: FlowValue, where: str, path: list[int], walk: Walk) -> JsonValue:
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    if t is list or t is dict:
        if id(v) in path:
            type_error(f"a cyclic structure cannot leave the workflow ({where})")
        path.append(id(v))
        # Walk.enter, inlined: every task call's inputs come through here.
        walk.spent += 1 + len(v) // ELEMENTS_PER_OP
        if walk.spent > walk.checkpoint:
            walk.settle()
        if len(path) > MAX_DEPTH:
            too_deep(where)
        if t is list:
            out: JsonValue = [_copy(item, where, path, walk) for item in v]
        else:
            out = {key: _copy(item, where, path, walk) for key, item in v.items()}
        path.pop()
        return out
    if t is Promise:
        type_error(f"a promise cannot leave the workflow ({where})")
    type_error(f"a function cannot leave the workflow ({where})")
