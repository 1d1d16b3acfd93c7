"""Combinator settlement and the promise table (pure, no host)."""

from __future__ import annotations

from rhythm.engine.promises import MemberView, PromiseRecord, PromiseTable, combinator_outcome
from rhythm.flowrt.protocol import Promise


def ok(value: object, at: int) -> MemberView:
    return MemberView("fulfilled", value, at)


def bad(error: object, at: int) -> MemberView:
    return MemberView("rejected", error, at)


PENDING = MemberView("pending", None, None)


def plain(value: object) -> MemberView:
    return MemberView("fulfilled", value, None)


def test_all_gives_values_in_list_order_not_time_order() -> None:
    out = combinator_outcome("all", [ok("a", 30), ok("b", 10)], None, 0)
    assert out is not None and out.ok and out.value == ["a", "b"] and out.at == 30


def test_all_object_form_keeps_keys() -> None:
    out = combinator_outcome("all", [ok(1, 5), plain(2)], ["x", "y"], 0)
    assert out is not None and out.value == {"x": 1, "y": 2}


def test_all_waits_for_pending_members() -> None:
    assert combinator_outcome("all", [ok(1, 5), PENDING], None, 0) is None


def test_all_rejects_with_first_error_in_time_even_while_others_pend() -> None:
    members = [bad("late", 20), PENDING, bad("early", 10)]
    out = combinator_outcome("all", members, None, 0)
    assert out is not None and not out.ok and out.value == "early" and out.at == 10


def test_all_rejection_ties_go_to_list_order() -> None:
    out = combinator_outcome("all", [ok(1, 5), bad("first", 7), bad("second", 7)], None, 0)
    assert out is not None and out.value == "first"


def test_members_settled_before_creation_tie_at_creation() -> None:
    # b settled earlier than a, but both were settled when the combinator was created.
    out = combinator_outcome("all", [bad("a", 50), bad("b", 10)], None, 100)
    assert out is not None and out.value == "a" and out.at == 100


def test_empty_lists() -> None:
    assert combinator_outcome("all", [], None, 3).value == []  # type: ignore[union-attr]
    assert combinator_outcome("all", [], [], 3).value == {}  # type: ignore[union-attr]
    assert combinator_outcome("allSettled", [], None, 3).value == []  # type: ignore[union-attr]
    assert combinator_outcome("race", [], None, 3) is None
    out = combinator_outcome("any", [], None, 3)
    assert out is not None and not out.ok
    assert out.value["name"] == "AggregateError" and out.value["errors"] == []


def test_all_settled_shapes() -> None:
    out = combinator_outcome("allSettled", [ok(1, 1), bad({"name": "E"}, 2), plain(3)], None, 0)
    assert out is not None and out.ok
    assert out.value == [
        {"status": "fulfilled", "value": 1},
        {"status": "rejected", "reason": {"name": "E"}},
        {"status": "fulfilled", "value": 3},
    ]
    assert combinator_outcome("allSettled", [ok(1, 1), PENDING], None, 0) is None


def test_race_first_in_time_then_list_order() -> None:
    out = combinator_outcome("race", [PENDING, ok("slow", 9), bad("fast", 4)], None, 0)
    assert out is not None and not out.ok and out.value == "fast"
    tie = combinator_outcome("race", [ok("b", 4), ok("a", 4)], None, 0)
    assert tie is not None and tie.value == "b"


def test_race_plain_value_ties_with_already_settled_promise() -> None:
    out = combinator_outcome("race", [plain(5), ok("p", 1)], None, 10)
    assert out is not None and out.value == 5
    out = combinator_outcome("race", [ok("p", 1), plain(5)], None, 10)
    assert out is not None and out.value == "p"


def test_any_first_fulfilment_and_aggregate_in_list_order() -> None:
    out = combinator_outcome("any", [bad("e1", 1), ok("v", 8), ok("w", 3)], None, 0)
    assert out is not None and out.ok and out.value == "w"
    assert combinator_outcome("any", [bad("e1", 1), PENDING], None, 0) is None
    out = combinator_outcome("any", [bad("e2", 9), bad("e1", 1)], None, 0)
    assert out is not None and not out.ok
    assert out.value["errors"] == ["e2", "e1"] and out.at == 9


def table_with(*kinds: str) -> tuple[PromiseTable, list[Promise]]:
    table = PromiseTable()
    return table, [Promise(table.create(k, {}, 0).id) for k in kinds]  # type: ignore[arg-type]


def test_table_ids_increase_and_settle_is_once() -> None:
    table, (a, b) = table_with("task", "timer")
    assert (a.id, b.id) == (1, 2)
    assert table.settle(a.id, True, 1, 5)
    assert not table.settle(a.id, False, "again", 6)
    record = table.get(a.id)
    assert (record.state, record.value, record.settled_at, record.settled_seq) == (
        "fulfilled",
        1,
        5,
        1,
    )


def test_combinator_settles_at_creation_when_decided() -> None:
    table = PromiseTable()
    record = table.combine("all", [1, "x"], None, 0)
    assert record.state == "fulfilled" and record.value == [1, "x"]


def test_nested_combinators_propagate_in_one_pass() -> None:
    table, (a, b) = table_with("task", "task")
    inner = table.combine("all", [a, b], None, 0)
    outer = table.combine("race", [Promise(inner.id)], None, 0)
    table.settle(a.id, True, 1, 1)
    table.settle(b.id, True, 2, 1)
    done = table.propagate()
    assert done.settled == [inner.id, outer.id]
    assert outer.value == [1, 2]


def test_race_abandons_pending_signal_waits_also_nested() -> None:
    table, (sig, timer, sig2) = table_with("signal", "timer", "signal")
    inner = table.combine("all", [sig2], None, 0)
    race = table.combine("race", [sig, timer, Promise(inner.id)], None, 0)
    table.settle(timer.id, True, None, 60)
    done = table.propagate()
    assert race.state == "fulfilled" and race.value is None
    assert sorted(done.abandoned) == [sig.id, sig2.id]
    assert table.get(sig.id).abandoned and table.get(sig.id).state == "pending"


def test_all_does_not_abandon_signal_waits() -> None:
    table, (sig, task) = table_with("signal", "task")
    table.combine("all", [sig, task], None, 0)
    table.settle(task.id, False, "boom", 1)
    assert table.propagate().abandoned == []


def test_record_json_round_trip() -> None:
    table, (a,) = table_with("task")
    table.settle(a.id, False, {"name": "TaskError"}, 7)
    record = table.get(a.id)
    assert PromiseRecord.from_json(record.to_json()) == record
