"""What the compiler needs to know about names and trees.

Scope resolution belongs to the front end (``rhythm.frontend.scopes``: each Name node ->
its Binding or a BuiltinRef); this module re-exports those types and adds the tree walks
the lowering uses (sub-expressions in evaluation order, names and defaults of patterns).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rhythm.frontend import ast as A
from rhythm.frontend.scopes import Binding, BuiltinRef, Resolution

__all__ = [
    "Binding",
    "BuiltinRef",
    "Resolution",
    "expr_children",
    "pattern_defaults",
    "pattern_names",
]


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
