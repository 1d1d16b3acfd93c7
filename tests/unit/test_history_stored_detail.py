"""An activation entry's detail is stored compactly (rhythm.observe.entries.stored_detail)
and read back in the contract's shape (contract_detail): the round trip gives the same
dict, key order included, for every activation of every shared conformance program run
in memory, and for the shapes those programs may not reach. Anything else is stored as
it is, and rows written before the compact form read as they were."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rhythm.observe.entries import contract_detail, stored_detail
from rhythm.testing import run_flow

CASES_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "cases.json"

BASE: dict[str, Any] = {
    "resumed": {"state": 3, "line": 14},
    "stopped": {"state": 6, "line": 21, "await": "for#1/Task.run:ship#1", "status": "suspended"},
    "settled": [{"promise": 1, "kind": "task", "name": "charge", "outcome": "ok"}],
    "effects": [{"promise": 2, "kind": "task", "name": "ship"},
                {"promise": 3, "kind": "timer", "name": None,
                 "due_at": "2026-12-03T12:00:00.000Z"}],
    "snapshot_truncated": False,
    "waiting": {"promise": 2, "kind": "task", "name": "ship"},
}

SHAPES = {
    "a step waiting on what it requested": BASE,
    "the first activation": {**BASE, "resumed": None},
    "waiting on what it read settled": {**BASE, "waiting": {"promise": 1, "kind": "task",
                                                            "name": "charge"}},
    "waiting on a promise of an earlier step": {
        **BASE, "waiting": {"promise": 9, "kind": "signal", "name": "approval"}},
    "waiting on a combinator": {**BASE, "waiting": {
        "promise": 4, "kind": "all", "name": None,
        "members": [{"promise": 2, "kind": "task", "name": "ship"}]}},
    "waiting on nothing known": {**BASE, "waiting": None},
    "a truncated snapshot": {**BASE, "snapshot_truncated": True},
    "an ending with an error": {
        "resumed": {"state": 3, "line": 14},
        "stopped": {"state": None, "line": 30, "status": "failed"},
        "settled": [], "effects": [], "snapshot_truncated": False,
        "error": {"name": "TaskError", "message": "declined"}},
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_stored_form_reads_back_as_the_contract(name: str) -> None:
    detail = SHAPES[name]
    stored = stored_detail(detail)
    back = contract_detail("activation", json.loads(json.dumps(stored)))
    assert json.dumps(back) == json.dumps(detail)  # (the same keys, in the same order)
    assert len(json.dumps(stored)) < len(json.dumps(detail))


def test_the_benchmark_step_is_stored_in_about_a_third_of_its_bytes() -> None:
    stored = json.dumps(stored_detail(BASE), separators=(",", ":"))
    assert stored == ('{"r":[3,14],"s":[6,21,"suspended","for#1/Task.run:ship#1"],'
                      '"in":[[1,"task","charge","ok"]],"out":[[2,"task","ship"],'
                      '[3,"timer",null,"2026-12-03T12:00:00.000Z"]],"w":2}')


@pytest.mark.parametrize("odd", [
    {**BASE, "extra": 1},  # a key it does not know
    {**BASE, "stopped": {"status": "suspended", "state": 6, "line": 21}},  # another order
    {**BASE, "settled": [{"promise": 1, "kind": "task"}]},  # a member short of a key
])
def test_a_detail_of_another_shape_is_stored_as_it_is(odd: dict[str, Any]) -> None:
    assert stored_detail(odd) is odd
    assert contract_detail("activation", odd) == odd


def test_rows_written_before_the_compact_form_and_other_kinds_read_as_they_are() -> None:
    assert contract_detail("activation", BASE) is BASE
    started = {"name": "orders", "version": "v1", "run_no": 1, "s": "not ours"}
    assert contract_detail("started", started) is started


def _activations(case: dict[str, Any]) -> list[dict[str, Any]]:
    result = run_flow(case["flow"], case.get("inputs", {}), case.get("mocks", {}),
                      name="main", workflows=case.get("workflows", {}))
    return [e["detail"] for e in result.history if e["kind"] == "activation"]


def test_every_activation_of_the_conformance_programs_round_trips() -> None:
    if not CASES_FILE.exists():
        pytest.skip(f"{CASES_FILE} not found")
    cases = json.loads(CASES_FILE.read_text(encoding="utf-8"))
    details = [d for case in cases for d in _activations(case)]
    assert len(details) > len(cases)
    compact = 0
    for detail in details:
        stored = stored_detail(detail)
        compact += stored is not detail
        assert json.dumps(contract_detail("activation", json.loads(json.dumps(stored)))) \
            == json.dumps(detail)
    assert compact == len(details)  # (every one the runner makes has the known shape)
