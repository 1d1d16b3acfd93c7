"""The facade that generated workflow code calls: operators, members, iteration, built-ins.

Generated modules do ``from rhythm.flowrt import ops`` and call ``ops.add(a, b)``,
``ops.get(o, "k")``, ``ops.math_max(...)`` and so on; everything a machine needs at run time
is reachable from here (the other ``rhythm.flowrt`` modules hold the implementations).

Semantics are those of the language spec (sections 3, 5, 7, 8), with JavaScript's behaviour
where the spec is silent (see docs/flowrt-decisions.md). Operators are written for speed:
the common number/number and string/string cases are the first branch taken.
"""

from __future__ import annotations

import math
from typing import NoReturn

from rhythm.flowrt.builtins import (
    MATH_PI,
    TASK_OPTIONS,
    WORKFLOW_OPTIONS,
    array_isArray,
    builtin_function,
    console_log,
    date_now,
    fn_Boolean,
    fn_Number,
    fn_parseFloat,
    fn_parseInt,
    fn_sleep,
    fn_String,
    fn_task,
    inspect,
    json_parse,
    json_stringify,
    math_abs,
    math_ceil,
    math_floor,
    math_max,
    math_min,
    math_pow,
    math_random,
    math_round,
    math_sign,
    math_sqrt,
    math_trunc,
    object_entries,
    object_keys,
    object_values,
    power,
    promise_all,
    promise_allSettled,
    promise_any,
    promise_race,
    signal_next,
    signal_when,
    task_run,
    timer_delay,
    timer_until,
    workflow_run,
)
from rhythm.flowrt.methods import bound_method, call_method, check_arity
from rhythm.flowrt.numbers import SAFE_INTEGER, format_number, num
from rhythm.flowrt.protocol import FlowLimit, FlowThrow, FlowValue, Limits, Promise
from rhythm.flowrt.values import (
    ELEMENTS_PER_OP,
    FREE_CHARS,
    BuiltinFunction,
    call,
    charge,
    charge_scan,
    check_array_length,
    check_string,
    configure,
    current_limits,
    describe,
    eq,
    is_function,
    kind,
    make_error,
    ne,
    range_error,
    throw,
    to_json_copy,
    to_str,
    truthy,
    type_error,
    type_of,
)

__all__ = [
    "MATH_PI",
    "SAFE_INTEGER",
    "TASK_OPTIONS",
    "WORKFLOW_OPTIONS",
    "BuiltinFunction",
    "FlowLimit",
    "FlowThrow",
    "Limits",
    "Promise",
    "add",
    "array_isArray",
    "builtin_function",
    "call",
    "call_method",
    "check_arity",
    "configure",
    "console_log",
    "current_limits",
    "date_now",
    "dec",
    "describe",
    "div",
    "eq",
    "fn_Boolean",
    "fn_Number",
    "fn_String",
    "fn_parseFloat",
    "fn_parseInt",
    "fn_sleep",
    "fn_task",
    "format_number",
    "ge",
    "get",
    "gt",
    "inc",
    "inspect",
    "is_function",
    "iter_of",
    "json_parse",
    "json_stringify",
    "keys_in",
    "le",
    "lt",
    "make_error",
    "math_abs",
    "math_ceil",
    "math_floor",
    "math_max",
    "math_min",
    "math_pow",
    "math_random",
    "math_round",
    "math_sign",
    "math_sqrt",
    "math_trunc",
    "mod",
    "mul",
    "ne",
    "neg",
    "not_",
    "num",
    "object_entries",
    "object_keys",
    "object_values",
    "pos",
    "pow",
    "promise_all",
    "promise_allSettled",
    "promise_any",
    "promise_race",
    "set",
    "signal_next",
    "signal_when",
    "sub",
    "task_run",
    "template",
    "throw",
    "timer_delay",
    "timer_until",
    "to_json_copy",
    "to_str",
    "truthy",
    "type_of",
    "workflow_run",
]

_SAFE = SAFE_INTEGER
_INDEX_DIGITS = 16  # digits of the largest array index worth parsing (2**53 has 16)

# ---------------------------------------------------------------- arithmetic


def _operand_error(op: str, a: FlowValue, b: FlowValue) -> NoReturn:
    type_error(f"Cannot use '{op}' with {kind(a)} and {kind(b)}")


def _is_number(v: FlowValue) -> bool:
    t = type(v)
    return t is int or t is float


def _beyond_safe(op: str, a: int | float, b: int | float) -> int | float:
    """Redo an integer operation whose result left ±2**53 in doubles, as JavaScript does."""
    try:
        x, y = float(a), float(b)
        result = x + y if op == "+" else x - y if op == "-" else x * y
    except OverflowError:
        range_error(f"the result of '{op}' is not a finite number")
    return num(result)


def add(a: FlowValue, b: FlowValue) -> FlowValue:
    """``a + b``: numbers add; if either side is a string both are String()-ed and joined."""
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a + b
        if -_SAFE <= r <= _SAFE:
            return r
        return _beyond_safe("+", a, b)
    if ta is str:
        r = a + (b if tb is str else to_str(b))
    elif tb is str:
        r = to_str(a) + b
    elif (ta is int or ta is float) and (tb is int or tb is float):
        return num(a + b)
    else:
        _operand_error("+", a, b)
    return check_string(r)


def sub(a: FlowValue, b: FlowValue) -> FlowValue:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a - b
        if -_SAFE <= r <= _SAFE:
            return r
        return _beyond_safe("-", a, b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return num(a - b)
    _operand_error("-", a, b)


def mul(a: FlowValue, b: FlowValue) -> FlowValue:
    ta = type(a)
    tb = type(b)
    if ta is int and tb is int:
        r = a * b
        if -_SAFE <= r <= _SAFE:
            return r
        return _beyond_safe("*", a, b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return num(a * b)
    _operand_error("*", a, b)


def div(a: FlowValue, b: FlowValue) -> FlowValue:
    """``a / b``; division by zero (Infinity or NaN in JavaScript) throws RangeError."""
    if not (_is_number(a) and _is_number(b)):
        _operand_error("/", a, b)
    if b == 0:
        range_error(f"Division by zero: {format_number(a)} / 0")
    try:
        return num(a / b)
    except OverflowError:
        range_error(f"the result of {format_number(a)} / {format_number(b)} is not finite")


def mod(a: FlowValue, b: FlowValue) -> FlowValue:
    """``a % b`` with JavaScript's sign (that of the dividend); ``x % 0`` throws RangeError."""
    if not (_is_number(a) and _is_number(b)):
        _operand_error("%", a, b)
    if b == 0:
        range_error(f"Modulo by zero: {format_number(a)} % 0 is not a number")
    if type(a) is int and type(b) is int:
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    return num(math.fmod(a, b))


def pow(a: FlowValue, b: FlowValue) -> FlowValue:
    if not (_is_number(a) and _is_number(b)):
        _operand_error("**", a, b)
    return power(a, b)


def neg(a: FlowValue) -> FlowValue:
    if type(a) is int or type(a) is float:
        return -a
    type_error(f"Cannot use unary '-' with {kind(a)}")


def pos(a: FlowValue) -> FlowValue:
    """Unary ``+`` converts like ``Number(a)`` (as in JavaScript); NaN would be a RangeError."""
    return fn_Number(a)


def not_(a: FlowValue) -> bool:
    return not truthy(a)


def inc(a: FlowValue) -> FlowValue:
    """``x + 1`` for ``++``: numbers only (never string concatenation)."""
    if type(a) is int and a < _SAFE:
        return a + 1
    if type(a) is int or type(a) is float:
        return num(a + 1)
    type_error(f"Cannot use '++' with {kind(a)}")


def dec(a: FlowValue) -> FlowValue:
    """``x - 1`` for ``--``: numbers only."""
    if type(a) is int and a > -_SAFE:
        return a - 1
    if type(a) is int or type(a) is float:
        return num(a - 1)
    type_error(f"Cannot use '--' with {kind(a)}")


# ---------------------------------------------------------------- comparison


def _compare_error(op: str, a: FlowValue, b: FlowValue) -> NoReturn:
    type_error(
        f"Cannot compare {kind(a)} with {kind(b)} using '{op}' "
        "(only number with number, or string with string)"
    )


def _charge_compare(a: str, b: str) -> None:
    """Ordering two long strings reads them up to their first difference."""
    charge_scan(min(len(a), len(b)))


def lt(a: FlowValue, b: FlowValue) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a < b)
    if ta is str and tb is str:
        if len(a) > FREE_CHARS:
            _charge_compare(a, b)
        return a < b
    _compare_error("<", a, b)


def le(a: FlowValue, b: FlowValue) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a <= b)
    if ta is str and tb is str:
        if len(a) > FREE_CHARS:
            _charge_compare(a, b)
        return a <= b
    _compare_error("<=", a, b)


def gt(a: FlowValue, b: FlowValue) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a > b)
    if ta is str and tb is str:
        if len(a) > FREE_CHARS:
            _charge_compare(a, b)
        return a > b
    _compare_error(">", a, b)


def ge(a: FlowValue, b: FlowValue) -> bool:
    ta = type(a)
    tb = type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a >= b)
    if ta is str and tb is str:
        if len(a) > FREE_CHARS:
            _charge_compare(a, b)
        return a >= b
    _compare_error(">=", a, b)


# ---------------------------------------------------------------- members


def _property_key(key: FlowValue) -> str:
    """JavaScript's ToPropertyKey: the String() of the key."""
    return key if type(key) is str else to_str(key)


def _array_index(key: FlowValue) -> int | None:
    """An integer index from an int key or a canonical numeric string ("0", "12")."""
    if type(key) is int:
        return key
    if (
        type(key) is str and key.isascii() and key.isdigit() and (key == "0" or key[0] != "0")
        and len(key) <= _INDEX_DIGITS
    ):
        return int(key)
    return None  # longer digit strings are past any array (and past Python's int parsing)


def get(obj: FlowValue, key: FlowValue) -> FlowValue:
    """``obj.key`` / ``obj[key]``: JSON data, ``length`` and bound string/array methods only."""
    t = type(obj)
    if t is dict:
        return obj.get(key if type(key) is str else _property_key(key))
    if t is list or t is str:
        if type(key) is int:
            return obj[key] if 0 <= key < len(obj) else None
        index = _array_index(key)
        if index is not None:
            return obj[index] if index < len(obj) else None
        if key == "length":
            return len(obj)
        return bound_method(obj, key) if type(key) is str else None
    if obj is None:
        type_error(f"Cannot read property '{_property_key(key)}' of null")
    return None  # numbers, booleans, promises and functions have no readable members


def set(obj: FlowValue, key: FlowValue, value: FlowValue) -> FlowValue:
    """``obj[key] = value``; returns ``value``. Arrays take an index up to their length."""
    t = type(obj)
    if t is dict:
        obj[key if type(key) is str else _property_key(key)] = value
        return value
    if t is list:
        _set_in_array(obj, key, value)
        return value
    if obj is None:
        type_error(f"Cannot set property '{_property_key(key)}' of null")
    type_error(f"Cannot create property '{_property_key(key)}' on {describe(obj)}")


def _set_in_array(arr: list[FlowValue], key: FlowValue, value: FlowValue) -> None:
    index = _array_index(key)
    if index is not None:
        if index < 0:
            type_error(f"Cannot write array index {index}")
        if index < len(arr):
            arr[index] = value
        elif index == len(arr):
            check_array_length(index + 1)
            arr.append(value)
        else:
            type_error(
                f"Cannot write index {index} past the end of an array of length {len(arr)} "
                "(only arr[arr.length] appends)"
            )
        return
    if key == "length":
        # Shortening is what JavaScript programmers use ``arr.length = 0`` for; growing
        # would create holes, which the language does not have.
        if type(value) is int and 0 <= value <= len(arr):
            del arr[value:]
            return
        type_error(f"array length can only be set to an integer from 0 to {len(arr)}")
    type_error(f"Cannot set property '{_property_key(key)}' of an array (use an integer index)")


# ---------------------------------------------------------------- iteration and templates


def iter_of(v: FlowValue) -> list[FlowValue]:
    """What ``for (x of v)`` walks: an array itself (indexed live), or a string's code points."""
    if type(v) is list:
        return v
    if type(v) is str:
        charge(len(v) // ELEMENTS_PER_OP)  # the list is built before the first iteration
        return list(v)
    type_error(f"{describe(v)} is not iterable (for-of takes an array or a string)")


def keys_in(v: FlowValue) -> list[FlowValue]:
    """What ``for (k in v)`` walks: object keys; indices (numbers) of arrays and strings."""
    t = type(v)
    if t is dict:
        charge(len(v) // ELEMENTS_PER_OP)
        return list(v)
    if t is list or t is str:
        charge(len(v) // ELEMENTS_PER_OP)
        return list(range(len(v)))
    return []  # null and other values have no enumerable keys (JavaScript: no iteration)


def template(*parts: FlowValue) -> str:
    """A template literal: quasis and evaluated expressions, each converted with String()."""
    text = "".join(p if type(p) is str else to_str(p) for p in parts)
    return check_string(text)
