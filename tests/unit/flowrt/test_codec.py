"""The snapshot codec: sharing, cycles, promises, number types and awkward keys survive JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rhythm.flowrt import codec, ops
from rhythm.flowrt.protocol import FlowLimit, Promise

from .helpers import RecordingHost


def through_json(values: dict[str, Any]) -> dict[str, Any]:
    """encode -> JSON text with keys sorted (as jsonb reorders them) -> decode."""
    text = json.dumps(codec.encode(values), sort_keys=True)
    return codec.decode(json.loads(text))


def same_shape(a: Any, b: Any, pairs: dict[int, int]) -> bool:
    """Structural equality with exact types and the same aliasing pattern (a bijection of ids)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | dict):
        if id(a) in pairs:
            return pairs[id(a)] == id(b)
        if id(b) in pairs.values():
            return False
        pairs[id(a)] = id(b)
        if isinstance(a, list):
            return len(a) == len(b) and all(
                same_shape(x, y, pairs) for x, y in zip(a, b, strict=True)
            )
        return list(a) == list(b) and all(same_shape(a[k], b[k], pairs) for k in a)
    if isinstance(a, ops.BuiltinFunction):
        return a.name == b.name and same_shape(a.receiver, b.receiver, pairs)
    return bool(a == b)


def round_trips(values: dict[str, Any]) -> bool:
    return same_shape(values, through_json(values), {})


def test_plain_values() -> None:
    values = {"n": 1, "f": 2.5, "big": 1e300, "s": "é😀", "b": True, "z": None,
              "l": [1, [2, {"a": 3}]], "o": {"x": {"y": []}, "e": {}}}
    assert round_trips(values)
    decoded = through_json(values)
    assert type(decoded["big"]) is float and type(decoded["n"]) is int


def test_sharing_between_variables_survives() -> None:
    a = [1]
    values = {"a": a, "b": a, "o": {"list": a}}
    decoded = through_json(values)
    assert decoded["a"] is decoded["b"] is decoded["o"]["list"]
    decoded["b"].append(2)
    assert decoded["a"] == [1, 2]


def test_cycles_survive() -> None:
    o: dict[str, Any] = {"name": "root"}
    o["self"] = o
    xs: list[Any] = [o]
    xs.append(xs)
    decoded = through_json({"o": o, "xs": xs})
    assert decoded["o"]["self"] is decoded["o"]
    assert decoded["xs"][1] is decoded["xs"] and decoded["xs"][0] is decoded["o"]


def test_promises_and_functions() -> None:
    arr = [3]
    values = {"p": Promise(7), "ps": [Promise(7), Promise(8)],
              "m": ops.builtin_function("Math.max"), "push": ops.get(arr, "push"), "arr": arr,
              "trim": ops.get(" x ", "trim")}
    decoded = through_json(values)
    assert decoded["p"] == Promise(7) and decoded["ps"] == [Promise(7), Promise(8)]
    assert decoded["m"](1, 5) == 5 and decoded["trim"]() == "x"
    decoded["push"](4)
    assert decoded["arr"] == [3, 4]


def test_host_functions_need_a_host() -> None:
    host = RecordingHost()
    data = json.loads(json.dumps(codec.encode({"t": ops.builtin_function("Task.run", host)})))
    with pytest.raises(ValueError, match="needs a host"):
        codec.decode(data)
    assert codec.decode(data, host)["t"]("job") == Promise(1)


def test_arrow_functions_cannot_be_snapshotted() -> None:
    with pytest.raises(ValueError, match="arrow"):
        codec.encode({"f": lambda *a: None})


@pytest.mark.parametrize("key", ["$ref", "__proto__", "o", "r", "i", "a", "p", "f", "z", "fn",
                                 "codec", "vars", "", "\x00", "\ud800", "constructor"])
def test_any_user_key_round_trips(key: str) -> None:
    values = {"o": {key: {key: [key]}, "after": 1}, key: key}
    assert round_trips(values)


def test_key_order_survives_jsonb_reordering() -> None:
    values = {"z": {"b": 1, "a": 2, "10": 3, "2": 4}, "a": 0}
    decoded = through_json(values)
    assert list(decoded) == ["z", "a"] and list(decoded["z"]) == ["b", "a", "10", "2"]


def test_strings_postgres_cannot_store_are_escaped() -> None:
    text = json.dumps(codec.encode({"s": "a\x00b\udc00"}))
    assert "\\u0000" not in text and "\\udc00" not in text
    assert through_json({"s": "a\x00b\udc00"}) == {"s": "a\x00b\udc00"}


def test_integral_floats_stay_floats_and_ints_stay_ints() -> None:
    values = {"f": 2.0**60, "i": 2**53, "neg": -1e200, "small": 5e-324}
    decoded = through_json(values)
    assert [type(decoded[k]) for k in values] == [float, int, float, float]


@pytest.mark.parametrize(
    "data",
    [None, [], {}, {"codec": 2, "vars": []}, {"codec": 1, "vars": {}}, {"codec": 1, "vars": ["x"]},
     {"codec": 1, "vars": [1, 2]}, {"codec": 1, "vars": ["x", {"r": 0}]},
     {"codec": 1, "vars": ["x", {"q": 1}]}, {"codec": 1, "vars": ["x", {"o": ["k"]}]},
     {"codec": 1, "vars": ["x", {"o": [1, 2]}]}, {"codec": 1, "vars": ["x", {"a": [], "i": 3}]},
     {"codec": 1, "vars": ["x", {"f": "inf"}]}, {"codec": 1, "vars": ["x", {"f": "zz"}]},
     {"codec": 1, "vars": ["x", {"z": [-1]}]}, {"codec": 1, "vars": ["x", {"fn": "os.system"}]},
     {"codec": 1, "vars": ["x", {"fn": "array.__len__", "this": []}]},
     {"codec": 1, "vars": ["x", {"fn": "string.trim", "this": 5}]},
     {"codec": 1, "vars": ["x", float("nan")]}, {"codec": 1, "vars": ["x", {1, 2}]}],
)
def test_garbage_is_a_clear_value_error(data: Any) -> None:
    with pytest.raises(ValueError, match="snapshot"):
        codec.decode(data)


def test_deep_nesting_is_a_limit() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(FlowLimit):
        codec.encode({"d": deep})


# ---------------------------------------------------------------- property test

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False).map(ops.num),
    st.text(max_size=8), st.integers(0, 50).map(Promise),
)


def _containers(*roots: Any) -> list[Any]:
    """Every list and dict reachable from ``roots``, each once."""
    found: list[Any] = []

    def walk(v: Any) -> None:
        if isinstance(v, list | dict) and all(c is not v for c in found):
            found.append(v)
            for x in v if isinstance(v, list) else v.values():
                walk(x)

    for root in roots:
        walk(root)
    return found


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Random nested values, then random extra edges that create sharing and cycles."""
    tree = st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.text(max_size=6), inner, max_size=4),
        ),
        max_leaves=25,
    )
    values: dict[str, Any] = draw(st.dictionaries(st.text(max_size=5), tree, max_size=5))
    containers = _containers(*values.values())
    if containers:
        for _ in range(draw(st.integers(0, 4))):
            source = containers[draw(st.integers(0, len(containers) - 1))]
            target = containers[draw(st.integers(0, len(containers) - 1))]
            if isinstance(source, list):
                source.append(target)
            else:
                source[draw(st.text(max_size=3))] = target
        if draw(st.booleans()):
            values["alias"] = containers[draw(st.integers(0, len(containers) - 1))]
    return values


@settings(max_examples=300, deadline=None)
@given(graphs())
def test_random_graphs_round_trip(values: dict[str, Any]) -> None:
    assert round_trips(values)


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_encoded_values_are_fresh_json_ready_data(values: dict[str, Any]) -> None:
    """The runtime keeps and commits the encoded snapshot as it is, without a copy
    through JSON text: it must already be plain JSON data (str keys, lists, no tuples)
    and share no list or dict with the live values it came from."""
    encoded = codec.encode(values)
    assert json.loads(json.dumps(encoded, allow_nan=False)) == encoded
    assert same_shape(encoded, json.loads(json.dumps(encoded)), {})
    live = {id(c) for c in _containers(values)}
    assert not any(id(c) in live for c in _containers(encoded))


def test_promise_ids_finds_every_handle_and_nothing_that_only_looks_like_one() -> None:
    shared = [Promise(3)]
    values = {
        "direct": Promise(1),
        "nested": {"p": 99, "deep": [{"x": Promise(2)}]},  # a user key "p" is not a handle
        "shared_a": shared,
        "shared_b": shared,
        "text": "p",
    }
    encoded = json.loads(json.dumps(codec.encode(values)))
    assert codec.promise_ids(encoded) == {1, 2, 3}
    assert codec.promise_ids(codec.encode({"n": 1, "o": {"p": 5}})) == set()
