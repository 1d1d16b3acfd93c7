"""Error text Postgres cannot store (a NUL, lone surrogates) is made storable before it is
recorded; the schema version check says what to do for each kind of mismatch."""

from __future__ import annotations

import pytest

from rhythm.runtime.failures import storable, task_error
from rhythm.store.migrations import expected_version, schema_version_error


@pytest.mark.parametrize(("text", "kept"), [
    ("plain", "plain"), ("a\x00b", "a\ufffdb"), ("a\ud800b", "a\ufffdb"),
    ("\udc80\x00", "\ufffd\ufffd"), ("é ✓ 😀", "é ✓ 😀"),
])
def test_storable_replaces_only_what_postgres_refuses(text: str, kept: str) -> None:
    assert storable(text) == kept
    storable(text).encode("utf-8")  # (never raises)


def test_a_task_error_is_storable_whatever_the_exception_said() -> None:
    error = task_error("t", "ValueError", "bad \x00", 1, {"traceback": "x\ud800", "n": 3})
    assert error["message"] == "bad \ufffd"
    assert error["details"] == {"traceback": "x\ufffd", "n": 3}


def test_schema_version_errors_say_what_to_do() -> None:
    current = expected_version()
    assert schema_version_error(current) is None
    assert str(schema_version_error(None)) == (
        "the database has no Rhythm schema: run `rhythm migrate`")
    assert str(schema_version_error(current - 1)).endswith("run `rhythm migrate`")
    assert "upgrade Rhythm" in str(schema_version_error(current + 1))
