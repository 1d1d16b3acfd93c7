"""Migration discovery (no database): naming, ordering, gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from rhythm.errors import MigrationError
from rhythm.store.migrations import discover, migrations_dir


def test_repository_migrations_are_well_formed() -> None:
    found = discover()
    assert found and found[0].label == "0001_schema_meta"
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert migrations_dir() == Path(__file__).resolve().parents[2] / "migrations"


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["0001_a.sql", "0003_c.sql"], "expected version 0002"),
        (["0001_a.sql", "2_b.sql"], "must be named NNNN_name.sql"),
        (["0002_b.sql"], "expected version 0001"),
    ],
)
def test_bad_folders(tmp_path: Path, names: list[str], message: str) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(MigrationError, match=message):
        discover(tmp_path)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="missing"):
        discover(tmp_path / "nope")
