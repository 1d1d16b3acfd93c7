"""Name resolution as the compiler needs it: each Name node -> its binding or a built-in.

The front end owns scope analysis (``rhythm.frontend``'s ``resolution.binding_of``); this
module adapts its answer, and carries a small fallback resolver used only while the
front end's is not available, so the compiler can be built and tested on its own.
The fallback assumes a program that already passed the static checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from rhythm import catalog
from rhythm.frontend import ast as A


@dataclass(frozen=True)
class Binding:
    id: int
    name: str
    kind: str
    span: A.Span


@dataclass(frozen=True)
class BuiltinRef:
    name: str


class Resolution(Protocol):
    def binding_of(self, name: A.Name) -> Any: ...


class FallbackResolution:
    """Block scopes with hoisted ``let``/``const`` (TDZ is the checker's business)."""

    def __init__(self, program: A.Program) -> None:
        self._bindings: dict[int, Binding | BuiltinRef] = {}
        self._scopes: list[dict[str, Binding | BuiltinRef]] = [{}]
        self._next_id = 0
        if program.wrapper == "workflow":
            for param, builtin in zip(program.params, ("Context", "Inputs"), strict=False):
                self._scopes[0][param] = BuiltinRef(builtin)
        self._block(program.body)

    def binding_of(self, name: A.Name) -> Binding | BuiltinRef:
        return self._bindings[id(name)]

    # ---------------------------------------------------------------- scopes

    def _declare(self, pattern: A.Pattern | None, kind: str) -> None:
        for name in pattern_names(pattern):
            self._next_id += 1
            binding = Binding(self._next_id, name.id, kind, name.span)
            self._scopes[-1][name.id] = binding
            self._bindings[id(name)] = binding

    def _lookup(self, name: A.Name) -> None:
        for scope in reversed(self._scopes):
            if name.id in scope:
                self._bindings[id(name)] = scope[name.id]
                return
        self._bindings[id(name)] = BuiltinRef(name.id)

    def _block(self, body: tuple[A.Stmt, ...]) -> None:
        self._scopes.append({})
        for stmt in body:
            if isinstance(stmt, A.VarDecl):
                for decl in stmt.declarations:
                    self._declare(decl.target, stmt.kind)
        for stmt in body:
            self._stmt(stmt)
        self._scopes.pop()

    def _stmt(self, s: A.Stmt) -> None:  # noqa: C901 - one branch per statement kind
        if isinstance(s, A.VarDecl):
            for decl in s.declarations:
                self._pattern_defaults(decl.target)
                if decl.init is not None:
                    self._expr(decl.init)
        elif isinstance(s, A.ExprStmt):
            self._expr(s.expr)
        elif isinstance(s, A.Block):
            self._block(s.body)
        elif isinstance(s, A.If):
            self._expr(s.test)
            self._sub(s.consequent)
            if s.alternate is not None:
                self._sub(s.alternate)
        elif isinstance(s, A.While | A.DoWhile):
            self._expr(s.test)
            self._sub(s.body)
        elif isinstance(s, A.For):
            self._scopes.append({})
            if isinstance(s.init, A.VarDecl):
                for decl in s.init.declarations:
                    self._declare(decl.target, s.init.kind)
                self._stmt(s.init)
            elif s.init is not None:
                self._expr(s.init)
            for part in (s.test, s.update):
                if part is not None:
                    self._expr(part)
            self._sub(s.body)
            self._scopes.pop()
        elif isinstance(s, A.ForOf | A.ForIn):
            self._expr(s.iterable if isinstance(s, A.ForOf) else s.object)
            self._scopes.append({})
            if s.kind is None:
                self._pattern_refs(s.target)
            else:
                self._declare(s.target, s.kind)
                self._pattern_defaults(s.target)
            self._sub(s.body)
            self._scopes.pop()
        elif isinstance(s, A.Return | A.Throw):
            if s.value is not None:
                self._expr(s.value)
        elif isinstance(s, A.Try):
            self._block(s.block.body)
            if s.handler is not None:
                self._scopes.append({})
                self._declare(s.param, "catch")
                self._pattern_defaults(s.param)
                self._block(s.handler.body)
                self._scopes.pop()
            if s.finalizer is not None:
                self._block(s.finalizer.body)

    def _sub(self, s: A.Stmt) -> None:
        self._block(s.body) if isinstance(s, A.Block) else self._block((s,))

    def _pattern_refs(self, p: A.Pattern) -> None:
        for name in pattern_names(p):
            self._lookup(name)
        self._pattern_defaults(p)

    def _pattern_defaults(self, p: A.Pattern | None) -> None:
        for default in pattern_defaults(p):
            self._expr(default)

    def _expr(self, e: Any) -> None:
        if isinstance(e, A.Name):
            self._lookup(e)
        elif isinstance(e, A.Arrow):
            self._scopes.append({})
            for param in e.params:
                self._declare(param, "param")
            for param in e.params:
                self._pattern_defaults(param)
            if isinstance(e.body, A.Block):
                self._block(e.body.body)
            else:
                self._expr(e.body)
            self._scopes.pop()
        else:
            for child in expr_children(e):
                self._expr(child)


# ------------------------------------------------------------------ tree helpers


def pattern_names(p: A.Pattern | None) -> Iterator[A.Name]:
    if isinstance(p, A.Name):
        yield p
    elif isinstance(p, A.ObjectPattern):
        for prop in p.props:
            yield from pattern_names(prop.target)
    elif isinstance(p, A.ArrayPattern):
        for elem in p.elements:
            yield from pattern_names(elem.target)


def pattern_defaults(p: A.Pattern | None) -> Iterator[A.Expr]:
    if isinstance(p, A.ObjectPattern):
        for prop in p.props:
            yield from pattern_defaults(prop.target)
            if prop.default is not None:
                yield prop.default
    elif isinstance(p, A.ArrayPattern):
        for elem in p.elements:
            yield from pattern_defaults(elem.target)
            if elem.default is not None:
                yield elem.default


def expr_children(e: Any) -> list[Any]:
    """Sub-expressions in evaluation order (arrow bodies excluded)."""
    if isinstance(e, A.TemplateLit):
        return list(e.exprs)
    if isinstance(e, A.ArrayLit):
        return list(e.elements)
    if isinstance(e, A.ObjectLit):
        out: list[Any] = []
        for prop in e.props:
            if not isinstance(prop.key, str):
                out.append(prop.key)
            out.append(prop.value)
        return out
    if isinstance(e, A.Member):
        return [e.object]
    if isinstance(e, A.Index):
        return [e.object, e.index]
    if isinstance(e, A.Call):
        return [e.callee, *e.args]
    if isinstance(e, A.OptionalChain | A.Await):
        return [e.expr if isinstance(e, A.OptionalChain) else e.operand]
    if isinstance(e, A.Unary):
        return [e.operand]
    if isinstance(e, A.Update):
        return [e.target]
    if isinstance(e, A.Binary | A.Logical):
        return [e.left, e.right]
    if isinstance(e, A.Conditional):
        return [e.test, e.consequent, e.alternate]
    if isinstance(e, A.Assign):
        return [e.target, e.value]
    return []


BUILTINS = catalog.BUILTIN_NAMES
