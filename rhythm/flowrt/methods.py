"""String and array methods of the catalogue, with JavaScript semantics.

Strings are sequences of code points (Python ``str``), so ``length``, indices and every
position argument count code points. Methods are dispatched only through the two tables
below, keyed by the catalogue's names: nothing else of Python is reachable from a receiver.

Conventions where JavaScript has ``undefined`` and the language has only ``null``: an
optional argument given as ``null`` means "not given". Numeric arguments must be numbers
(fractions truncate toward zero); anything else throws ``TypeError``.
Callbacks are called as ``fn(element, index, array)`` (``reduce``: ``fn(acc, element,
index, array)``) and visit the elements present when the method started.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from rhythm.catalog import ARRAY_METHODS, STRING_METHODS, Arity
from rhythm.flowrt.numbers import JS_WHITESPACE, to_integer
from rhythm.flowrt.protocol import FlowValue
from rhythm.flowrt.values import (
    ELEMENTS_PER_OP,
    FREE_CHARS,
    BuiltinFunction,
    call,
    charge,
    charge_scan,
    check_array_length,
    check_string,
    check_string_length,
    describe,
    eq,
    is_function,
    join,
    kind,
    range_error,
    to_str,
    truthy,
    type_error,
)

Method = Callable[..., FlowValue]


# ---------------------------------------------------------------- argument helpers


def _int_arg(method: str, value: FlowValue, default: int) -> int:
    t = type(value)
    if t is int:
        return value
    if t is float:
        return to_integer(value)
    if value is None:
        return default
    type_error(f"{method}: expected a number, got {describe(value)}")


def _clamp(position: int, length: int) -> int:
    return 0 if position < 0 else length if position > length else position


def _relative(position: int, length: int) -> int:
    """A possibly negative index counted from the end, clamped to [0, length]."""
    if position < 0:
        return max(length + position, 0)
    return min(position, length)


def _callback(method: str, fn: FlowValue) -> FlowValue:
    if not is_function(fn):
        type_error(f"{method}: {describe(fn)} is not a function")
    return fn


# ---------------------------------------------------------------- strings


def s_includes(s: str, search: FlowValue, position: FlowValue = None) -> bool:
    charge_scan(len(s))
    return s.find(to_str(search), _clamp(_int_arg("includes", position, 0), len(s))) != -1


def s_starts_with(s: str, search: FlowValue, position: FlowValue = None) -> bool:
    charge_scan(len(search) if type(search) is str else 0)
    return s.startswith(to_str(search), _clamp(_int_arg("startsWith", position, 0), len(s)))


def s_ends_with(s: str, search: FlowValue, end: FlowValue = None) -> bool:
    charge_scan(len(search) if type(search) is str else 0)
    return s.endswith(to_str(search), 0, _clamp(_int_arg("endsWith", end, len(s)), len(s)))


def s_index_of(s: str, search: FlowValue, position: FlowValue = None) -> int:
    charge_scan(len(s))
    return s.find(to_str(search), _clamp(_int_arg("indexOf", position, 0), len(s)))


def s_slice(s: str, start: FlowValue = None, end: FlowValue = None) -> str:
    n = len(s)
    out = s[_relative(_int_arg("slice", start, 0), n) : _relative(_int_arg("slice", end, n), n)]
    charge_scan(len(out))
    return out


def s_substring(s: str, start: FlowValue, end: FlowValue = None) -> str:
    n = len(s)
    a = _clamp(_int_arg("substring", start, 0), n)
    b = _clamp(_int_arg("substring", end, n), n)
    charge_scan(abs(b - a))
    return s[min(a, b) : max(a, b)]


def s_to_upper(s: str) -> str:
    return check_string(s.upper())


def s_to_lower(s: str) -> str:
    return check_string(s.lower())


def s_trim(s: str) -> str:
    if len(s) > FREE_CHARS:  # a set of 25 white space characters: ~20 ns per character
        charge(len(s) // ELEMENTS_PER_OP)
    return s.strip(JS_WHITESPACE)


def s_split(s: str, separator: FlowValue = None, limit: FlowValue = None) -> list[str]:
    # JavaScript's ToUint32: a negative limit wraps around to "no limit" in practice.
    count = _int_arg("split", limit, -1)
    if count == 0:
        return []
    charge(len(s) // ELEMENTS_PER_OP)
    if separator is None:
        parts = [s]
    else:
        sep = to_str(separator)
        parts = list(s) if sep == "" else s.split(sep)
    if count > 0:
        parts = parts[:count]
    check_array_length(len(parts))
    return parts


def _expand(replacement: str, matched: str, s: str, at: int) -> str:
    """JavaScript's GetSubstitution for a string pattern: $$, $&, $` and $'."""
    if "$" not in replacement:
        return replacement
    out = []
    i = 0
    while i < len(replacement):
        c = replacement[i]
        nxt = replacement[i + 1 : i + 2]
        if c == "$" and nxt in ("$", "&", "`", "'"):
            out.append(
                {"$": "$", "&": matched, "`": s[:at], "'": s[at + len(matched) :]}[nxt]
            )
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def s_replace(s: str, pattern: FlowValue, replacement: FlowValue) -> str:
    charge_scan(len(s))
    needle = to_str(pattern)
    at = s.find(needle)
    if at == -1:
        return s
    text = _expand(to_str(replacement), needle, s, at)
    return check_string(s[:at] + text + s[at + len(needle) :])


def s_replace_all(s: str, pattern: FlowValue, replacement: FlowValue) -> str:
    charge_scan(len(s))
    needle = to_str(pattern)
    template = to_str(replacement)
    if needle == "":
        positions = list(range(len(s) + 1))
    else:
        positions = []
        at = s.find(needle)
        while at != -1:
            positions.append(at)
            at = s.find(needle, at + len(needle))
    if not positions:
        return s
    charge(len(positions))  # one substitution (a Python step) per match
    out = []
    last = 0
    for at in positions:
        out.append(s[last:at])
        out.append(_expand(template, needle, s, at))
        last = at + len(needle)
    out.append(s[last:])
    return check_string("".join(out))


def _padding(method: str, s: str, target: FlowValue, fill: FlowValue) -> str:
    length = _int_arg(method, target, 0)
    pad = " " if fill is None else to_str(fill)
    missing = length - len(s)
    if missing <= 0 or pad == "":
        return ""
    check_string_length(length)
    return (pad * (missing // len(pad) + 1))[:missing]


def s_pad_start(s: str, target: FlowValue, fill: FlowValue = None) -> str:
    return _padding("padStart", s, target, fill) + s


def s_pad_end(s: str, target: FlowValue, fill: FlowValue = None) -> str:
    return s + _padding("padEnd", s, target, fill)


def s_repeat(s: str, count: FlowValue) -> str:
    times = _int_arg("repeat", count, 0)
    if times < 0:
        range_error(f"Invalid count value: {times}")
    check_string_length(len(s) * times)
    return s * times


STRING: dict[str, Method] = {
    "includes": s_includes,
    "startsWith": s_starts_with,
    "endsWith": s_ends_with,
    "indexOf": s_index_of,
    "slice": s_slice,
    "substring": s_substring,
    "toUpperCase": s_to_upper,
    "toLowerCase": s_to_lower,
    "trim": s_trim,
    "split": s_split,
    "replace": s_replace,
    "replaceAll": s_replace_all,
    "padStart": s_pad_start,
    "padEnd": s_pad_end,
    "repeat": s_repeat,
}


# ---------------------------------------------------------------- arrays


def a_includes(a: list[FlowValue], item: FlowValue, start: FlowValue = None) -> bool:
    return a_index_of(a, item, start) != -1


def a_index_of(a: list[FlowValue], item: FlowValue, start: FlowValue = None) -> int:
    charge(len(a) // ELEMENTS_PER_OP)
    for i in range(_relative(_int_arg("indexOf", start, 0), len(a)), len(a)):
        if eq(a[i], item):
            return i
    return -1


def a_join(a: list[FlowValue], separator: FlowValue = None) -> str:
    charge(len(a) // ELEMENTS_PER_OP)
    return join(a, "," if separator is None else to_str(separator))


def a_slice(a: list[FlowValue], start: FlowValue = None, end: FlowValue = None) -> list[FlowValue]:
    n = len(a)
    charge(n // ELEMENTS_PER_OP)
    return a[_relative(_int_arg("slice", start, 0), n) : _relative(_int_arg("slice", end, n), n)]


def a_concat(a: list[FlowValue], *items: FlowValue) -> list[FlowValue]:
    charge(len(a) // ELEMENTS_PER_OP)
    out = list(a)
    for item in items:
        if type(item) is list:
            out.extend(item)
        else:
            out.append(item)
    check_array_length(len(out))
    return out


def a_push(a: list[FlowValue], *items: FlowValue) -> int:
    check_array_length(len(a) + len(items))
    a.extend(items)
    return len(a)


def a_pop(a: list[FlowValue]) -> FlowValue:
    return a.pop() if a else None


def a_shift(a: list[FlowValue]) -> FlowValue:
    charge(len(a) // ELEMENTS_PER_OP)  # moves every element
    return a.pop(0) if a else None


def a_unshift(a: list[FlowValue], *items: FlowValue) -> int:
    check_array_length(len(a) + len(items))
    charge(len(a) // ELEMENTS_PER_OP)
    a[0:0] = items
    return len(a)


def a_reverse(a: list[FlowValue]) -> list[FlowValue]:
    charge(len(a) // ELEMENTS_PER_OP)
    a.reverse()
    return a


def a_sort(a: list[FlowValue], comparator: FlowValue = None) -> list[FlowValue]:
    """In place and stable. Without a comparator: numbers numerically or strings by code
    point, nulls last; any other mix throws TypeError (as ``<`` would)."""
    comparisons = len(a) * max(1, len(a).bit_length())
    if comparator is None:
        charge(comparisons // ELEMENTS_PER_OP)
        present = [x for x in a if x is not None]
        kinds = {kind(x) for x in present}
        if len(kinds) > 1 or (kinds and kinds not in ({"number"}, {"string"})):
            type_error(
                "sort() without a comparator needs all numbers or all strings; "
                f"got {', '.join(sorted(kinds))} (pass a comparator (a, b) => ...)"
            )
        if kinds == {"string"}:  # each comparison reads the strings up to a difference
            charge_scan(sum(map(len, present)) * max(1, len(present).bit_length()))
        ordered = sorted(present)
        ordered.extend([None] * (len(a) - len(present)))
    else:
        fn = _callback("sort", comparator)
        charge(comparisons)  # one callback call per comparison
        ordered = sorted(a, key=functools.cmp_to_key(lambda x, y: _order(call(fn, [x, y]))))
    a[:] = ordered
    return a


def _order(result: FlowValue) -> int:
    t = type(result)
    if t is int or t is float:
        return -1 if result < 0 else 1 if result > 0 else 0
    if result is None:
        return 0
    type_error(f"sort comparator must return a number, got {describe(result)}")


def _each(a: list[FlowValue]) -> range:
    """The indices a callback method visits, paid for up front (one operation per call)."""
    charge(len(a))
    return range(len(a))


def a_map(a: list[FlowValue], fn: FlowValue) -> list[FlowValue]:
    fn = _callback("map", fn)
    return [fn(a[i], i, a) for i in _each(a) if i < len(a)]


def a_filter(a: list[FlowValue], fn: FlowValue) -> list[FlowValue]:
    fn = _callback("filter", fn)
    out = []
    for i in _each(a):
        if i < len(a):
            item = a[i]
            if truthy(fn(item, i, a)):
                out.append(item)
    return out


def _search(
    a: list[FlowValue], fn: FlowValue, wanted: bool, removed_as_null: bool
) -> tuple[int, FlowValue]:
    """Index and value of the first element whose callback result has truthiness
    ``wanted``, or (-1, null).

    Visits the indices present when the search started; an element removed meanwhile is
    passed as null (``find``, ``findIndex``) or skipped (``some``, ``every``). Charges one
    operation per callback call made, so a search that stops early costs little.
    """
    calls = 0
    for i in range(len(a)):
        if i < len(a):
            item = a[i]
        elif removed_as_null:
            item = None
        else:
            continue
        calls += 1
        if truthy(fn(item, i, a)) is wanted:
            charge(calls)
            return i, item
    charge(calls)
    return -1, None


def a_find(a: list[FlowValue], fn: FlowValue) -> FlowValue:
    return _search(a, _callback("find", fn), True, True)[1]


def a_find_index(a: list[FlowValue], fn: FlowValue) -> int:
    return _search(a, _callback("findIndex", fn), True, True)[0]


def a_some(a: list[FlowValue], fn: FlowValue) -> bool:
    return _search(a, _callback("some", fn), True, False)[0] != -1


def a_every(a: list[FlowValue], fn: FlowValue) -> bool:
    return _search(a, _callback("every", fn), False, False)[0] == -1


_NO_INITIAL: Any = object()


def a_reduce(a: list[FlowValue], fn: FlowValue, initial: FlowValue = _NO_INITIAL) -> FlowValue:
    fn = _callback("reduce", fn)
    indices = iter(_each(a))
    if initial is _NO_INITIAL:
        if not a:
            type_error("Reduce of empty array with no initial value")
        acc = a[next(indices)]
    else:
        acc = initial
    for i in indices:
        if i < len(a):
            acc = fn(acc, a[i], i, a)
    return acc


def a_for_each(a: list[FlowValue], fn: FlowValue) -> None:
    fn = _callback("forEach", fn)
    for i in _each(a):
        if i < len(a):
            fn(a[i], i, a)


def a_flat_map(a: list[FlowValue], fn: FlowValue) -> list[FlowValue]:
    fn = _callback("flatMap", fn)
    out: list[FlowValue] = []
    for i in _each(a):
        if i < len(a):
            result = fn(a[i], i, a)
            if type(result) is list:
                out.extend(result)
            else:
                out.append(result)
            check_array_length(len(out))
    return out


ARRAY: dict[str, Method] = {
    "includes": a_includes,
    "indexOf": a_index_of,
    "join": a_join,
    "slice": a_slice,
    "concat": a_concat,
    "push": a_push,
    "pop": a_pop,
    "shift": a_shift,
    "unshift": a_unshift,
    "reverse": a_reverse,
    "sort": a_sort,
    "map": a_map,
    "filter": a_filter,
    "find": a_find,
    "findIndex": a_find_index,
    "some": a_some,
    "every": a_every,
    "reduce": a_reduce,
    "forEach": a_for_each,
    "flatMap": a_flat_map,
}

assert set(STRING) == set(STRING_METHODS) and set(ARRAY) == set(ARRAY_METHODS)


# ---------------------------------------------------------------- dispatch


def check_arity(name: str, arity: Arity, given: int) -> None:
    """TypeError when ``given`` arguments do not fit ``arity`` (spec section 9)."""
    low, high = arity
    if given < low or (high is not None and given > high):
        if high is None:
            wanted = f"at least {low}"
        elif low == high:
            wanted = str(low)
        else:
            wanted = f"{low} to {high}"
        plural = "" if wanted == "1" else "s"
        type_error(f"{name} expects {wanted} argument{plural}, got {given}")


def call_method(
    obj: FlowValue, name: str, args: list[FlowValue], what: str | None = None
) -> FlowValue:
    """``obj.name(...args)``: a string or array method, or a function stored in an object.

    ``what`` is the receiver's source text when the compiler knows it (for messages).
    """
    t = type(obj)
    if t is list:
        method = ARRAY.get(name)
        if method is not None:
            check_arity(name, ARRAY_METHODS[name], len(args))
            return method(obj, *args)
    elif t is str:
        method = STRING.get(name)
        if method is not None:
            check_arity(name, STRING_METHODS[name], len(args))
            return method(obj, *args)
    elif t is dict:
        fn = obj.get(name)
        if is_function(fn):
            return fn(*args)
    elif obj is None:
        type_error(f"Cannot read property '{name}' of null")
    type_error(f"{what or kind(obj)}.{name} is not a function")


def bound_method(obj: FlowValue, name: str) -> BuiltinFunction | None:
    """``obj.name`` read without a call: a bound string/array method, or None."""
    t = type(obj)
    if t is list and name in ARRAY:
        qualified = "array." + name
    elif t is str and name in STRING:
        qualified = "string." + name
    else:
        return None
    return BuiltinFunction(qualified, lambda *args: call_method(obj, name, list(args)), obj)
