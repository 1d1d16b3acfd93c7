"""`rhythm history`'s one line per entry (rhythm.observe.timeline), for every kind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rhythm.observe.entries import HistoryEntry
from rhythm.observe.timeline import describe, timeline

AT = datetime(2026, 12, 2, 12, 0, 1, 234000, tzinfo=UTC)


def entry(kind: str, detail: dict[str, Any], step: int | None = None, seq: int = 1,
          size: int | None = None) -> HistoryEntry:
    return HistoryEntry(seq, AT, kind, step, None, detail, size,
                        bool(detail.get("snapshot_truncated")))


def test_each_kind_in_a_few_words() -> None:
    waiting = {"promise": 4, "kind": "race", "name": None, "members": [
        {"promise": 2, "kind": "signal", "name": "approval"},
        {"promise": 3, "kind": "timer", "name": None}]}
    suspended = entry("activation", {
        "resumed": {"state": 3, "line": 14},
        "stopped": {"state": 6, "line": 21, "status": "suspended"},
        "settled": [{"promise": 1, "kind": "task", "name": "charge", "outcome": "error"},
                    {"promise": 5, "kind": "signal", "name": "approval", "outcome": "ok"}],
        "effects": [], "waiting": waiting, "snapshot_truncated": True}, step=3, size=70000)
    assert describe(suspended) == (
        "step 3 resumed at line 14 (task charge: error, signal approval) -> waiting at "
        "line 21: Promise.race(signal approval, timer) [snapshot of 70000 bytes not kept: "
        "over the cap]")
    failed = entry("activation", {
        "resumed": None, "stopped": {"state": 1, "line": 2, "status": "failed"},
        "settled": [], "effects": [], "snapshot_truncated": False,
        "error": {"name": "Oops", "message": "no"}}, step=1)
    assert describe(failed) == "step 1 started -> failed at line 2: Oops: no"
    assert describe(entry("started", {"name": "order", "version": "ab" * 32, "run_no": 2})) \
        == "started order (version abababababab), run 2"
    assert describe(entry("signal", {"name": "go", "buffered": True})) \
        == "signal go arrived (buffered)"
    assert describe(entry("cancel_requested", {"run_no": 1})) == "cancellation requested"
    assert describe(entry("cancel_requested", {"run_no": 1, "parent_id": "w-1"})) == (
        "cancellation requested (its parent w-1 was cancelled)")
    assert describe(entry("retry", {"run_no": 2})) \
        == "retried: run 2 starts from the beginning"
    assert describe(entry("upgraded", {"from_version": "a" * 64, "to_version": "b" * 64})) \
        == f"upgraded from version {'a' * 12} to {'b' * 12}"
    assert describe(entry("forked", {"from_id": "w-1", "from_step": 3})) \
        == "forked from w-1 at step 3"


def test_lines_are_aligned() -> None:
    lines = timeline([entry("started", {"name": "x"}, seq=9),
                      entry("cancel_requested", {}, seq=10)])
    assert lines == [
        " 9  2026-12-02 12:00:01.234  started           started x",
        "10  2026-12-02 12:00:01.234  cancel_requested  cancellation requested",
    ]
