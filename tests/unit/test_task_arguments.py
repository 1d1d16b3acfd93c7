"""Binding a task's inputs object to its parameters, and encoding what it returns."""

from __future__ import annotations

from typing import Any

import pytest

from rhythm.errors import InputError
from rhythm.runtime.payloads import encode
from rhythm.runtime.tasks import ArgumentMismatch, TaskDefinition, bind_arguments


def charge(order: str, amount: float, currency: str = "EUR") -> None: ...


def anything(order: str, **rest: Any) -> None: ...


def transactional(conn: object, order: str) -> None: ...


CHARGE = TaskDefinition("charge", charge)


@pytest.mark.parametrize("inputs", [
    {"order": "o-1", "amount": 2.5},
    {"order": "o-1", "amount": 2.5, "currency": "USD"},
])
def test_inputs_that_fit_become_keyword_arguments(inputs: dict[str, Any]) -> None:
    bound = bind_arguments(CHARGE, inputs)
    assert bound == inputs and bound is not inputs  # the task may change its own copy


@pytest.mark.parametrize("inputs, message", [
    ({"amount": 1}, "inputs do not match task 'charge'(order, amount, currency): "
                    "missing 'order'"),
    ({"order": "o", "amount": 1, "tip": 1, "note": ""},
     "unexpected 'note', 'tip'"),
    ({"tip": 1}, "missing 'amount', 'order'; unexpected 'tip'"),
    ([1], "inputs must be a JSON object, got list"),
])
def test_inputs_that_do_not_fit_say_what_is_wrong(inputs: Any, message: str) -> None:
    with pytest.raises(ArgumentMismatch) as caught:
        bind_arguments(CHARGE, inputs)
    assert message in str(caught.value)


def test_var_keyword_takes_any_extra_input_but_required_ones_stay_required() -> None:
    definition = TaskDefinition("anything", anything)
    assert bind_arguments(definition, {"order": "o", "x": 1}) == {"order": "o", "x": 1}
    with pytest.raises(ArgumentMismatch, match="missing 'order'"):
        bind_arguments(definition, {"x": 1})


def test_a_transactional_tasks_connection_is_not_an_input() -> None:
    definition = TaskDefinition("t", transactional, transactional=True)
    assert bind_arguments(definition, {"order": "o"}) == {"order": "o"}
    with pytest.raises(ArgumentMismatch, match=r"'t'\(order\): unexpected 'conn'"):
        bind_arguments(definition, {"order": "o", "conn": 1})


@pytest.mark.parametrize("value, text", [
    (None, "null"),
    ({"b": 1, "a": ["é", 1.5, True]}, '{"b":1,"a":["é",1.5,true]}'),  # key order kept
])
def test_results_encode_as_compact_json(value: Any, text: str) -> None:
    assert encode(value, "result") == text


@pytest.mark.parametrize("value, message", [
    (float("inf"), "result is not JSON: NaN and Infinity are not JSON numbers"),
    ({1, 2}, "result is not JSON"),
    ("a\x00b", "result contains a NUL character (U+0000)"),
    ({"k": "a\ud800"}, "result contains a lone surrogate ('\\ud800')"),
    ("é" * 6, "result is 14 bytes of JSON, over the limit of 10 bytes"),
])
def test_what_cannot_be_stored_is_one_clear_line(value: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        encode(value, "result", limit=10)
    assert message in str(caught.value) and "\n" not in str(caught.value)
