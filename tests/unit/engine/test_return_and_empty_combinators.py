"""Held-out language cases (issue 16, item 3): a returned object is a reference until the
workflow ends, and combinators over an empty object keep the object shape."""

from __future__ import annotations

import pytest

from rhythm.testing import run_flow

try:
    from rhythm.codegen import compile_flow  # noqa: F401
except ImportError:  # pragma: no cover - before the compiler lands
    pytest.skip("rhythm.codegen.compile_flow not built", allow_module_level=True)


def test_a_finally_that_mutates_the_returned_object_shows_in_the_result() -> None:
    run_flow("let o = {n: 1}\ntry { return o } finally { o.n = 2 }\n").assert_completed({"n": 2})


def test_the_same_when_the_finally_awaits() -> None:
    source = "let o = {n: 1}\ntry { return o } finally { await Timer.delay(1); o.n = 2 }\n"
    run_flow(source).assert_completed({"n": 2})


def test_a_returned_primitive_is_not_changed_by_the_finally() -> None:
    source = "let o = {n: 1}\ntry { return o.n } finally { o.n = 2 }\n"
    run_flow(source).assert_completed(1)


def test_a_returned_array_in_nested_finally_blocks() -> None:
    source = (
        "let xs = [1]\n"
        "try {\n"
        "  try { return xs } finally { xs.push(2) }\n"
        "} finally { xs.push(3) }\n"
    )
    run_flow(source).assert_completed([1, 2, 3])


def test_a_finally_that_puts_a_promise_into_the_result_fails_with_type_error() -> None:
    source = "let o = {n: 1}\ntry { return o } finally { o.p = Timer.delay(1) }\n"
    run_flow(source).assert_failed("TypeError")


def test_a_promise_in_the_result_is_still_a_catchable_type_error() -> None:
    source = (
        "try { return {p: Timer.delay(1)} } catch (e) { return e.name }\n"
    )
    run_flow(source).assert_completed("TypeError")


def test_combinators_over_empty_and_object_forms() -> None:
    source = (
        "let out = [await Promise.all({}), await Promise.allSettled({}),\n"
        "  await Promise.all([]), await Promise.allSettled([]),\n"
        "  await Promise.all({a: 1, b: Timer.delay(1)}),\n"
        "  await Promise.allSettled({a: 1}), await Promise.race({a: Timer.delay(2), b: 3})]\n"
        "try { await Promise.any({}) } catch (e) { out.push([e.name, e.errors]) }\n"
        "try { await Promise.any([]) } catch (e) { out.push([e.name, e.errors]) }\n"
        "return out\n"
    )
    run_flow(source).assert_completed([
        {}, {}, [], [], {"a": 1, "b": None},
        {"a": {"status": "fulfilled", "value": 1}}, 3,
        ["AggregateError", []], ["AggregateError", []],
    ])


def test_a_race_over_nothing_never_settles() -> None:
    result = run_flow("return await Promise.race({})\n")
    assert result.status == "suspended"
    assert "Promise.race of []" in (result.waiting_for or "")
