"""Every string and array method of the catalogue, with JavaScript's edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from rhythm.catalog import ARRAY_METHODS, STRING_METHODS
from rhythm.flowrt import ops

from .helpers import error_name, thrown


def m(obj: Any, name: str, *args: Any) -> Any:
    return ops.call_method(obj, name, list(args))


STRING_CASES = [
    ("Order-42", "includes", ("42",), True),
    ("Order-42", "includes", ("O", 1), False),
    ("null", "includes", (None,), True),
    ("a1", "includes", (1,), True),
    ("abc", "startsWith", ("ab",), True),
    ("abc", "startsWith", ("bc", 1), True),
    ("abc", "endsWith", ("c",), True),
    ("abc", "endsWith", ("b", 2), True),
    ("abc", "endsWith", ("a", -5), False),
    ("abcb", "indexOf", ("b",), 1),
    ("abcb", "indexOf", ("b", 2), 3),
    ("abc", "indexOf", ("",), 0),
    ("abc", "indexOf", ("", 9), 3),
    ("abc", "indexOf", ("z",), -1),
    ("😀ab", "indexOf", ("a",), 1),
    ("Order", "slice", (0, 3), "Ord"),
    ("Order", "slice", (-2,), "er"),
    ("Order", "slice", (), "Order"),
    ("Order", "slice", (2, -1), "de"),
    ("Order", "slice", (4, 1), ""),
    ("Order", "slice", (1.7,), "rder"),
    ("Order", "slice", (None, 2), "Or"),
    ("Order", "substring", (3, 1), "rd"),
    ("Order", "substring", (-3,), "Order"),
    ("Order", "substring", (2, 99), "der"),
    ("héllo", "toUpperCase", (), "HÉLLO"),
    ("straße", "toUpperCase", (), "STRASSE"),
    ("ÀB", "toLowerCase", (), "àb"),
    ("\u00a0\t x \n\ufeff", "trim", (), "x"),
    ("\x1cx", "trim", (), "\x1cx"),  # not white space in JavaScript
    ("a-b-c", "split", ("-",), ["a", "b", "c"]),
    ("a-b-c", "split", ("-", 2), ["a", "b"]),
    ("a-b-c", "split", ("-", 0), []),
    ("abc", "split", (), ["abc"]),
    ("abc", "split", ("",), ["a", "b", "c"]),
    ("😀x", "split", ("",), ["😀", "x"]),
    ("", "split", (",",), [""]),
    ("", "split", ("",), []),
    ("a,b", "split", (",", -1), ["a", "b"]),
    ("a-b-c", "replace", ("-", "#"), "a#b-c"),
    ("abc", "replace", ("z", "#"), "abc"),
    ("abc", "replace", ("b", "[$&$$]"), "a[b$]c"),
    ("abc", "replace", ("b", "$`|$'"), "aa|cc"),
    ("abc", "replace", ("b", "$1"), "a$1c"),
    ("abc", "replace", ("", "-"), "-abc"),
    ("a-b-c", "replaceAll", ("-", "+"), "a+b+c"),
    ("aaa", "replaceAll", ("aa", "b"), "ba"),
    ("abc", "replaceAll", ("", "-"), "-a-b-c-"),
    ("a.b", "replaceAll", (".", "$&$&"), "a..b"),
    ("5", "padStart", (3, "0"), "005"),
    ("5", "padStart", (3,), "  5"),
    ("abc", "padStart", (6, "12"), "121abc"),
    ("abc", "padStart", (2, "x"), "abc"),
    ("abc", "padStart", (6, ""), "abc"),
    ("abc", "padEnd", (6, "12"), "abc121"),
    ("ab", "repeat", (3,), "ababab"),
    ("ab", "repeat", (0,), ""),
    ("ab", "repeat", (2.9,), "abab"),
]


@pytest.mark.parametrize(("s", "name", "args", "expected"), STRING_CASES)
def test_string_methods(s: str, name: str, args: tuple[Any, ...], expected: Any) -> None:
    assert m(s, name, *args) == expected


def test_every_catalogue_method_is_covered() -> None:
    assert {case[1] for case in STRING_CASES} == set(STRING_METHODS)
    tested_elsewhere = {"sort", "push", "pop", "shift", "unshift", "reverse", "forEach"}
    assert {case[1] for case in ARRAY_CASES} | tested_elsewhere == set(ARRAY_METHODS)


def test_string_method_errors() -> None:
    error = {"name": "RangeError", "message": "Invalid count value: -1"}
    assert thrown(m, "ab", "repeat", -1) == error
    assert error_name(m, "ab", "slice", "1") == "TypeError"
    assert error_name(m, "ab", "padStart", True) == "TypeError"


def double(x: Any, *_: Any) -> Any:
    return ops.mul(x, 2)


XS = [5, 3, 8, 1]

ARRAY_CASES = [
    ([1, {"a": [2]}], "includes", ({"a": [2]},), True),
    ([1, 2], "includes", ("1",), False),
    ([1, 2, 3], "includes", (1, 1), False),
    ([1, 2, 3], "includes", (3, -1), True),
    ([None], "includes", (None,), True),
    ([[1], [2]], "indexOf", ([2],), 1),
    ([1, 2, 1], "indexOf", (1, 1), 2),
    ([1, 2, 1], "indexOf", (1, -2), 2),
    ([1], "indexOf", (9,), -1),
    ([1, None, [2, 3]], "join", (), "1,,2,3"),
    ([1, 2], "join", ("|",), "1|2"),
    ([1, 2], "join", (None,), "1,2"),
    ([], "join", ("-",), ""),
    ([{"a": 1}, True], "join", (), "[object Object],true"),
    (XS, "slice", (1, 3), [3, 8]),
    (XS, "slice", (-2,), [8, 1]),
    (XS, "slice", (), XS),
    (XS, "slice", (3, 1), []),
    ([1], "concat", ([9], 10, [[11]]), [1, 9, 10, [11]]),
    ([1], "concat", (), [1]),
    (XS, "map", (double,), [10, 6, 16, 2]),
    (XS, "map", (lambda x, i, a: [i, len(a)],), [[0, 4], [1, 4], [2, 4], [3, 4]]),
    (XS, "filter", (lambda x, *_: x > 2,), [5, 3, 8]),
    (XS, "find", (lambda x, *_: x > 4,), 5),
    (XS, "find", (lambda x, *_: x > 40,), None),
    (XS, "findIndex", (lambda x, *_: x == 8,), 2),
    (XS, "findIndex", (lambda x, *_: x == 80,), -1),
    (XS, "some", (lambda x, *_: x > 7,), True),
    ([], "some", (lambda x, *_: True,), False),
    (XS, "every", (lambda x, *_: x > 0,), True),
    ([], "every", (lambda x, *_: False,), True),
    (XS, "reduce", (lambda acc, x, *_: acc + x, 0), 17),
    (XS, "reduce", (lambda acc, x, *_: acc + x,), 17),
    ([7], "reduce", (lambda acc, x, *_: 0,), 7),
    ([], "reduce", (lambda acc, x, *_: 0, None), None),
    (["a", "b"], "reduce", (lambda acc, x, i, a: [*acc, i], []), [0, 1]),
    ([[1], [2, 3], 4], "flatMap", (lambda x, *_: x,), [1, 2, 3, 4]),
    ([1, 2], "flatMap", (lambda x, *_: [[x]],), [[1], [2]]),
]


@pytest.mark.parametrize(("xs", "name", "args", "expected"), ARRAY_CASES)
def test_array_methods(xs: list[Any], name: str, args: tuple[Any, ...], expected: Any) -> None:
    before = list(xs)
    assert m(xs, name, *args) == expected
    assert xs == before  # none of these mutate


def test_mutators() -> None:
    a: list[Any] = [1, 2]
    assert m(a, "push", 3) == 3
    assert m(a, "push") == 3
    assert m(a, "push", 4, 5) == 5
    assert m(a, "pop") == 5
    assert m(a, "unshift", 0) == 5
    assert m(a, "unshift", -2, -1) == 7
    assert m(a, "shift") == -2
    assert a == [-1, 0, 1, 2, 3, 4]
    assert m([], "pop") is None and m([], "shift") is None
    r = [1, 2, 3]
    assert m(r, "reverse") is r and r == [3, 2, 1]


def test_for_each_calls_with_element_index_array() -> None:
    seen: list[Any] = []
    xs = ["a", "b"]
    assert m(xs, "forEach", lambda *args: seen.append(args)) is None
    assert seen == [("a", 0, xs), ("b", 1, xs)]


def test_callbacks_visit_only_the_elements_present_at_the_start() -> None:
    xs = [1, 2]
    assert m(xs, "map", lambda x, i, a: a.append(x) or x) == [1, 2]
    assert xs == [1, 2, 1, 2]


SORTS = [
    ([5, 3, 8, 1], [1, 3, 5, 8]),
    ([10, 9, 1.5, -2], [-2, 1.5, 9, 10]),
    (["b", "a", "B", "é"], ["B", "a", "b", "é"]),
    ([3, None, 1], [1, 3, None]),
    ([], []),
    ([None, None], [None, None]),
]


@pytest.mark.parametrize(("xs", "expected"), SORTS)
def test_default_sort(xs: list[Any], expected: list[Any]) -> None:
    assert m(xs, "sort") is xs
    assert xs == expected


@pytest.mark.parametrize("xs", [[1, "a"], [True, False], [[1], [2]], [{}, {}]])
def test_default_sort_rejects_other_mixes(xs: list[Any]) -> None:
    assert error_name(m, xs, "sort") == "TypeError"


def test_sort_with_comparator_is_stable_and_in_place() -> None:
    xs = [{"k": 1, "n": "a"}, {"k": 0, "n": "b"}, {"k": 1, "n": "c"}, {"k": 0, "n": "d"}]
    m(xs, "sort", lambda a, b: ops.sub(a["k"], b["k"]))
    assert [x["n"] for x in xs] == ["b", "d", "a", "c"]
    ys = [5, 3, 8, 1]
    m(ys, "sort", lambda a, b: b - a)
    assert ys == [8, 5, 3, 1]
    assert error_name(m, [1, 2], "sort", lambda a, b: "x") == "TypeError"
    assert error_name(m, [1, 2], "sort", 5) == "TypeError"


def test_array_method_errors() -> None:
    assert thrown(m, [], "reduce", lambda *a: 0)["message"] == (
        "Reduce of empty array with no initial value"
    )
    assert error_name(m, [1], "map", None) == "TypeError"
    assert error_name(m, [1], "slice", "0") == "TypeError"


def test_callback_errors_propagate() -> None:
    def boom(*_: Any) -> Any:
        ops.throw("TypeError", "inside")

    assert thrown(m, [1], "map", boom)["message"] == "inside"
