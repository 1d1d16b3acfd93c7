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

from collections.abc import Callable
from typing import Any, NoReturn

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


def configure(limits: Limits) -> None:
    """Install the limits of spec section 9 (hosts call this before running machines)."""
    global _limits
    _limits = limits


def current_limits() -> Limits:
    return _limits


def check_string(s: str) -> str:
    """``s`` itself, or FlowLimit when it is longer than the configured maximum."""
    if len(s) > _limits.max_string_length:
        check_string_length(len(s))
    return s


def check_string_length(n: int) -> None:
    """FlowLimit when a string of ``n`` characters would exceed the configured maximum."""
    if n > _limits.max_string_length:
        raise FlowLimit(
            f"string length limit exceeded: {n} > {_limits.max_string_length} characters"
        )


def check_array_length(n: int) -> None:
    """FlowLimit when an array would grow to ``n`` elements beyond the configured maximum."""
    if n > _limits.max_array_length:
        raise FlowLimit(
            f"array length limit exceeded: {n} > {_limits.max_array_length} elements"
        )


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
        return check_string(_join(v, ",", set()))
    if t is dict:
        return "[object Object]"
    if t is Promise:
        return "[object Promise]"
    return f"function {function_name(v)}() {{ [native code] }}"


def join(items: list[FlowValue], separator: str) -> str:
    """``Array.prototype.join``: null elements as "", nested arrays joined with ","."""
    return check_string(_join(items, separator, set()))


def _join(items: list[FlowValue], separator: str, active: set[int]) -> str:
    # An array met again while it is being joined reads as "" (as JavaScript does).
    active.add(id(items))
    parts = []
    for item in items:
        if item is None:
            parts.append("")
        elif type(item) is list:
            parts.append("" if id(item) in active else _join(item, ",", active))
        else:
            parts.append(to_str(item))
    active.discard(id(items))
    return separator.join(parts)


# ---------------------------------------------------------------- equality


def eq(a: FlowValue, b: FlowValue) -> bool:
    """``==``/``===``: strict (no coercion) and deep for arrays and objects."""
    if a is b:
        return True
    ta = type(a)
    tb = type(b)
    if ta is tb:
        if ta is list or ta is dict:
            return _deep_eq(a, b, set())
        if ta is BuiltinFunction:
            return bool(a.name == b.name and a.receiver is b.receiver)
        return bool(a == b)
    # int and float are one type of the language: 1 == 1.0 (bool is not a number).
    return (ta is int or ta is float) and (tb is int or tb is float) and a == b


def ne(a: FlowValue, b: FlowValue) -> bool:
    return not eq(a, b)


def _deep_eq(a: FlowValue, b: FlowValue, assumed: set[tuple[int, int]]) -> bool:
    # ``assumed`` holds container pairs under comparison: meeting one again (a cycle)
    # adds no new difference, so it counts as equal.
    pair = (id(a), id(b))
    if pair in assumed:
        return True
    assumed.add(pair)
    if type(a) is list:
        if len(a) != len(b):
            return False
        return all(_eq_in(x, y, assumed) for x, y in zip(a, b, strict=True))
    if len(a) != len(b):
        return False
    return all(key in b and _eq_in(value, b[key], assumed) for key, value in a.items())


def _eq_in(a: FlowValue, b: FlowValue, assumed: set[tuple[int, int]]) -> bool:
    ta = type(a)
    if ta is type(b) and (ta is list or ta is dict):
        return a is b or _deep_eq(a, b, assumed)
    return eq(a, b)


# ---------------------------------------------------------------- leaving the workflow


def to_json_copy(v: FlowValue, where: str = "the workflow result") -> JsonValue:
    """A plain JSON copy of a value that leaves the workflow (inputs, payloads, the result).

    A promise or a function anywhere inside throws ``TypeError``; so does a cycle, which
    JSON cannot hold. Shared (non-cyclic) sub-values are copied once per occurrence.
    """
    try:
        return _copy(v, where, [])
    except RecursionError:
        range_error(f"value nested too deeply to leave the workflow ({where})")


def _copy(v: FlowValue, where: str, path: list[int]) -> JsonValue:
    t = type(v)
    if t is str or t is int or t is float or t is bool or v is None:
        return v
    if t is list or t is dict:
        if id(v) in path:
            type_error(f"a cyclic structure cannot leave the workflow ({where})")
        path.append(id(v))
        if t is list:
            out: JsonValue = [_copy(item, where, path) for item in v]
        else:
            out = {key: _copy(item, where, path) for key, item in v.items()}
        path.pop()
        return out
    if t is Promise:
        type_error(f"a promise cannot leave the workflow ({where})")
    type_error(f"a function cannot leave the workflow ({where})")
