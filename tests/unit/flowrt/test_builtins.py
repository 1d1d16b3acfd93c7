"""Global built-ins: Math, JSON, Object, Array, conversions, console and effects."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rhythm.flowrt import ops
from rhythm.flowrt.durations import duration_ms, instant_ms
from rhythm.flowrt.protocol import Promise

from .helpers import RecordingHost, error_name, thrown

MATH = [
    (ops.math_floor, (-3.2,), -4),
    (ops.math_ceil, (3.2,), 4),
    (ops.math_round, (2.5,), 3),
    (ops.math_round, (-2.5,), -2),
    (ops.math_round, (0.49999999999999994,), 0),
    (ops.math_round, (-0.4,), 0),
    (ops.math_abs, (-4,), 4),
    (ops.math_abs, (-4.5,), 4.5),
    (ops.math_max, (1, 9, 3), 9),
    (ops.math_min, (1, -9.5, 3), -9.5),
    (ops.math_trunc, (-4.7,), -4),
    (ops.math_sign, (-3,), -1),
    (ops.math_sign, (0,), 0),
    (ops.math_sign, (0.1,), 1),
    (ops.math_pow, (2, 8), 256),
    (ops.math_sqrt, (16,), 4),
    (ops.math_sqrt, (2,), 1.4142135623730951),
    (ops.math_floor, (1e300,), 1e300),
]


@pytest.mark.parametrize(("fn", "args", "expected"), MATH)
def test_math(fn: Any, args: tuple[Any, ...], expected: Any) -> None:
    result = fn(*args)
    assert result == expected and type(result) is type(expected)


def test_math_errors() -> None:
    assert error_name(ops.math_max) == "RangeError"
    assert error_name(ops.math_min) == "RangeError"
    assert error_name(ops.math_sqrt, -1) == "RangeError"
    assert error_name(ops.math_abs, "3") == "TypeError"
    assert error_name(ops.math_max, 1, None) == "TypeError"
    assert ops.MATH_PI == 3.141592653589793


def test_host_values() -> None:
    host = RecordingHost(now_ms=123, random=0.5)
    assert ops.math_random(host) == 0.5 and ops.date_now(host) == 123


STRINGIFY = [
    (({"b": 1, "a": [True, None]},), '{"b":1,"a":[true,null]}'),
    ((None,), "null"),
    (("é\n\"\\\x01\u2028",), '"é\\n\\"\\\\\\u0001\u2028"'),
    (("\ud800",), '"\\ud800"'),
    ((0.1 + 0.2,), "0.30000000000000004"),
    ((1e21,), "1e+21"),
    ((2**60,), "1152921504606847000"),
    (([],), "[]"),
    (({},), "{}"),
    (({"2": 1, "1": 2},), '{"2":1,"1":2}'),  # insertion order (spec section 3)
    (
        ({"a": [1, {"b": 2}], "c": {}}, None, 2),
        '{\n  "a": [\n    1,\n    {\n      "b": 2\n    }\n  ],\n  "c": {}\n}',
    ),
    (([1, 2], None, "--"), "[\n--1,\n--2\n]"),
    (([1], None, 20), "[\n          1\n]"),
    (([1], None, 0), "[1]"),
    (({"a": 1, "b": 2, "c": 3}, ["c", "a"]), '{"c":3,"a":1}'),
    (({"a": 1}, None, " "), '{\n "a": 1\n}'),
    (([Promise(1)],), "[{}]"),
    (({"f": ops.builtin_function("Math.max"), "x": 1},), '{"x":1}'),
    (([ops.builtin_function("Math.max")],), "[null]"),
]


@pytest.mark.parametrize(("args", "expected"), STRINGIFY)
def test_json_stringify(args: tuple[Any, ...], expected: str) -> None:
    assert ops.json_stringify(*args) == expected


def test_json_stringify_undefined_and_errors() -> None:
    assert ops.json_stringify(ops.builtin_function("Math.max")) is None
    a: list[Any] = []
    a.append(a)
    assert thrown(ops.json_stringify, a)["message"] == "Converting circular structure to JSON"
    shared = [1]
    assert ops.json_stringify([shared, shared]) == "[[1],[1]]"
    assert error_name(ops.json_stringify, 1, 5) == "TypeError"


def test_json_stringify_replacer_function() -> None:
    replacer = ops.BuiltinFunction("r", lambda k, v: ops.mul(v, 10) if type(v) is int else v)
    assert ops.json_stringify({"a": 1, "b": [2]}, replacer) == '{"a":10,"b":[20]}'


PARSE = [
    ('{"b":1,"a":[true,null]}', {"b": 1, "a": [True, None]}),
    ("1.0", 1),
    ("1e2", 100),
    ("2.5", 2.5),
    ('"\\u00e9"', "é"),
    (" [1] ", [1]),
    ('{"a":1,"a":2}', {"a": 2}),
    ("12345678901234567890", 12345678901234567000.0),
    (5, 5),
    (None, None),
]


@pytest.mark.parametrize(("text", "expected"), PARSE)
def test_json_parse(text: Any, expected: Any) -> None:
    result = ops.json_parse(text)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("text", ["", "{", "NaN", "Infinity", "[-Infinity]", "{'a':1}", "[1,]",
                                  "01", "1 2", '"\x01"', "undefined", "\ufeff1"])
def test_json_parse_rejects_non_json(text: str) -> None:
    error = thrown(ops.json_parse, text)
    assert error["name"] == "SyntaxError" and error["message"].startswith("JSON.parse")


def test_json_parse_overflow_is_range_error() -> None:
    assert error_name(ops.json_parse, "1e400") == "RangeError"


def test_object_functions() -> None:
    o = {"b": 1, "a": 2}
    assert ops.object_keys(o) == ["b", "a"]
    assert ops.object_values(o) == [1, 2]
    assert ops.object_entries({"k": "v"}) == [["k", "v"]]
    assert ops.object_keys(["x", "y"]) == ["0", "1"]
    assert ops.object_values("ab") == ["a", "b"]
    assert ops.object_keys(5) == []
    assert error_name(ops.object_keys, None) == "TypeError"
    assert ops.array_isArray([]) is True and ops.array_isArray({}) is False


CONVERSIONS = [
    (ops.fn_String, (12,), "12"),
    (ops.fn_String, (None,), "null"),
    (ops.fn_String, (), ""),
    (ops.fn_String, ([1, [2]],), "1,2"),
    (ops.fn_Number, ("3.5",), 3.5),
    (ops.fn_Number, (" 42 ",), 42),
    (ops.fn_Number, ("",), 0),
    (ops.fn_Number, ("0x1F",), 31),
    (ops.fn_Number, ("0b101",), 5),
    (ops.fn_Number, ("1e3",), 1000),
    (ops.fn_Number, (".5",), 0.5),
    (ops.fn_Number, ("5.",), 5),
    (ops.fn_Number, ("-0",), 0),
    (ops.fn_Number, (None,), 0),
    (ops.fn_Number, (True,), 1),
    (ops.fn_Number, ([],), 0),
    (ops.fn_Number, (["7"],), 7),
    (ops.fn_Number, (),  0),
    (ops.fn_Boolean, ("",), False),
    (ops.fn_Boolean, ("0",), True),
    (ops.fn_Boolean, (),  False),
    (ops.fn_Boolean, ([],), True),
    (ops.fn_parseInt, ("42px",), 42),
    (ops.fn_parseInt, ("  -17.9",), -17),
    (ops.fn_parseInt, ("0x1F",), 31),
    (ops.fn_parseInt, ("ff", 16), 255),
    (ops.fn_parseInt, ("0xff", 16), 255),
    (ops.fn_parseInt, ("101", 2), 5),
    (ops.fn_parseInt, ("z", 36), 35),
    (ops.fn_parseInt, ("08",), 8),
    (ops.fn_parseInt, ("12", None), 12),
    (ops.fn_parseInt, (0.0000005,), 5),
    (ops.fn_parseInt, ("123456789012345678901",), 123456789012345680000.0),
    (ops.fn_parseFloat, ("2.5kg",), 2.5),
    (ops.fn_parseFloat, ("  .5",), 0.5),
    (ops.fn_parseFloat, ("1e3x",), 1000),
    (ops.fn_parseFloat, ("1e",), 1),
    (ops.fn_parseFloat, ("-0.25",), -0.25),
]


@pytest.mark.parametrize(("fn", "args", "expected"), CONVERSIONS)
def test_conversions(fn: Any, args: tuple[Any, ...], expected: Any) -> None:
    result = fn(*args)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("fn", "args"),
    [(ops.fn_Number, ("x",)), (ops.fn_Number, ("1_000",)), (ops.fn_Number, ("Infinity",)),
     (ops.fn_Number, ("1e400",)), (ops.fn_Number, ({},)), (ops.fn_Number, ([1, 2],)),
     (ops.fn_Number, ("0x",)), (ops.fn_Number, ("١٢",)), (ops.fn_parseInt, ("x",)),
     (ops.fn_parseInt, ("",)), (ops.fn_parseInt, ("1", 1)), (ops.fn_parseInt, ("1", 37)),
     (ops.fn_parseInt, ("9", 8)), (ops.fn_parseFloat, ("x",)), (ops.fn_parseFloat, ("Infinity",))],
)
def test_conversions_that_would_be_nan_throw_range_error(fn: Any, args: tuple[Any, ...]) -> None:
    assert error_name(fn, *args) == "RangeError"


def test_console_log_formats_like_javascript() -> None:
    host = RecordingHost()
    cyc: list[Any] = [1]
    cyc.append(cyc)
    ops.console_log(host, "hello", 1, None, [1, "a"], {"k": True}, 0.5, Promise(2), cyc)
    ops.console_log(host)
    assert host.logs == ['hello 1 null [1, "a"] {"k": true} 0.5 Promise#2 [1, [Circular]]', ""]


# ---------------------------------------------------------------- effects


def test_task_run_validates_and_copies() -> None:
    host = RecordingHost()
    inputs = {"items": [1, 2]}
    options = {"retries": 2, "timeout": "30s", "queue": "q", "priority": 1, "idempotencyKey": "k"}
    p = ops.task_run(host, "charge", inputs, options)
    assert p == Promise(1)
    kind, name, sent, sent_options = host.calls[0]
    assert (kind, name, sent) == ("task", "charge", inputs) and sent["items"] is not inputs["items"]
    assert sent_options == {"retries": 2, "timeout": 30_000, "queue": "q", "priority": 1,
                       "idempotencyKey": "k"}
    ops.fn_task(host, "t")
    ops.task_run(host, "t", None, {"timeout": None})
    assert host.calls[1] == ("task", "t", {}, {}) and host.calls[2] == ("task", "t", {}, {})


@pytest.mark.parametrize(
    "args",
    [(5,), ("",), ("t", [1]), ("t", "x"), ("t", {}, []), ("t", {}, {"retry": 1}),
     ("t", {}, {"retries": -1}), ("t", {}, {"retries": 1.5}), ("t", {}, {"queue": 1}),
     ("t", {}, {"timeout": "soon"}), ("t", {"p": Promise(1)}), ("t", {"f": ops.get("", "trim")})],
)
def test_task_run_rejects_bad_arguments(args: tuple[Any, ...]) -> None:
    host = RecordingHost()
    assert error_name(ops.task_run, host, *args) == "TypeError"
    assert host.calls == []


def test_workflow_run() -> None:
    host = RecordingHost()
    ops.workflow_run(host, "child", {"x": 1}, {"id": "c-1", "timeout": 2})
    assert host.calls == [("child", "child", {"x": 1}, {"id": "c-1", "timeout": 2000})]
    assert error_name(ops.workflow_run, host, "child", {}, {"retries": 1}) == "TypeError"


def test_timers_and_signals() -> None:
    host = RecordingHost(now_ms=1_000)
    ops.timer_delay(host, "1h30m")
    ops.timer_delay(host, 0.5)
    ops.fn_sleep(host, 2)
    ops.timer_until(host, "2030-01-01T00:00:00Z")
    ops.signal_next(host, "approval")
    ops.signal_when(host, "approval", {"timeout": "48h"})
    assert host.calls == [
        ("timer", 1_000 + 5_400_000),
        ("timer", 1_500),
        ("timer", 3_000),
        ("timer", 1_893_456_000_000),
        ("signal", "approval", None),
        ("signal", "approval", 172_800_000),
    ]
    assert error_name(ops.signal_next, host, 3) == "TypeError"
    assert error_name(ops.signal_next, host, "s", {"queue": "x"}) == "TypeError"
    assert error_name(ops.timer_until, host, "tomorrow") == "TypeError"
    assert error_name(ops.timer_until, host, 5) == "TypeError"


def test_combinators_pass_members_and_keys() -> None:
    host = RecordingHost()
    ops.promise_all(host, [Promise(7), 3])
    ops.promise_allSettled(host, {"a": Promise(7), "b": None})
    ops.promise_race(host, [])
    ops.promise_any(host, [Promise(8)])
    assert host.calls == [
        ("combine", "all", [Promise(7), 3], None),
        ("combine", "allSettled", [Promise(7), None], ["a", "b"]),
        ("combine", "race", [], None),
        ("combine", "any", [Promise(8)], None),
    ]
    assert error_name(ops.promise_all, host, Promise(1)) == "TypeError"


DURATIONS = [
    (0, 0), (1, 1000), (0.5, 500), (0.0004, 0), ("250ms", 250), ("30s", 30_000), ("5m", 300_000),
    ("48h", 172_800_000), ("7d", 604_800_000), ("1h30m", 5_400_000), ("1.5s", 1500),
    ("1d2h3m4s5ms", 93_784_005),
]


@pytest.mark.parametrize(("value", "expected"), DURATIONS)
def test_durations(value: Any, expected: int) -> None:
    assert duration_ms(value) == expected


@pytest.mark.parametrize("value", [-1, -0.5, "soon", "", "5", "5 m", "-5m", "5M", "1h-30m",
                                   None, True, [5], {}, "1.s"])
def test_bad_durations_throw_type_error(value: Any) -> None:
    assert error_name(duration_ms, value) == "TypeError"


def test_instants() -> None:
    assert instant_ms("1970-01-01T00:00:01Z") == 1000
    assert instant_ms("1970-01-01T01:00:00+01:00") == 0
    assert instant_ms("1970-01-01T00:00:00.250") == 250
    assert instant_ms("1970-01-02") == 86_400_000


def test_builtin_function_values() -> None:
    host = RecordingHost()
    task = ops.builtin_function("Task.run", host)
    assert task("t", {"a": 1}) == Promise(1)
    assert error_name(task) == "TypeError"  # arity checked at the call
    assert ops.builtin_function("parseInt")("12") == 12
    assert error_name(ops.builtin_function("Math.pow"), 1) == "TypeError"
    with pytest.raises(ValueError):
        ops.builtin_function("Task.run")
    with pytest.raises(KeyError):
        ops.builtin_function("Math.nope")


def test_values_handed_to_the_host_are_json() -> None:
    host = RecordingHost()
    ops.task_run(host, "t", {"a": [1, 2.5, "x", None, {"b": True}]})
    assert json.loads(json.dumps(host.calls[0][2])) == host.calls[0][2]
