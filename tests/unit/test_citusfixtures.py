"""The Citus tier's guard: without Citus it skips, except under CI, where it must fail
(a tier that silently never runs in CI proves nothing)."""

from __future__ import annotations

from pathlib import Path

import citusfixtures
import pytest


@pytest.fixture
def no_citus(monkeypatch: pytest.MonkeyPatch) -> str:
    reason = "Citus is not installed (no /x/citus.so): run install.sh as root"
    monkeypatch.setattr(citusfixtures, "citus_missing", lambda: reason)
    return reason


def test_without_citus_the_tier_skips(no_citus: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no /x/citus\.so"):
        citusfixtures.require_citus()


def test_without_citus_under_ci_the_tier_fails(
    no_citus: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set and the Citus tier cannot run"):
        citusfixtures.require_citus()


def test_a_missing_citus_so_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pg_config = tmp_path / "pg_config"
    pg_config.write_text(f"#!/bin/sh\necho {tmp_path}\n")
    pg_config.chmod(0o755)
    monkeypatch.setattr(citusfixtures, "PG_CONFIG", pg_config)
    reason = citusfixtures.citus_missing()
    assert reason is not None and f"no {tmp_path}/citus.so" in reason
