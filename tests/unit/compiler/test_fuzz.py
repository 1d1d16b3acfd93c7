"""Hypothesis: random valid programs compile to valid Python, and a run resumed from a
snapshot at every suspension equals the straight run (``run_flow`` checks three modes)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhythm.codegen import generate
from tests.unit.compiler.flowhost import run_flow

VARS = ["a", "b", "c"]


def expressions(depth: int = 2) -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.integers(-5, 9).map(str),
        st.sampled_from(VARS),
        st.sampled_from(VARS).map(lambda v: f'(await Task.run("echo", {{v: {v}}})).v'),
    )
    if depth == 0:
        return leaf
    sub = expressions(depth - 1)
    return st.one_of(
        leaf,
        st.tuples(sub, st.sampled_from(["+", "-", "*", "<", "==", "&&", "||", "??"]), sub).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        st.tuples(sub, sub, sub).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
        sub.map(lambda e: f"(await {e})"),
        st.lists(sub, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "].length"),
    )


def statements(depth: int = 2) -> st.SearchStrategy[str]:
    assign = st.tuples(st.sampled_from(VARS), st.sampled_from(["=", "+="]), expressions()).map(
        lambda t: f"{t[0]} {t[1]} {t[2]}"
    )
    log = expressions().map(lambda e: f"out.push({e})")
    simple = st.one_of(assign, log, st.just('await Task.run("echo", {v: a})'))
    if depth == 0:
        return simple
    body = st.lists(statements(depth - 1), min_size=1, max_size=3).map(
        lambda xs: "{ " + "; ".join(xs) + " }"
    )
    loop_body = st.lists(
        st.one_of(statements(depth - 1), st.just("if (c > 6) break"), st.just("continue")),
        min_size=1,
        max_size=3,
    ).map(lambda xs: "{ " + "; ".join(xs) + " }")
    return st.one_of(
        simple,
        st.tuples(expressions(1), body, body).map(lambda t: f"if ({t[0]}) {t[1]} else {t[2]}"),
        st.tuples(st.integers(0, 3), loop_body).map(
            lambda t: f"for (let i = 0; i < {t[0]}; i++) {{ c = c + 1; {t[1]} }}"
        ),
        st.tuples(body, body).map(
            lambda t: f"try {{ {t[0]}; throw a }} catch (e) {{ out.push(e) }} finally {t[1]}"
        ),
        st.tuples(body, body).map(lambda t: f"try {t[0]} finally {t[1]}"),
        body.map(lambda b: f'try {{ await Task.run("fail"); {b} }} catch {{ out.push("caught") }}'),
    )


programs = st.lists(statements(), min_size=1, max_size=5).map(
    lambda xs: (
        "let a = 1\nlet b = 2\nlet c = 0\nlet out = []\n"
        + "\n".join(xs)
        + "\nreturn [a, b, c, out]\n"
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_random_programs_resume_like_straight_runs(source: str) -> None:
    compile(generate(source, "fuzz.flow", formatted=False).text, "fuzz", "exec")
    run_flow(source)  # asserts eager == same-object == restored-at-every-suspension
