"""Member access, assignment, calls, iteration, JSON copies, limits — and the sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rhythm.flowrt import ops
from rhythm.flowrt.protocol import FlowLimit, Limits, Promise

from .helpers import error_name, thrown

ORDER = {"a": {"b": [10, 20, {"c": "deep"}]}, "n": None}

READS = [
    (ORDER["a"]["b"][2], "c", "deep"),
    (ORDER["a"]["b"], 5, None),
    (ORDER["a"]["b"], -1, None),
    (ORDER["a"]["b"], 1.5, None),
    (ORDER["a"]["b"], "1", 20),
    (ORDER["a"]["b"], "01", None),
    (ORDER["a"]["b"], "length", 3),
    (ORDER, "missing", None),
    (ORDER, "n", None),
    ({"1": "one"}, 1, "one"),
    ({"null": 0}, None, 0),
    ({"true": 1}, True, 1),
    ("héllo", 1, "é"),
    ("héllo", "length", 5),
    ("😀a", 1, "a"),
    ("abc", 3, None),
    (5, "x", None),
    (True, "length", None),
    (Promise(1), "then", None),
]


@pytest.mark.parametrize(("obj", "key", "expected"), READS)
def test_get(obj: Any, key: Any, expected: Any) -> None:
    assert ops.get(obj, key) == expected


def test_reading_a_property_of_null_throws() -> None:
    error = thrown(ops.get, None, "k")
    assert error == {"name": "TypeError", "message": "Cannot read property 'k' of null"}
    assert thrown(ops.get, None, 0)["message"] == "Cannot read property '0' of null"


def test_methods_read_without_a_call_are_bound() -> None:
    slice_ = ops.get("abcdef", "slice")
    assert ops.call(slice_, [1, 3]) == "bc"
    xs: list[Any] = [1]
    push = ops.get(xs, "push")
    assert ops.call(push, [2, 3]) == 3 and xs == [1, 2, 3]
    assert ops.type_of(push) == "function"
    assert ops.get([], "nope") is None


def test_set_on_objects_and_arrays() -> None:
    o: dict[str, Any] = {"items": [{"qty": 1}]}
    assert ops.set(ops.get(ops.get(o, "items"), 0), "qty", 5) == 5
    items = ops.get(o, "items")
    ops.set(items, ops.get(items, "length"), {"qty": 2})
    ops.set(o, "meta", {"by": "x"})
    ops.set(o, 7, "seven")
    assert o == {"items": [{"qty": 5}, {"qty": 2}], "meta": {"by": "x"}, "7": "seven"}
    ops.set(items, "0", "first")
    assert items[0] == "first"


@pytest.mark.parametrize(
    ("obj", "key"),
    [([1], 2), ([1], -1), ([1], 0.5), ([1], "x"), (None, "x"), (5, "x"), ("s", 0), (True, "a"),
     (Promise(1), "x")],
)
def test_invalid_writes_throw_type_error(obj: Any, key: Any) -> None:
    assert error_name(ops.set, obj, key, 1) == "TypeError"


def test_array_length_can_only_shrink() -> None:
    xs = [1, 2, 3]
    ops.set(xs, "length", 1)
    assert xs == [1]
    assert error_name(ops.set, xs, "length", 5) == "TypeError"


def test_call() -> None:
    assert ops.call(lambda *a: sum(a), [1, 2]) == 3
    assert thrown(ops.call, None, [])["message"] == "null is not a function"
    assert thrown(ops.call, 5, [], "o.f")["message"] == "o.f is not a function"
    for value in ({}, [], "f", Promise(1), dict, ops):
        assert error_name(ops.call, value, []) == "TypeError"


def test_call_method() -> None:
    assert ops.call_method("a-b", "split", ["-"]) == ["a", "b"]
    assert ops.call_method([3, 1], "sort", []) == [1, 3]
    assert ops.call_method({"f": lambda *a: len(a)}, "f", [1, 2]) == 2
    assert thrown(ops.call_method, {"f": 1}, "f", [])["message"] == "object.f is not a function"
    assert thrown(ops.call_method, {}, "g", [], "o")["message"] == "o.g is not a function"
    assert thrown(ops.call_method, None, "f", [])["message"] == "Cannot read property 'f' of null"
    assert error_name(ops.call_method, "abc", "length", []) == "TypeError"
    assert error_name(ops.call_method, 5, "toFixed", [2]) == "TypeError"


def test_call_method_checks_argument_counts() -> None:
    assert thrown(ops.call_method, "abc", "includes", [])["message"] == (
        "includes expects 1 to 2 arguments, got 0"
    )
    assert error_name(ops.call_method, [], "pop", [1]) == "TypeError"
    assert error_name(ops.call_method, [], "map", []) == "TypeError"


# ---------------------------------------------------------------- sandbox

PYTHON_NAMES = [
    "__class__", "__dict__", "__len__", "__add__", "__getattribute__", "__init__", "__globals__",
    "__code__", "__module__", "__reduce__", "__subclasses__", "__mro__", "__builtins__",
    "constructor", "prototype", "__proto__", "append", "extend", "keys", "items", "get", "upper",
    "format", "encode", "count", "index", "copy", "clear", "mro", "_impl", "name", "receiver",
    "id", "real", "bit_length", "to_bytes",
]
RECEIVERS = ["", "abc", [], [1], {}, 5, 1.5, True, Promise(1)]


@pytest.mark.parametrize("name", PYTHON_NAMES)
@pytest.mark.parametrize("receiver", RECEIVERS, ids=repr)
def test_no_python_attribute_is_readable(receiver: Any, name: str) -> None:
    assert ops.get(receiver, name) is None


@pytest.mark.parametrize("name", PYTHON_NAMES)
@pytest.mark.parametrize("receiver", RECEIVERS, ids=repr)
def test_no_python_attribute_is_callable(receiver: Any, name: str) -> None:
    assert error_name(ops.call_method, receiver, name, []) == "TypeError"


def test_functions_expose_nothing() -> None:
    fn = ops.builtin_function("Math.max")
    bound = ops.get([1], "push")
    for value in (fn, bound, lambda *a: None):
        for name in PYTHON_NAMES:
            assert ops.get(value, name) is None
            assert error_name(ops.call_method, value, name, []) == "TypeError"
    assert ops.keys_in(fn) == [] and ops.object_keys(fn) == []


def test_user_keys_that_look_like_python_are_just_data() -> None:
    o: dict[str, Any] = {}
    ops.set(o, "__class__", 1)
    ops.set(o, "__proto__", {"x": 1})
    assert ops.get(o, "__class__") == 1 and ops.get(ops.get(o, "__proto__"), "x") == 1
    assert ops.eq(ops.get({}, "__proto__"), None)


def test_writing_python_names_into_non_objects_throws() -> None:
    for receiver in ("", 5, Promise(1), ops.builtin_function("Math.max")):
        assert error_name(ops.set, receiver, "__class__", None) == "TypeError"


def test_call_refuses_python_classes_and_modules() -> None:
    for value in (type, object, print.__class__, ops, Exception):
        assert error_name(ops.call, value, []) == "TypeError"


# ---------------------------------------------------------------- iteration


def test_iter_of() -> None:
    xs = [1, 2]
    assert ops.iter_of(xs) is xs
    assert ops.iter_of("a😀b") == ["a", "😀", "b"]
    for value in (None, {}, 5, True, Promise(1)):
        assert error_name(ops.iter_of, value) == "TypeError"


def test_keys_in() -> None:
    assert ops.keys_in({"b": 1, "a": 2}) == ["b", "a"]
    assert ops.keys_in(["x", "y"]) == [0, 1]
    assert ops.keys_in("ab") == [0, 1]
    assert ops.keys_in(None) == [] and ops.keys_in(5) == []


# ---------------------------------------------------------------- leaving the workflow


def test_json_copy_is_deep_and_plain() -> None:
    inner = {"a": [1, 2.5, None, True, "s"]}
    value = {"x": inner, "y": inner}
    copy = ops.to_json_copy(value, "task inputs")
    assert copy == value and copy["x"] is not inner and copy["x"] is not copy["y"]


@pytest.mark.parametrize(
    "value",
    [Promise(1), {"p": Promise(1)}, [1, [Promise(2)]], ops.builtin_function("Math.max"),
     {"f": lambda *a: None}],
)
def test_json_copy_rejects_promises_and_functions(value: Any) -> None:
    error = thrown(ops.to_json_copy, value, "task inputs")
    assert error["name"] == "TypeError" and "(task inputs)" in error["message"]


def test_json_copy_message_for_promises() -> None:
    assert thrown(ops.to_json_copy, [Promise(1)], "the result")["message"] == (
        "a promise cannot leave the workflow (the result)"
    )


def test_json_copy_rejects_cycles() -> None:
    a: list[Any] = []
    a.append(a)
    assert error_name(ops.to_json_copy, a, "the result") == "TypeError"


# ---------------------------------------------------------------- limits


@pytest.fixture
def small_limits() -> Iterator[None]:
    ops.configure(Limits(max_string_length=10, max_array_length=3))
    yield
    ops.configure(Limits())


@pytest.mark.usefixtures("small_limits")
def test_size_limits_raise_flow_limit() -> None:
    with pytest.raises(FlowLimit):
        ops.add("123456", "7890x")
    with pytest.raises(FlowLimit):
        ops.template("123456", 7890, "x")
    with pytest.raises(FlowLimit):
        ops.call_method("ab", "repeat", [6])
    with pytest.raises(FlowLimit):
        ops.call_method("ab", "padStart", [11])
    with pytest.raises(FlowLimit):
        ops.call_method([1, 2, 3], "push", [4])
    with pytest.raises(FlowLimit):
        ops.set([1, 2, 3], 3, 4)
    with pytest.raises(FlowLimit):
        ops.call_method([1, 2], "concat", [[3, 4]])
    with pytest.raises(FlowLimit):
        ops.call_method("abcd", "split", [""])
    assert ops.add("12345", "67890") == "1234567890"


def test_flow_limit_is_not_a_flow_throw() -> None:
    ops.configure(Limits(max_array_length=0))
    try:
        with pytest.raises(FlowLimit) as info:
            ops.call_method([], "push", [1])
    finally:
        ops.configure(Limits())
    assert info.value.value["name"] == "LimitError"
