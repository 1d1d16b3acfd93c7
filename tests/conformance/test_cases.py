"""The shared conformance cases, run in-process through :mod:`rhythm.testing`.

Loads ``../shared/conformance/cases.json`` (relative to the repository root) and judges
each result with the ``check`` function of the shared ``run.py``, so the comparison is
exactly the one of ``python ../shared/conformance/run.py`` (strict: 2 is not 2.0).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rhythm.testing import run_flow

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT.parent / "shared" / "conformance"
CASES_FILE = CONFORMANCE / "cases.json"


def _load_cases() -> list[dict[str, Any]]:
    if not CASES_FILE.exists():
        return []
    cases: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    return cases


def _load_checker() -> ModuleType | None:
    spec = importlib.util.spec_from_file_location("conformance_run", CONFORMANCE / "run.py")
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _compiler_available() -> bool:
    try:
        from rhythm.codegen import compile_flow  # noqa: F401
    except ImportError:
        return False
    return True


CASES = _load_cases()
pytestmark = [
    pytest.mark.skipif(not CASES, reason=f"{CASES_FILE} not found"),
    pytest.mark.skipif(not _compiler_available(), reason="rhythm.codegen.compile_flow not built"),
]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    checker = _load_checker()
    assert checker is not None, "cannot load the shared run.py"
    result = run_flow(
        case["flow"],
        case.get("inputs", {}),
        case.get("mocks", {}),
        name="main",
        workflows=case.get("workflows", {}),
    )
    why = checker.check(case, result.to_json())
    assert why is None, (
        f"{case['name']}: {why}\nlogs: {result.logs}\n{''.join(result.internal_errors)}"
    )
