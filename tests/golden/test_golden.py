"""Golden tests: the generated Python for a few representative workflows.

On a mismatch the unified diff is shown. Refresh the expected files with
``UPDATE_GOLDEN=1 pytest tests/golden`` (or ``pytest --update-golden``) and review
the diff in git like any code change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from rhythm.codegen import generate

HERE = Path(__file__).parent
FLOWS = sorted((HERE / "flows").glob("*.flow"))


def _update(config: pytest.Config) -> bool:
    flag = bool(config.getoption("--update-golden", default=False))
    return flag or os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("flow", FLOWS, ids=[f.stem for f in FLOWS])
def test_generated_code_matches_golden(flow: Path, request: pytest.FixtureRequest) -> None:
    source = flow.read_text(encoding="utf-8")
    actual = generate(source, f"flows/{flow.name}").text
    expected_path = HERE / "expected" / f"{flow.stem}.py"
    if _update(request.config):
        expected_path.parent.mkdir(exist_ok=True)
        expected_path.write_text(actual, encoding="utf-8")
        return
    assert expected_path.is_file(), f"no golden file; run with UPDATE_GOLDEN=1: {flow}"
    expected = expected_path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                "expected",
                "actual",
            )
        )
        pytest.fail(f"generated code for {flow.name} changed:\n{diff}", pytrace=False)


@pytest.mark.parametrize("flow", FLOWS, ids=[f.stem for f in FLOWS])
def test_generation_is_reproducible(flow: Path) -> None:
    source = flow.read_text(encoding="utf-8")
    assert generate(source, "x.flow").text == generate(source, "x.flow").text
