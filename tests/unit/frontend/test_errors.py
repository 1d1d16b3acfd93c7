"""Compile errors, many small programs per file (errors.txt) with the expected message inline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from rhythm.frontend import check_source

_MARKER = re.compile(r'###\s*(?:(\d+)\s+)?"((?:[^"\\]|\\.)*)"')


@dataclass
class Expectation:
    line: int
    column: int | None
    text: str


@dataclass
class Case:
    name: str
    source: str
    expected: list[Expectation]


def load_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    name: str | None = None
    lines: list[str] = []
    expected: list[Expectation] = []

    def flush() -> None:
        if name is None:
            return
        marked = {e.line for e in expected}
        while lines and not lines[-1].strip() and len(lines) not in marked:
            lines.pop()  # blank lines between cases
        source = "\n".join(lines) + ("\n" if lines and lines[-1] else "")
        cases.append(Case(name, source, list(expected)))

    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.startswith("=== "):
            flush()
            name, lines, expected = raw[4:].strip(), [], []
            continue
        if name is None:
            continue  # the header comment
        code, _, markers = raw.partition("###")
        for match in _MARKER.finditer("###" + markers if markers else ""):
            column = int(match.group(1)) if match.group(1) else None
            expected.append(Expectation(len(lines) + 1, column, match.group(2)))
        lines.append(code.rstrip() if markers else raw)
    flush()
    return cases


CASES = load_cases(Path(__file__).with_name("errors.txt"))


def test_the_case_file_is_not_empty() -> None:
    assert len(CASES) > 30


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_error_case(case: Case) -> None:
    diagnostics = check_source(case.source, "case.flow")
    unmatched = list(diagnostics)
    missing: list[Expectation] = []
    for want in case.expected:
        for diag in unmatched:
            column_ok = want.column is None or diag.column == want.column
            if diag.line == want.line and column_ok and want.text in diag.message:
                unmatched.remove(diag)
                break
        else:
            missing.append(want)
    report = "\n".join(d.headline() for d in diagnostics)
    assert not missing, f"expected but not reported: {missing}\nreported:\n{report}"
    assert not unmatched, "reported but not expected:\n" + "\n".join(
        d.headline() for d in unmatched
    )
