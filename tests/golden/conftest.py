"""``--update-golden`` for tests/golden (same as RHYTHM_UPDATE_GOLDEN=1)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")
