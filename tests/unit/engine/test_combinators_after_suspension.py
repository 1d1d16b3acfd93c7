"""Combinators created after an earlier await suspended (issue 16, item 2).

The in-memory host used to queue a running execution again whenever a combinator was
decided during its activation, judging it by the promise it had waited on *before*; the
next activation then asked for a promise still pending and failed with an InternalError.
"""

from __future__ import annotations

import pytest

from rhythm.testing import run_flow

try:
    from rhythm.codegen import compile_flow  # noqa: F401
except ImportError:  # pragma: no cover - before the compiler lands
    pytest.skip("rhythm.codegen.compile_flow not built", allow_module_level=True)

MOCKS = {
    "tasks": {"one": {"returns": 1}},
    "signals": [{"name": "go", "payload": 5, "after": "10m"}],
}
CHILD = 'await Timer.delay("5m")\nreturn "kid"\n'

CASES = {
    "race of signal and timer": (
        'Promise.race([Signal.next("go"), Timer.delay("1h")])', 5),
    "all of timer and signal": (
        'Promise.all([Timer.delay("1m"), Signal.next("go")])', [None, 5]),
    "allSettled of child and timer": (
        'Promise.allSettled([Workflow.run("kid", {}), Timer.delay("1m")])',
        [{"status": "fulfilled", "value": "kid"}, {"status": "fulfilled", "value": None}]),
    "any of child and signal": ('Promise.any([Workflow.run("kid", {}), Signal.next("go")])',
                                "kid"),
    "race with a settled plain value": ('Promise.race([Signal.next("go"), 7])', 7),
}


@pytest.mark.parametrize("expr,expected", CASES.values(), ids=list(CASES))
def test_combinator_after_a_suspended_await(expr: str, expected: object) -> None:
    source = f'const a = await Task.run("one", {{}})\nconst r = await {expr}\nreturn {{a, r}}\n'
    result = run_flow(source, mocks=MOCKS, workflows={"kid": CHILD})
    assert result.internal_errors == []
    result.assert_completed({"a": 1, "r": expected})


def test_a_combinator_in_a_loop_after_suspensions() -> None:
    source = (
        "let got = []\n"
        "for (let i = 0; i < 3; i++) {\n"
        '  await Task.run("one", {})\n'
        '  got.push(await Promise.race([Timer.delay("1m"), Signal.next("go")]))\n'
        "}\n"
        "return got\n"
    )
    result = run_flow(source, mocks=MOCKS)
    assert result.internal_errors == []
    result.assert_completed([None, None, None])


def test_a_wait_that_a_race_abandons_at_once_never_takes_a_signal() -> None:
    """A race decided when it is created abandons its wait before the activation ends;
    the in-memory host used to register that wait anyway, and it took the next signal
    (the Postgres host does not)."""
    source = (
        'const a = await Promise.race([Signal.next("go"), 1])\n'
        'const b = await Signal.next("go")\n'
        "return [a, b]\n"
    )
    run_flow(source, mocks=MOCKS).assert_completed([1, 5])
