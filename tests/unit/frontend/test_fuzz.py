"""Fuzzing: no input makes the front end raise; every input parses or yields diagnostics."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rhythm.frontend import check_source
from rhythm.frontend.diagnostics import Diagnostic

TOKENS = [
    "let", "const", "if", "else", "while", "do", "for", "of", "in", "break", "continue",
    "return", "try", "catch", "finally", "throw", "await", "async", "function", "typeof",
    "true", "false", "null", "x", "y", "Inputs", "Task", "Math", "Context", "workflow", "main",
    ".", "?.", "(", ")", "[", "]", "{", "}", ",", ";", ":", "?", "=>", "=", "+=", "??=", "==",
    "===", "!=", "<", ">=", "+", "-", "*", "**", "/", "%", "!", "&&", "||", "??", "++", "--",
    "0", "1.5", "1e3", "0x1F", "1_000", ".5", '"s"', "'q'", "`t${", "`", "${", "\n", " ",
    "//c\n", "/*c*/", "/*", "\\", "run", "map", "x => x", "#", "@", "é",
]  # fmt: skip

VALID = [
    "let a = [1, 2, 3]\nlet s = 0\nfor (const v of a) { s += v * 2 }\nreturn s\n",
    "try {\n  await Task.run('charge', {id: Inputs.id})\n} catch (e) {\n  return e.message\n}\n",
    "let xs = Inputs.items.map(x => x.qty).filter(q => q > 0)\nreturn `n=${xs.length}`\n",
    "workflow(ctx, inputs) {\n  let r = await Promise.race([Signal.next('s'), Timer.delay('1h')])\n"
    "  return r ?? ctx.executionId\n}\n",
]
CASES = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "cases.json"
if CASES.is_file():
    VALID += [
        c["flow"]
        for c in json.loads(CASES.read_text(encoding="utf-8"))
        if c["expect"]["status"] != "compile_error"
    ]

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_behaved(source: str) -> None:
    diags = check_source(source, "fuzz.flow")
    assert all(isinstance(d, Diagnostic) for d in diags)
    for d in diags:
        assert d.line >= 1 and d.column >= 1 and d.message
        d.render(source)


@FUZZ
@given(st.text(max_size=200))
def test_random_text(source: str) -> None:
    assert_well_behaved(source)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map(" ".join))
def test_token_soup(source: str) -> None:
    assert_well_behaved(source)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_token_soup_without_spaces(source: str) -> None:
    assert_well_behaved(source)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    source = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 4))):
        if not source:
            break
        at = draw(st.integers(0, len(source)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.sampled_from(TOKENS))
        end = min(len(source), at + draw(st.integers(1, 8)))
        if action == "delete":
            source = source[:at] + source[end:]
        elif action == "insert":
            source = source[:at] + piece + source[at:]
        elif action == "replace":
            source = source[:at] + piece + source[end:]
        else:
            source = source[:at] + source[at:end] + source[at:]
    return source


@FUZZ
@given(mutated())
def test_mutated_valid_programs(source: str) -> None:
    assert_well_behaved(source)


def test_valid_seeds_are_clean() -> None:
    for source in VALID:
        assert check_source(source, "seed.flow") == []
