"""Mapping a snapshot between versions (rhythm/upgrade/plan.py), without a database:
snapshots are built by hand in the format the machines save."""

from __future__ import annotations

from typing import Any

import pytest

from rhythm.codegen.compile import compile_flow
from rhythm.flowrt import codec
from rhythm.upgrade.plan import Incompatible, map_snapshot, short

V1 = 'const a = await Task.run("one", {})\nconst s = await Signal.next("go")\nreturn [a, s]\n'


def _snapshot(cls: Any, label: int, values: dict[str, Any]) -> dict[str, Any]:
    return {"format": 1, "version": cls.INFO.version, "label": label, "waiting": 7,
            "vars": codec.encode(values)}


def _at(cls: Any, identity: str) -> int:
    return next(label for label, ident in cls.AWAITS.items() if ident == identity)


def test_a_snapshot_moves_to_the_same_await_of_the_new_version() -> None:
    old = compile_flow(V1, "w.flow", "w")
    edited = "console.log(1)\n" + V1.replace("return [a, s]", "return [s, a]")
    new = compile_flow(edited, "w.flow", "w")
    snap = _snapshot(old, _at(old, "Signal.next:go#1"), {"a": {"x": [1, 2]}})
    mapped = map_snapshot(old, new, snap)
    assert mapped.identity == "Signal.next:go#1"
    assert mapped.snapshot["version"] == new.INFO.version
    assert mapped.snapshot["label"] == _at(new, "Signal.next:go#1")
    assert mapped.snapshot["waiting"] == 7  # the promise it waits on keeps its id
    assert codec.decode(mapped.snapshot["vars"], None) == {"a": {"x": [1, 2]}}


def test_a_variable_the_new_version_needs_must_have_a_value() -> None:
    old = compile_flow(V1, "w.flow", "w")
    new = compile_flow('const total = 5\n' + V1.replace("[a, s]", "[a, s, total]"),
                       "w.flow", "w")
    snap = _snapshot(old, _at(old, "Signal.next:go#1"), {"a": 1})
    with pytest.raises(Incompatible, match=r"^variable 'total' has no value$"):
        map_snapshot(old, new, snap)
    mapped = map_snapshot(old, new, snap, {"total": 9})
    assert codec.decode(mapped.snapshot["vars"], None) == {"a": 1, "total": 9}


def test_reasons_for_awaits_that_are_gone() -> None:
    old = compile_flow(V1, "w.flow", "w")
    new = compile_flow('const s = await Signal.next("go")\nreturn s\n', "w.flow", "w")
    snap = _snapshot(old, _at(old, "Task.run:one#1"), {})
    with pytest.raises(Incompatible, match=r"^await 'one' no longer exists$"):
        map_snapshot(old, new, snap)
    looped = compile_flow('let i = 0\nwhile (i < 2) { await Signal.next("go"); i++ }\n',
                          "w.flow", "w")
    flat = compile_flow('let i = 0\nawait Signal.next("go")\n', "w.flow", "w")
    snap = _snapshot(looped, _at(looped, "while#1/Signal.next:go#1"), {"i": 0})
    with pytest.raises(Incompatible, match=r"^await 'go' is inside a loop the new version"):
        map_snapshot(looped, flat, snap)


def test_loop_cursors_are_carried_over_by_position() -> None:
    source = 'for (const x of Inputs.xs) {\n  await Task.run("item", { x })\n}\n'
    old = compile_flow(source, "w.flow", "w")
    new = compile_flow("const pre = 1\nconst t = [pre].map(v => v + 1)\n" + source,
                       "w.flow", "w")
    label = _at(old, "for-of#1/Task.run:item#1")
    internal = [k for k in old.LIVE[label] if k.startswith("#")]
    snap = _snapshot(old, label, {internal[0]: [1, 2], internal[1]: 1, "x": 1})
    with pytest.raises(Incompatible, match="'pre' has no value"):
        map_snapshot(old, new, snap)
    mapped = map_snapshot(old, new, snap, {"pre": 1, "t": [2]})
    moved = codec.decode(mapped.snapshot["vars"], None)
    new_internal = [k for k in new.LIVE[mapped.to_label] if k.startswith("#")]
    assert [moved[k] for k in new_internal] == [[1, 2], 1] and moved["x"] == 1


def test_short_names() -> None:
    assert short("if#1/then/Task.run:charge#2") == "charge"
    assert short("@approval") == "approval"
    assert short("Promise.race[Signal.next:x,Timer.delay]#1") == (
        "Promise.race[Signal.next:x,Timer.delay]")
