"""The language conformance cases (../shared/conformance/cases.json) through the front end.

Every ``compile_error`` case is reported at the expected line (with the expected text when
the case gives one); every other case parses and checks clean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rhythm.frontend import check_source

CASES_PATH = Path(__file__).resolve().parents[3].parent / "shared" / "conformance" / "cases.json"


def _cases() -> list[dict[str, Any]]:
    if not CASES_PATH.is_file():
        return []
    cases: list[dict[str, Any]] = json.loads(CASES_PATH.read_text(encoding="utf-8"))
    return cases


CASES = _cases()
needs_cases = pytest.mark.skipif(not CASES, reason=f"conformance cases not found at {CASES_PATH}")
ERROR_CASES = [c for c in CASES if c["expect"]["status"] == "compile_error"]
CLEAN_CASES = [c for c in CASES if c["expect"]["status"] != "compile_error"]


@needs_cases
def test_there_are_compile_error_cases() -> None:
    assert len(ERROR_CASES) >= 5


@needs_cases
@pytest.mark.parametrize("case", ERROR_CASES, ids=[c["name"] for c in ERROR_CASES])
def test_compile_error_case_is_reported_at_its_line(case: dict[str, Any]) -> None:
    expect = case["expect"]
    diagnostics = check_source(case["flow"], "main.flow")
    wanted = expect.get("message_contains", "")
    hits = [d for d in diagnostics if d.line == expect["line"] and wanted in d.message]
    assert hits, [d.headline() for d in diagnostics]


@needs_cases
@pytest.mark.parametrize("case", CLEAN_CASES, ids=[c["name"] for c in CLEAN_CASES])
def test_other_cases_check_clean(case: dict[str, Any]) -> None:
    sources = {"main": case["flow"], **case.get("workflows", {})}
    for name, source in sources.items():
        assert check_source(source, f"{name}.flow") == [], name
