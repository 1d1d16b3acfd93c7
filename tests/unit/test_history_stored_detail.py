"""An activation entry's detail is built in its stored form (rhythm.observe.entries.
activation_detail) and read back in the contract's shape (contract_detail), key order
included: for each shape an entry takes, from promise tables built here, and for every
activation of every shared conformance program run in memory. Rows written before the
stored form, and other kinds of entry, read as they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rhythm.engine.promises import PromiseTable
from rhythm.observe.entries import Packed, activation_detail, contract_detail
from rhythm.testing import run_flow

CASES_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "cases.json"
DUE_MS = 1_796_299_200_000  # 2026-12-03T12:00:00Z
LINES = {3: 14, 6: 21}
AWAITS = {6: "for#1/Task.run:ship#1"}
KEPT = Packed(b'{"label":6}', 11)


def _table() -> PromiseTable:
    """1 charge (settled), 2 ship, 3 a timer, 4 all of [2], 5 a signal wait."""
    table = PromiseTable([], next_id=1)
    charge = table.create("task", {"name": "charge", "inputs": {}, "options": {}}, 0)
    table.settle(charge.id, True, None, 1)
    table.create("task", {"name": "ship", "inputs": {}, "options": {}}, 1)
    table.create("timer", {"due": DUE_MS}, 1)
    table.create("combinator", {"combinator": "all", "members": [{"promise": 2}]}, 1)
    table.create("signal", {"channel": "approval"}, 1)
    return table


def _step(**given: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "resumed_label": 3, "stopped_label": 6, "status": "suspended", "lines": LINES,
        "table": _table(), "read": [1], "requested": [2, 3], "packed": KEPT,
        "waiting_on": 2, "awaits": AWAITS, **given}
    return activation_detail(**facts)


CONTRACT: dict[str, Any] = {
    "resumed": {"state": 3, "line": 14},
    "stopped": {"state": 6, "line": 21, "await": "for#1/Task.run:ship#1", "status": "suspended"},
    "settled": [{"promise": 1, "kind": "task", "name": "charge", "outcome": "ok"}],
    "effects": [{"promise": 2, "kind": "task", "name": "ship"},
                {"promise": 3, "kind": "timer", "name": None,
                 "due_at": "2026-12-03T12:00:00.000Z"}],
    "snapshot_truncated": False,
    "waiting": {"promise": 2, "kind": "task", "name": "ship"},
}

_GONE = object()  # (a key the contract's shape does not have there)

# name: (what differs from the step above, what its contract's shape says instead)
SHAPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "a step waiting on what it requested": ({}, {}),
    "the first activation": ({"resumed_label": None}, {"resumed": None}),
    "waiting on what it read settled": (
        {"waiting_on": 1}, {"waiting": {"promise": 1, "kind": "task", "name": "charge"}}),
    "waiting on a promise of an earlier step": (
        {"waiting_on": 5}, {"waiting": {"promise": 5, "kind": "signal", "name": "approval"}}),
    "waiting on a combinator": ({"waiting_on": 4}, {"waiting": {
        "promise": 4, "kind": "all", "name": None,
        "members": [{"promise": 2, "kind": "task", "name": "ship"}]}}),
    "waiting on nothing known": ({"waiting_on": 99}, {"waiting": None}),
    "a truncated snapshot": ({"packed": Packed(None, 70000)}, {"snapshot_truncated": True}),
    "an ending with an error": (
        {"stopped_label": None, "stopped_line": 30, "status": "failed", "read": [],
         "requested": [], "waiting_on": None,
         "error": {"name": "TaskError", "message": "declined"}},
        {"stopped": {"state": None, "line": 30, "status": "failed"}, "settled": [],
         "effects": [], "waiting": _GONE,
         "error": {"name": "TaskError", "message": "declined"}}),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_stored_form_reads_back_as_the_contract(name: str) -> None:
    given, differs = SHAPES[name]
    expected = {k: v for k, v in {**CONTRACT, **differs}.items() if v is not _GONE}
    stored = _step(**given)
    back = contract_detail("activation", json.loads(json.dumps(stored)))
    assert json.dumps(back) == json.dumps(expected)  # (the same keys, in the same order)
    assert len(json.dumps(stored)) < len(json.dumps(expected))


def test_a_step_is_stored_in_less_than_half_of_its_bytes() -> None:
    stored = json.dumps(_step(), separators=(",", ":"))
    assert stored == ('{"r":[3,14],"s":[6,21,"suspended","for#1/Task.run:ship#1"],'
                      '"in":[[1,"task","charge","ok"]],"out":[[2,"task","ship"],'
                      '[3,"timer",null,"2026-12-03T12:00:00.000Z"]],"w":2}')
    assert len(stored) * 2 < len(json.dumps(CONTRACT, separators=(",", ":")))


def test_rows_written_before_the_stored_form_and_other_kinds_read_as_they_are() -> None:
    assert contract_detail("activation", CONTRACT) is CONTRACT
    started = {"name": "orders", "version": "v1", "run_no": 1, "s": "not ours"}
    assert contract_detail("started", started) is started


# The contract's key orders (docs/observability.md, "History")
_DETAIL = ("resumed", "stopped", "settled", "effects", "snapshot_truncated")
_DETAILS = {_DETAIL, (*_DETAIL, "waiting"), (*_DETAIL, "error"), (*_DETAIL, "waiting", "error")}
_STOPPED = {("state", "line", "status"), ("state", "line", "await", "status")}
_NAMED = ("promise", "kind", "name")


def _contract_shaped(detail: dict[str, Any]) -> bool:
    waiting = detail.get("waiting")
    return (tuple(detail) in _DETAILS and tuple(detail["stopped"]) in _STOPPED
            and (detail["resumed"] is None or tuple(detail["resumed"]) == ("state", "line"))
            and all(tuple(x) == (*_NAMED, "outcome") for x in detail["settled"])
            and all(tuple(x) in {_NAMED, (*_NAMED, "due_at")} for x in detail["effects"])
            and (waiting is None or tuple(waiting)[:3] == _NAMED))


def _activations(case: dict[str, Any]) -> list[dict[str, Any]]:
    result = run_flow(case["flow"], case.get("inputs", {}), case.get("mocks", {}),
                      name="main", workflows=case.get("workflows", {}))
    return [e["detail"] for e in result.history if e["kind"] == "activation"]


def test_every_activation_of_the_conformance_programs_reads_back_in_the_contracts_shape(
) -> None:
    # (the in-memory runner records what activation_detail builds, read back by
    # contract_detail as read_history does: the Postgres parity tests compare the two)
    if not CASES_FILE.exists():
        pytest.skip(f"{CASES_FILE} not found")
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    details = [d for case in cases for d in _activations(case)]
    assert len(details) > len(cases)
    assert [d for d in details if not _contract_shaped(d)] == []
    waits = [d["waiting"] for d in details if "waiting" in d]
    assert waits and None not in waits  # (every wait of theirs is described)
