"""Static checks of spec section 9 that are not about scopes (those live in ``scopes``).

One walk over the resolved program reports:
- ``break``/``continue`` outside a loop (an arrow body is a boundary);
- ``await`` inside an arrow function (callbacks run synchronously);
- arrow functions anywhere but as the callback (first argument) of an array method;
- unknown members of built-ins (``Task.runn``, ``Math.flor``, ``Context.foo``), with a
  "did you mean";
- wrong argument counts to built-ins and to the string/array methods of the catalog;
- a namespace used as a value (``let m = Math``): only its members exist at run time;
- assignment to members of built-ins (``Math.PI = 3``, ``Context.version = ...``).
"""

from __future__ import annotations

import difflib
from typing import Any

from rhythm.catalog import (
    ARRAY_METHODS,
    CALLBACK_METHODS,
    CONTEXT_FIELDS,
    FUNCTIONS,
    NAMESPACE_CONSTANTS,
    NAMESPACES,
    STRING_METHODS,
    VALUES,
    Arity,
)
from rhythm.frontend import ast as A
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.scopes import BuiltinRef, Resolution
from rhythm.frontend.walk import children

_LOOPS = (A.While, A.DoWhile, A.For, A.ForOf, A.ForIn)


def check(program: A.Program, resolution: Resolution, path: str = "<input>") -> list[Diagnostic]:
    """Run every non-scope static check over a resolved program."""
    checker = _Checker(resolution, path)
    for stmt in program.body:
        checker.visit(stmt, _Context(loop=False, arrow=False))
    return checker.diags


class _Context:
    __slots__ = ("arrow", "loop")

    def __init__(self, loop: bool, arrow: bool) -> None:
        self.loop = loop
        self.arrow = arrow


_IN_LOOP_CACHE: dict[tuple[bool, bool], _Context] = {}


def _ctx(loop: bool, arrow: bool) -> _Context:
    key = (loop, arrow)
    ctx = _IN_LOOP_CACHE.get(key)
    if ctx is None:
        ctx = _IN_LOOP_CACHE[key] = _Context(loop, arrow)
    return ctx


class _Checker:
    def __init__(self, resolution: Resolution, path: str) -> None:
        self.resolution = resolution
        self.path = path
        self.diags: list[Diagnostic] = []

    def error(self, span: A.Span, message: str) -> None:
        self.diags.append(Diagnostic.at(self.path, span, message))

    def builtin(self, node: Any) -> str | None:
        """The built-in a Name refers to, or None."""
        if isinstance(node, A.Name):
            target = self.resolution.get(node)
            if isinstance(target, BuiltinRef):
                return target.name
        return None

    # ---------------------------------------------------------------- walk

    def visit(self, node: Any, ctx: _Context, arrow_ok: bool = False) -> None:
        if isinstance(node, _LOOPS):
            for child in children(node):
                inner = ctx if child is not node.body else _ctx(True, ctx.arrow)
                self.visit(child, inner)
        elif isinstance(node, A.Break | A.Continue):
            if not ctx.loop:
                word = "break" if isinstance(node, A.Break) else "continue"
                where = " (an arrow function body is not part of the loop)" if ctx.arrow else ""
                self.error(node.span, f"'{word}' can only be used inside a loop{where}")
        elif isinstance(node, A.Await):
            if ctx.arrow:
                self.error(
                    _keyword_span(node.span, 5),
                    "'await' is not allowed inside an arrow function; use a for-of loop instead",
                )
            self.visit(node.operand, ctx)
        elif isinstance(node, A.Arrow):
            if not arrow_ok:
                self.error(
                    node.span,
                    "arrow functions are only allowed as the callback of an array method "
                    "(map, filter, find, findIndex, some, every, reduce, forEach, flatMap, sort)",
                )
            inner = _ctx(False, True)
            for child in children(node):
                self.visit(child, inner)
        elif isinstance(node, A.Call):
            self.call(node, ctx)
        elif isinstance(node, A.Member):
            self.member(node, ctx)
        elif isinstance(node, A.Name):
            self.bare_name(node)
        elif isinstance(node, A.Assign | A.Update):
            self.assignment_target(node.target)
            for child in children(node):
                self.visit(child, ctx)
        else:
            for child in children(node):
                self.visit(child, ctx)

    def bare_name(self, name: A.Name) -> None:
        builtin = self.builtin(name)
        if builtin in NAMESPACES:
            example = f"{builtin}.{next(iter(NAMESPACES[builtin]))}(...)"
            self.error(
                name.span, f"'{name.id}' is not a value: use one of its members, like {example}"
            )

    # ---------------------------------------------------------------- members and calls

    def member(self, node: A.Member, ctx: _Context) -> None:
        owner = self.builtin(node.object)
        if owner is None or owner == "Inputs":
            self.visit(node.object, ctx)
            return
        known: set[str] = set()
        if owner in NAMESPACES:
            known = set(NAMESPACES[owner]) | set(NAMESPACE_CONSTANTS.get(owner, ()))
        elif owner == "Context":
            known = set(CONTEXT_FIELDS)
        else:  # a global function (String, parseInt, task, ...): no members to speak of
            self.visit(node.object, ctx)
            return
        if node.property not in known:
            close = difflib.get_close_matches(node.property, sorted(known), n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            label = "field" if owner == "Context" else "member"
            self.error(node.property_span, f"{owner} has no {label} '{node.property}'{hint}")

    def call(self, node: A.Call, ctx: _Context) -> None:
        callee = node.callee
        method = callee.property if isinstance(callee, A.Member) else None
        for index, arg in enumerate(node.args):
            self.visit(arg, ctx, arrow_ok=index == 0 and method in CALLBACK_METHODS)
        self.visit(callee, ctx)
        self.arity(node)

    def arity(self, node: A.Call) -> None:
        callee = node.callee
        count = len(node.args)
        if isinstance(callee, A.Name):
            name = self.builtin(callee)
            if name in FUNCTIONS:
                self.check_count(node, name, [FUNCTIONS[name]], count)
            elif name in VALUES or name in NAMESPACES:
                self.error(callee.span, f"{name} is not a function")
            return
        if not isinstance(callee, A.Member):
            return
        owner = self.builtin(callee.object)
        if owner in NAMESPACES:
            if callee.property in NAMESPACES[owner]:
                arity = NAMESPACES[owner][callee.property]
                self.check_count(node, f"{owner}.{callee.property}", [arity], count)
            elif callee.property in NAMESPACE_CONSTANTS.get(owner, ()):
                self.error(callee.span, f"{owner}.{callee.property} is not a function")
            return
        if owner is not None and owner != "Inputs":
            return
        arities = [
            table[callee.property]
            for table in (STRING_METHODS, ARRAY_METHODS)
            if callee.property in table
        ]
        if arities:
            self.check_count(node, f".{callee.property}()", arities, count)

    def check_count(self, node: A.Call, label: str, arities: list[Arity], count: int) -> None:
        if any(low <= count and (high is None or count <= high) for low, high in arities):
            return
        low = min(a[0] for a in arities)
        highs = [a[1] for a in arities]
        high = None if None in highs else max(h for h in highs if h is not None)
        self.error(node.span, f"{label} takes {_describe_arity(low, high)}, got {count}")

    def assignment_target(self, target: A.Expr) -> None:
        if isinstance(target, A.Member | A.Index):
            owner = self.builtin(target.object)
            if owner is not None and owner != "Inputs":
                what = f"{owner}.{target.property}" if isinstance(target, A.Member) else owner
                self.error(target.span, f"cannot assign to '{what}': built-ins are read-only")


def _describe_arity(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    if low == high:
        if low == 0:
            return "no arguments"
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _keyword_span(span: A.Span, length: int) -> A.Span:
    return A.Span(span.line, span.column, span.line, span.column + length)
