"""Operators and conversions against the spec (sections 3 and 5) and JavaScript's outputs."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rhythm.flowrt import ops
from rhythm.flowrt.protocol import Promise

from .helpers import error_name, thrown

MAX = ops.builtin_function("Math.max")


def same(a: Any, b: Any) -> bool:
    """Equal and of the same Python type (2 is not 2.0)."""
    return type(a) is type(b) and a == b


ARITHMETIC = [
    (ops.add, 2, 3, 5),
    (ops.add, 0.1, 0.2, 0.30000000000000004),
    (ops.add, 0.5, 0.5, 1),
    (ops.add, 2**53, 2, 9007199254740994.0),
    (ops.sub, 3, 5, -2),
    (ops.sub, 0.3, 0.1, 0.19999999999999998),
    (ops.mul, 1.5, 2, 3),
    (ops.mul, 2**52, 4, 18014398509481984.0),
    (ops.div, 7, 2, 3.5),
    (ops.div, 8, 2, 4),
    (ops.div, 1, 3, 0.3333333333333333),
    (ops.div, -9, 3, -3),
    (ops.div, 0, 5, 0),
    (ops.mod, 7, 3, 1),
    (ops.mod, -7, 3, -1),
    (ops.mod, 7, -3, 1),
    (ops.mod, -4, 2, 0),
    (ops.mod, 5.5, 2, 1.5),
    (ops.mod, -5.5, 2, -1.5),
    (ops.mod, 10, 2.5, 0),
    (ops.pow, 2, 10, 1024),
    (ops.pow, 2, -1, 0.5),
    (ops.pow, 2, 0.5, 1.4142135623730951),
    (ops.pow, 2, 53, 9007199254740992),
    (ops.pow, 2, 54, 18014398509481984.0),
    (ops.pow, -2, 3, -8),
    (ops.pow, 0, 0, 1),
    (ops.pow, 4, 0.5, 2),
]


@pytest.mark.parametrize(("op", "a", "b", "expected"), ARITHMETIC)
def test_arithmetic(op: Any, a: Any, b: Any, expected: Any) -> None:
    assert same(op(a, b), expected)


ARITHMETIC_ERRORS = [
    (ops.div, 1, 0, "RangeError"),
    (ops.div, 0, 0, "RangeError"),
    (ops.div, 1e308, 1e-308, "RangeError"),
    (ops.mod, 5, 0, "RangeError"),
    (ops.mod, 5.5, 0, "RangeError"),
    (ops.pow, 10, 400, "RangeError"),
    (ops.pow, 0, -1, "RangeError"),
    (ops.pow, -8, 1 / 3, "RangeError"),
    (ops.mul, 1e308, 10, "RangeError"),
    (ops.add, 1e308, 1e308, "RangeError"),
    (ops.add, None, 1, "TypeError"),
    (ops.add, True, 1, "TypeError"),
    (ops.add, [1], [2], "TypeError"),
    (ops.add, {}, 1, "TypeError"),
    (ops.add, Promise(1), 1, "TypeError"),
    (ops.sub, "a", 1, "TypeError"),
    (ops.sub, 1, None, "TypeError"),
    (ops.mul, "2", 3, "TypeError"),
    (ops.div, [], 1, "TypeError"),
    (ops.mod, 1, "1", "TypeError"),
    (ops.pow, True, 2, "TypeError"),
]


@pytest.mark.parametrize(("op", "a", "b", "name"), ARITHMETIC_ERRORS)
def test_arithmetic_errors(op: Any, a: Any, b: Any, name: str) -> None:
    assert error_name(op, a, b) == name


def test_error_messages_name_the_operator_and_kinds() -> None:
    assert thrown(ops.sub, "a", 1)["message"] == "Cannot use '-' with string and number"
    assert thrown(ops.add, None, 1)["message"] == "Cannot use '+' with null and number"
    assert "<" in thrown(ops.lt, 1, "2")["message"]


CONCAT = [
    ("n=", 7, "n=7"),
    (3, "x", "3x"),
    ("v:", None, "v:null"),
    ("v:", True, "v:true"),
    ([1, 2], "!", "1,2!"),
    ("", {}, "[object Object]"),
    ("a", 1e21, "a1e+21"),
    ("a", 0.1, "a0.1"),
    ("", [None, 1, [2, [3]]], ",1,2,3"),
    ("p", Promise(4), "p[object Promise]"),
    ("é", "😀", "é😀"),
]


@pytest.mark.parametrize(("a", "b", "expected"), CONCAT)
def test_plus_with_a_string_concatenates(a: Any, b: Any, expected: str) -> None:
    assert ops.add(a, b) == expected


def test_unary_operators() -> None:
    assert same(ops.neg(3), -3)
    assert same(ops.neg(-0.5), 0.5)
    assert error_name(ops.neg, "3") == "TypeError"
    assert error_name(ops.neg, None) == "TypeError"
    assert same(ops.pos(4), 4)
    assert same(ops.pos("3.5"), 3.5)
    assert same(ops.pos(None), 0)
    assert error_name(ops.pos, "x") == "RangeError"
    assert ops.not_(0) is True and ops.not_("0") is False
    assert same(ops.inc(1), 2) and same(ops.dec(0.5), -0.5)
    assert error_name(ops.inc, "1") == "TypeError"


COMPARISONS = [
    (ops.lt, "a", "b", True),
    (ops.le, 2, 2, True),
    (ops.gt, 3, 5, False),
    (ops.lt, "10", "9", True),
    (ops.lt, 1, 1.5, True),
    (ops.ge, 2.0, 2, True),
    (ops.gt, "é", "z", True),
    (ops.gt, "😀", "\uffff", True),  # code points, not UTF-16 units
    (ops.lt, "", "a", True),
    (ops.le, "ab", "a", False),
]


@pytest.mark.parametrize(("op", "a", "b", "expected"), COMPARISONS)
def test_comparisons(op: Any, a: Any, b: Any, expected: bool) -> None:
    assert op(a, b) is expected


@pytest.mark.parametrize("op", [ops.lt, ops.le, ops.gt, ops.ge])
@pytest.mark.parametrize(
    ("a", "b"), [(1, "2"), (None, 1), ([1], [2]), (True, False), ({}, {}), ("a", None)]
)
def test_mixed_comparisons_throw(op: Any, a: Any, b: Any) -> None:
    assert error_name(op, a, b) == "TypeError"


def cyclic() -> list[Any]:
    a: list[Any] = [1]
    a.append(a)
    return a


EQUALITY = [
    (1, 1.0, True),
    (1, "1", False),
    (None, 0, False),
    (None, None, True),
    (0, False, False),
    (1, True, False),
    ("", False, False),
    ([1, {"a": 2}], [1, {"a": 2}], True),
    ({"a": 1}, {"a": 2}, False),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),
    ({"a": 1}, {"a": 1, "b": None}, False),
    ([1, 2], [2, 1], False),
    ([], {}, False),
    ([[]], [[]], True),
    ("a", "a", True),
    (Promise(1), Promise(1), True),
    (Promise(1), Promise(2), False),
    (cyclic(), cyclic(), True),
    (MAX, ops.builtin_function("Math.max"), True),
    (MAX, ops.builtin_function("Math.min"), False),
]


@pytest.mark.parametrize(("a", "b", "expected"), EQUALITY)
def test_equality_is_strict_and_deep(a: Any, b: Any, expected: bool) -> None:
    assert ops.eq(a, b) is expected
    assert ops.ne(a, b) is (not expected)


TRUTHINESS = [
    (False, False),
    (None, False),
    (0, False),
    (0.0, False),
    ("", False),
    ("0", True),
    ([], True),
    ({}, True),
    (5, True),
    (-0.5, True),
    (True, True),
    (Promise(1), True),
    (MAX, True),
]


@pytest.mark.parametrize(("value", "expected"), TRUTHINESS)
def test_truthiness(value: Any, expected: bool) -> None:
    assert ops.truthy(value) is expected


TYPEOF = [
    (1, "number"),
    (1.5, "number"),
    ("s", "string"),
    (True, "boolean"),
    (None, "object"),
    ([], "object"),
    ({}, "object"),
    (Promise(1), "object"),
    (MAX, "function"),
    (lambda *args: None, "function"),
    (ops.get("abc", "slice"), "function"),
]


@pytest.mark.parametrize(("value", "expected"), TYPEOF)
def test_typeof(value: Any, expected: str) -> None:
    assert ops.type_of(value) == expected


NUMBER_STRINGS = [
    (0, "0"),
    (-0.0, "0"),
    (7, "7"),
    (2.0, "2"),
    (-1.5, "-1.5"),
    (0.1, "0.1"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1 / 3, "0.3333333333333333"),
    (123.456, "123.456"),
    (12345678.9, "12345678.9"),
    (1e20, "100000000000000000000"),
    (1e21, "1e+21"),
    (1.2345678901234568e20, "123456789012345680000"),
    (2**53, "9007199254740992"),
    (2.0**60, "1152921504606847000"),
    (2**60, "1152921504606847000"),
    (1e-6, "0.000001"),
    (1.234e-6, "0.000001234"),
    (1e-7, "1e-7"),
    (1.5e-7, "1.5e-7"),
    (1.5e300, "1.5e+300"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (5e-324, "5e-324"),
    (-2.5e-10, "-2.5e-10"),
    (100.5, "100.5"),
]


@pytest.mark.parametrize(("value", "expected"), NUMBER_STRINGS)
def test_number_formatting_matches_javascript(value: Any, expected: str) -> None:
    assert ops.to_str(value) == expected
    assert ops.format_number(value) == expected


STRINGS = [
    (None, "null"),
    (True, "true"),
    (False, "false"),
    ("x", "x"),
    ([1, [2, 3]], "1,2,3"),
    ([None, 1], ",1"),
    ([], ""),
    ([{}], "[object Object]"),
    ({}, "[object Object]"),
    (Promise(3), "[object Promise]"),
    (MAX, "function max() { [native code] }"),
    (cyclic(), "1,"),
]


@pytest.mark.parametrize(("value", "expected"), STRINGS)
def test_string_conversion(value: Any, expected: str) -> None:
    assert ops.to_str(value) == expected


NORMALISED = [
    (4.0, 4),
    (-3.0, -3),
    (2.5, 2.5),
    (2.0**53, 2**53),
    (2**53 + 2, 9007199254740994.0),
    (1e300, 1e300),
    (-(2**53), -(2**53)),
]


@pytest.mark.parametrize(("value", "expected"), NORMALISED)
def test_num_normalises(value: Any, expected: Any) -> None:
    assert same(ops.num(value), expected)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_num_rejects_non_finite(value: float) -> None:
    assert error_name(ops.num, value) == "RangeError"


def test_num_rejects_non_numbers() -> None:
    assert error_name(ops.num, "1") == "TypeError"


def test_template_converts_with_string() -> None:
    assert ops.template("Hi ", "Ada", ", ", 2, "!") == "Hi Ada, 2!"
    assert ops.template("", None, " ", [1, 2], " ", 0.5, " ", {}) == "null 1,2 0.5 [object Object]"
    assert ops.template() == ""


def test_errors_are_plain_objects() -> None:
    assert ops.make_error("TaskError", "bad", task="t", attempts=2) == {
        "name": "TaskError",
        "message": "bad",
        "task": "t",
        "attempts": 2,
    }
    assert thrown(ops.throw, "RangeError", "r") == {"name": "RangeError", "message": "r"}
