"""The global built-ins of spec section 7, named ``<namespace lowercased>_<member>``.

Global functions are ``fn_<Name>``; built-ins that need the world (randomness, the clock,
the log, effects) take the host as first argument. Effect built-ins validate their
arguments, then hand the host JSON copies (durations converted to milliseconds).
Math functions take numbers only (``TypeError`` otherwise), like the arithmetic operators.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rhythm.catalog import FUNCTIONS, NAMESPACES
from rhythm.flowrt import jsjson
from rhythm.flowrt.durations import duration_ms, instant_ms
from rhythm.flowrt.methods import check_arity
from rhythm.flowrt.numbers import (
    format_number,
    num,
    parse_float,
    parse_int,
    string_to_number,
    to_integer,
)
from rhythm.flowrt.protocol import CombinatorKind, FlowValue, Host, JsonValue, Promise
from rhythm.flowrt.values import (
    ELEMENTS_PER_OP,
    BuiltinFunction,
    Walk,
    charge,
    check_joined,
    check_string,
    describe,
    function_name,
    is_function,
    range_error,
    to_json_copy,
    to_str,
    truthy,
    type_error,
)

MATH_PI = math.pi

# ---------------------------------------------------------------- Math


def _number(fn: str, x: FlowValue) -> int | float:
    t = type(x)
    if t is int or t is float:
        return x
    type_error(f"Math.{fn} expects a number, got {describe(x)}")


def math_abs(x: FlowValue) -> int | float:
    return abs(_number("abs", x))


def math_floor(x: FlowValue) -> int | float:
    return num(math.floor(_number("floor", x)))


def math_ceil(x: FlowValue) -> int | float:
    return num(math.ceil(_number("ceil", x)))


def math_round(x: FlowValue) -> int | float:
    """Half-way cases round toward +infinity, as in JavaScript (-2.5 -> -2)."""
    value = _number("round", x)
    floor = math.floor(value)
    return num(floor + 1 if value - floor >= 0.5 else floor)


def math_trunc(x: FlowValue) -> int | float:
    return num(math.trunc(_number("trunc", x)))


def math_sign(x: FlowValue) -> int:
    value = _number("sign", x)
    return 1 if value > 0 else -1 if value < 0 else 0


def math_min(*xs: FlowValue) -> int | float:
    if not xs:
        range_error("Math.min() of nothing is Infinity")
    return min(_number("min", x) for x in xs)


def math_max(*xs: FlowValue) -> int | float:
    if not xs:
        range_error("Math.max() of nothing is -Infinity")
    return max(_number("max", x) for x in xs)


def math_pow(base: FlowValue, exponent: FlowValue) -> int | float:
    return power(_number("pow", base), _number("pow", exponent))


def power(base: int | float, exponent: int | float) -> int | float:
    """``base ** exponent`` on numbers: exact for small integers, RangeError when not finite."""
    small = type(base) is int and type(exponent) is int and exponent >= 0
    if small and (base in (0, 1, -1) or exponent * math.log2(abs(base)) < 63):
        return num(base**exponent)
    try:
        return num(math.pow(base, exponent))
    except OverflowError:
        range_error(f"{format_number(base)} ** {format_number(exponent)} is not a finite number")
    except ValueError:
        range_error(f"{format_number(base)} ** {format_number(exponent)} is not a number")


def math_sqrt(x: FlowValue) -> int | float:
    value = _number("sqrt", x)
    if value < 0:
        range_error(f"Math.sqrt({format_number(value)}) is not a number")
    return num(math.sqrt(value))


def math_random(host: Host) -> float:
    return host.random()


def date_now(host: Host) -> int:
    return int(host.now_ms())


# ---------------------------------------------------------------- JSON, Object, Array


def json_stringify(
    value: FlowValue, replacer: FlowValue = None, indent: FlowValue = None
) -> FlowValue:
    return jsjson.stringify(value, replacer, indent)


def json_parse(text: FlowValue) -> FlowValue:
    return jsjson.parse(text)


def _object_view(fn: str, x: FlowValue) -> list[tuple[str, FlowValue]]:
    """(key, value) pairs of what ``Object.<fn>`` sees: own keys of objects, arrays, strings."""
    t = type(x)
    if t is dict:
        charge(len(x) // ELEMENTS_PER_OP)
        return list(x.items())
    if t is list or t is str:
        charge(len(x) // ELEMENTS_PER_OP)
        return [(str(i), item) for i, item in enumerate(x)]
    if x is None:
        type_error(f"Object.{fn}: Cannot convert null to object")
    return []


def object_keys(x: FlowValue) -> list[str]:
    return [key for key, _ in _object_view("keys", x)]


def object_values(x: FlowValue) -> list[FlowValue]:
    return [value for _, value in _object_view("values", x)]


def object_entries(x: FlowValue) -> list[list[FlowValue]]:
    return [[key, value] for key, value in _object_view("entries", x)]


def array_isArray(x: FlowValue) -> bool:
    return type(x) is list


# ---------------------------------------------------------------- conversions


def fn_String(*args: FlowValue) -> str:
    return to_str(args[0]) if args else ""


def fn_Number(*args: FlowValue) -> int | float:
    """``Number(x)``; what JavaScript would make NaN throws RangeError."""
    if not args:
        return 0
    x = args[0]
    t = type(x)
    if t is int or t is float:
        return x
    if x is None:
        return 0
    if t is bool:
        return 1 if x else 0
    if t is str or t is list:  # arrays convert through their String() form, as in JavaScript
        return string_to_number(to_str(x))
    range_error(f"cannot convert {describe(x)} to a number")


def fn_Boolean(*args: FlowValue) -> bool:
    return truthy(args[0]) if args else False


def fn_parseInt(text: FlowValue, radix: FlowValue = None) -> int | float:
    t = type(radix)
    if t is int or t is float:
        base = to_integer(radix)
    elif radix is None:
        base = 0
    else:
        type_error(f"parseInt radix must be a number, got {describe(radix)}")
    return parse_int(to_str(text), base)


def fn_parseFloat(text: FlowValue) -> int | float:
    return parse_float(to_str(text))


# ---------------------------------------------------------------- console


MAX_LOG_LINE = 65_536  # characters of one console.log line that reach the host


def console_log(host: Host, *args: FlowValue) -> None:
    """``console.log``: strings bare, other values JSON-like, separated by spaces."""
    walk = Walk()
    line = " ".join(arg if type(arg) is str else _inspect(arg, set(), walk, 1) for arg in args)
    walk.done()
    check_string(line)
    if len(line) > MAX_LOG_LINE:  # hosts keep an activation's lines until it commits
        line = line[:MAX_LOG_LINE] + f"... ({len(line) - MAX_LOG_LINE} more characters)"
    host.log(line)


def inspect(v: FlowValue) -> str:
    """A readable one-line rendering of any value for the log."""
    walk = Walk()
    text = _inspect(v, set(), walk, 1)
    walk.done()
    return text


def _inspect(v: FlowValue, active: set[int], walk: Walk, depth: int) -> str:
    t = type(v)
    if t is str:
        quoted = jsjson.quote(v)
        walk.output(len(quoted))
        return quoted
    if t is list or t is dict:
        if id(v) in active:
            return "[Circular]"
        walk.enter(len(v), depth, "console.log")
        active.add(id(v))
        if t is list:
            parts = [_inspect(x, active, walk, depth + 1) for x in v]
        else:
            parts = [
                jsjson.quote(k) + ": " + _inspect(x, active, walk, depth + 1) for k, x in v.items()
            ]
        active.discard(id(v))
        check_joined(parts, ", ")  # a shared sub-value doubles the text at each level
        return ("[" if t is list else "{") + ", ".join(parts) + ("]" if t is list else "}")
    if t is Promise:
        return f"Promise#{v.id}"
    if is_function(v):
        return f"[Function {function_name(v) or 'anonymous'}]"
    return to_str(v)


# ---------------------------------------------------------------- effects

TASK_OPTIONS = frozenset({"queue", "timeout", "retries", "priority", "idempotencyKey"})
WORKFLOW_OPTIONS = frozenset({"id", "queue", "timeout"})


def _name(what: str, name: FlowValue) -> str:
    if type(name) is not str or not name:
        type_error(f"{what}: the name must be a non-empty string, got {describe(name)}")
    return name


def _inputs(what: str, inputs: FlowValue) -> dict[str, JsonValue]:
    if inputs is None:
        return {}
    if type(inputs) is not dict:
        type_error(f"{what}: inputs must be an object, got {describe(inputs)}")
    copy: dict[str, JsonValue] = to_json_copy(inputs, f"{what} inputs")
    return copy


def _options(what: str, options: FlowValue, allowed: frozenset[str]) -> dict[str, JsonValue]:
    """Validated options with null values dropped and ``timeout`` in milliseconds."""
    if options is None:
        return {}
    if type(options) is not dict:
        type_error(f"{what}: options must be an object, got {describe(options)}")
    out: dict[str, JsonValue] = {}
    for key, value in options.items():
        if key not in allowed:
            type_error(f"{what}: unknown option '{key}' (allowed: {', '.join(sorted(allowed))})")
        if value is not None:
            out[key] = _option_value(what, key, value)
    return out


def _option_value(what: str, key: str, value: FlowValue) -> JsonValue:
    t = type(value)
    if key == "timeout":
        return duration_ms(value, f"{what} option 'timeout'")
    if key in ("queue", "idempotencyKey", "id"):
        if t is not str:
            type_error(f"{what}: option '{key}' must be a string, got {describe(value)}")
        return value
    if key == "retries" and not (t is int and value >= 0):
        type_error(f"{what}: option 'retries' must be an integer >= 0, got {describe(value)}")
    if key == "priority" and t is not int:
        type_error(f"{what}: option 'priority' must be an integer, got {describe(value)}")
    return value


def task_run(
    host: Host, name: FlowValue, inputs: FlowValue = None, options: FlowValue = None
) -> Promise:
    return host.start_task(
        _name("Task.run", name),
        _inputs("Task.run", inputs),
        _options("Task.run", options, TASK_OPTIONS),
    )


fn_task = task_run


def workflow_run(
    host: Host, name: FlowValue, inputs: FlowValue = None, options: FlowValue = None
) -> Promise:
    return host.start_child(
        _name("Workflow.run", name),
        _inputs("Workflow.run", inputs),
        _options("Workflow.run", options, WORKFLOW_OPTIONS),
    )


def timer_delay(host: Host, duration: FlowValue) -> Promise:
    return host.start_timer(host.now_ms() + duration_ms(duration, "Timer.delay duration"))


def fn_sleep(host: Host, seconds: FlowValue) -> Promise:
    return host.start_timer(host.now_ms() + duration_ms(seconds, "sleep duration"))


def timer_until(host: Host, iso: FlowValue) -> Promise:
    return host.start_timer(instant_ms(iso))


def signal_next(host: Host, name: FlowValue, options: FlowValue = None) -> Promise:
    checked = _options("Signal.next", options, frozenset({"timeout"}))
    return host.wait_signal(_name("Signal.next", name), checked.get("timeout"))


signal_when = signal_next


def _combine(host: Host, kind: CombinatorKind, x: FlowValue) -> Promise:
    if type(x) is list:
        return host.combine(kind, list(x), None)
    if type(x) is dict:
        return host.combine(kind, list(x.values()), list(x))
    type_error(f"Promise.{kind} expects an array or an object, got {describe(x)}")


def promise_all(host: Host, x: FlowValue) -> Promise:
    return _combine(host, "all", x)


def promise_allSettled(host: Host, x: FlowValue) -> Promise:
    return _combine(host, "allSettled", x)


def promise_race(host: Host, x: FlowValue) -> Promise:
    return _combine(host, "race", x)


def promise_any(host: Host, x: FlowValue) -> Promise:
    return _combine(host, "any", x)


# ---------------------------------------------------------------- functions as values

_PURE: dict[str, Callable[..., FlowValue]] = {
    "Math.abs": math_abs,
    "Math.floor": math_floor,
    "Math.ceil": math_ceil,
    "Math.round": math_round,
    "Math.trunc": math_trunc,
    "Math.sign": math_sign,
    "Math.min": math_min,
    "Math.max": math_max,
    "Math.pow": math_pow,
    "Math.sqrt": math_sqrt,
    "JSON.stringify": json_stringify,
    "JSON.parse": json_parse,
    "Object.keys": object_keys,
    "Object.values": object_values,
    "Object.entries": object_entries,
    "Array.isArray": array_isArray,
    "String": fn_String,
    "Number": fn_Number,
    "Boolean": fn_Boolean,
    "parseInt": fn_parseInt,
    "parseFloat": fn_parseFloat,
}

_HOSTED: dict[str, Callable[..., FlowValue]] = {
    "Math.random": math_random,
    "Date.now": date_now,
    "console.log": console_log,
    "Task.run": task_run,
    "Workflow.run": workflow_run,
    "Timer.delay": timer_delay,
    "Timer.until": timer_until,
    "Signal.next": signal_next,
    "Signal.when": signal_when,
    "Promise.all": promise_all,
    "Promise.allSettled": promise_allSettled,
    "Promise.race": promise_race,
    "Promise.any": promise_any,
    "task": fn_task,
    "sleep": fn_sleep,
}


def _arity(qualified: str) -> tuple[int, int | None]:
    namespace, _, member = qualified.partition(".")
    return NAMESPACES[namespace][member] if member else FUNCTIONS[namespace]


def builtin_function(qualified: str, host: Host | None = None) -> BuiltinFunction:
    """A built-in as a value (``Math.max``, ``parseInt``, ``Task.run``) for ``typeof``,
    storing or calling later; argument counts are checked at each call.

    Host-using built-ins need ``host``; KeyError for a name that is not a built-in.
    """
    arity = _arity(qualified)
    pure = _PURE.get(qualified)
    if pure is not None:
        target: Callable[..., FlowValue] = pure
    elif host is None:
        raise ValueError(f"built-in {qualified} needs a host")
    else:
        hosted = _HOSTED[qualified]

        def target(*args: Any) -> FlowValue:
            return hosted(host, *args)

    def checked(*args: FlowValue) -> FlowValue:
        check_arity(qualified, arity, len(args))
        return target(*args)

    return BuiltinFunction(qualified, checked)
