"""Static facts the lowering needs: where the ``await``s are, and what jumps where.

Only statements and expressions that contain an ``await`` are split into states; every
other part of a workflow stays ordinary Python inside one state.
"""

from __future__ import annotations

from typing import Any

from rhythm.compiler.resolve import expr_children, pattern_defaults
from rhythm.frontend import ast as A


class AwaitIndex:
    """Memoised "does this node contain an await?" (arrows never do: the checker says so)."""

    def __init__(self) -> None:
        self._memo: dict[int, bool] = {}

    def expr(self, e: Any) -> bool:
        if e is None or isinstance(e, A.Arrow):
            return False
        key = id(e)
        found = self._memo.get(key)
        if found is None:
            found = isinstance(e, A.Await) or any(self.expr(c) for c in expr_children(e))
            if hasattr(e, "default_expr"):  # synthetic nodes of the lowering
                found = found or self.expr(e.default_expr)
            self._memo[key] = found
        return found

    def pattern(self, p: Any) -> bool:
        return any(self.expr(d) for d in pattern_defaults(p))

    def stmt(self, s: Any) -> bool:
        if s is None:
            return False
        key = id(s)
        found = self._memo.get(key)
        if found is not None:
            return found
        if isinstance(s, A.VarDecl):
            found = any(self.pattern(d.target) or self.expr(d.init) for d in s.declarations)
        elif isinstance(s, A.ExprStmt):
            found = self.expr(s.expr)
        elif isinstance(s, A.Block):
            found = any(self.stmt(x) for x in s.body)
        elif isinstance(s, A.If):
            found = self.expr(s.test) or self.stmt(s.consequent) or self.stmt(s.alternate)
        elif isinstance(s, A.While | A.DoWhile):
            found = self.expr(s.test) or self.stmt(s.body)
        elif isinstance(s, A.For):
            init = s.init
            init_await = self.stmt(init) if isinstance(init, A.VarDecl) else self.expr(init)
            found = init_await or any(self.expr(x) for x in (s.test, s.update))
            found = found or self.stmt(s.body)
        elif isinstance(s, A.ForOf):
            found = self.expr(s.iterable) or self.pattern(s.target) or self.stmt(s.body)
        elif isinstance(s, A.ForIn):
            found = self.expr(s.object) or self.pattern(s.target) or self.stmt(s.body)
        elif isinstance(s, A.Return):
            # ``return p`` on a promise suspends too, but through a side state that
            # works from plain Python code, so only an explicit await forces lowering.
            found = self.expr(s.value)
        elif isinstance(s, A.Throw):
            found = self.expr(s.value)
        elif isinstance(s, A.Try):
            found = any(self.stmt(b) for b in (s.block, s.handler, s.finalizer))
            found = found or self.pattern(s.param)
        else:
            found = False
        self._memo[key] = found
        return found


def cannot_be_promise(e: Any) -> bool:
    """True when ``e`` evaluates to a non-promise whatever happens (no await needed on return)."""
    return isinstance(
        e,
        A.NumberLit
        | A.StringLit
        | A.TemplateLit
        | A.BoolLit
        | A.NullLit
        | A.ArrayLit
        | A.ObjectLit
        | A.Binary
        | A.Unary
        | A.Update,
    )


def has_continue(body: Any) -> bool:
    """Does a ``continue`` in ``body`` target the loop that owns ``body``?"""
    if isinstance(body, A.Continue):
        return True
    if isinstance(body, A.While | A.DoWhile | A.For | A.ForOf | A.ForIn | A.Arrow):
        return False
    if isinstance(body, A.Block):
        return any(has_continue(s) for s in body.body)
    if isinstance(body, A.If):
        return has_continue(body.consequent) or has_continue(body.alternate)
    if isinstance(body, A.Try):
        return any(has_continue(b) for b in (body.block, body.handler, body.finalizer))
    return False
