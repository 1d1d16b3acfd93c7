"""Flow control without a database: where a keyed task lives, when a key runs again,
and what bulk enqueue refuses or sends."""

from __future__ import annotations

import json

import pytest

from rhythm.errors import InputError
from rhythm.runtime import bulk
from rhythm.runtime.operations import ID_REUSE, prepare_enqueue, runs_again
from rhythm.runtime.partitions import Topology, keyed_id, part_of


@pytest.mark.parametrize("partitions", [1, 2, 7, 32, 4096])
def test_every_id_of_a_key_lands_in_the_same_partition_for_any_p(partitions: int) -> None:
    for key in ("order-1", "ü-ключ", "x" * 500):
        places = {part_of(keyed_id("charge", key), partitions) for _ in range(20)}
        assert len(places) == 1
    spread = {part_of(keyed_id("charge", f"k{i}"), 32) for i in range(400)}
    assert len(spread) > 20  # keys spread over the partitions


def test_keyed_ids_are_fresh_and_look_generated() -> None:
    first, second = keyed_id("charge", "k"), keyed_id("charge", "k")
    assert first != second and first[:6] == second[:6]
    assert first.startswith("t-") and len(first) == 34


@pytest.mark.parametrize(("status", "allowed"), [
    ("pending", set()), ("running", set()),
    ("completed", {"allow"}),
    ("failed", {"allow", "allow_duplicate_failed_only"}),
    ("cancelled", {"allow", "allow_duplicate_failed_only"}),
])
def test_when_a_key_runs_again(status: str, allowed: set[str]) -> None:
    assert {policy for policy in ID_REUSE if runs_again(status, policy)} == allowed


def test_a_key_travels_in_the_options_for_the_task_to_see() -> None:
    req = prepare_enqueue("task", "charge", {"a": 1}, id=None, queue=None, priority=0,
                          idempotency_key="k-1")
    assert json.loads(req.options) == {"idempotencyKey": "k-1"}
    assert req.idempotency_key == "k-1" and req.id_reuse == "allow_duplicate_failed_only"


def test_bulk_items_become_one_json_array_with_partitions_and_escapes() -> None:
    items = bulk.prepare("task", [
        ("add", {"a": 1}),
        ("add", None, {"id": 'my "id"', "queue": "qé", "priority": 3, "retries": 2}),
    ])
    rows = json.loads(bulk.batch_json("task", items, Topology(partitions=8)))
    assert rows[0]["inputs"] == {"a": 1} and rows[0]["queue"] is None
    assert rows[0]["part"] == part_of(rows[0]["id"], 8)
    assert rows[1] == {"kind": "task", "part": part_of('my "id"', 8), "id": 'my "id"',
                       "name": "add", "queue": "qé", "priority": 3, "max_retries": 2,
                       "inputs": {}}


@pytest.mark.parametrize(("kind", "items", "message"), [
    ("task", "add", "expected a list of (name, inputs, options), got str"),
    ("task", [("add", {"x": float("nan")})], "item 0: inputs of task 'add' is not JSON"),
    ("task", [("add", {}, {"priority": "high"})], "item 0: priority must be an integer"),
    ("task", [("add", {}, {"retries": -1})], "item 0: retries must be a non-negative"),
    ("workflow", [("flow", {}, {"retries": 1})], "item 0: unknown option 'retries'"),
    ("task", [("add", {}, ["queue"])], "item 0: options must be a dict"),
])
def test_bulk_refuses_bad_items_naming_them(kind: str, items: object, message: str) -> None:
    with pytest.raises(InputError) as err:
        bulk.prepare(kind, items)
    assert str(err.value).startswith(message)
