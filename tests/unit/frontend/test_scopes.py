"""Scope resolution API used by the compiler: binding_of for every Name, unique bindings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rhythm.frontend import analyze
from rhythm.frontend import ast as A
from rhythm.frontend.scopes import Binding, BuiltinRef
from rhythm.frontend.walk import children


def names(node: Any) -> Iterator[A.Name]:
    if isinstance(node, A.Name):
        yield node
    for child in children(node):
        yield from names(child)


def all_names(program: A.Program) -> list[A.Name]:
    return [n for stmt in program.body for n in names(stmt)]


def test_every_name_resolves_and_shadowing_gives_distinct_bindings() -> None:
    flow = analyze(
        "let n = 1\n{\n  let n = 2\n  n = 3\n}\nfor (let n = 0; n < 1; n++) {}\nreturn n\n",
        "t.flow",
    )
    ns = [n for n in all_names(flow.program) if n.id == "n"]
    targets = [flow.resolution.binding_of(n) for n in ns]
    assert all(isinstance(t, Binding) for t in targets)
    outer, inner = targets[0], targets[1]
    assert outer != inner
    assert targets[2] == inner  # `n = 3` in the block
    assert targets[-1] == outer  # `return n`
    loop_ids = {t.id for t in targets[3:-1]}  # type: ignore[union-attr]
    assert len(loop_ids) == 1 and loop_ids.isdisjoint({outer.id, inner.id})  # type: ignore[union-attr]


def test_bindings_are_unique_and_carry_kind_and_span() -> None:
    flow = analyze(
        "const a = 1\nlet b\ntry { throw 1 } catch (e) { }\nlet xs = [1].map((x, i) => x + i)\n",
        "t.flow",
    )
    bindings = flow.resolution.bindings
    assert len({b.id for b in bindings}) == len(bindings)
    kinds = {b.name: b.kind for b in bindings}
    assert kinds == {
        "a": "const",
        "b": "let",
        "e": "catch",
        "xs": "let",
        "x": "param",
        "i": "param",
    }
    a = next(b for b in bindings if b.name == "a")
    assert a.span == A.Span(1, 7, 1, 8)


def test_builtins_resolve_to_builtin_refs() -> None:
    flow = analyze("let t = await Task.run('x', {id: Inputs.id})\nreturn Math.max(t, 1)", "t.flow")
    builtins = {
        n.id: flow.resolution.binding_of(n)
        for n in all_names(flow.program)
        if isinstance(flow.resolution.binding_of(n), BuiltinRef)
    }
    assert builtins == {
        "Task": BuiltinRef("Task"),
        "Inputs": BuiltinRef("Inputs"),
        "Math": BuiltinRef("Math"),
    }


def test_wrapper_parameters_are_context_and_inputs() -> None:
    flow = analyze("workflow(c, i) {\n  return [c.executionId, i.x]\n}", "t.flow")
    refs = {n.id: flow.resolution.binding_of(n) for n in all_names(flow.program)}
    assert refs == {"c": BuiltinRef("Context"), "i": BuiltinRef("Inputs")}
    assert [b.kind for b in flow.resolution.bindings] == ["wrapper", "wrapper"]


def test_shorthand_properties_and_patterns_resolve() -> None:
    flow = analyze("let x = 1\nlet o = {x}\nconst {x: y, z = x} = o\nreturn [y, z]", "t.flow")
    for name in all_names(flow.program):
        assert isinstance(flow.resolution.binding_of(name), Binding), name
