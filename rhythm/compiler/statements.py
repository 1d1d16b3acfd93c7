"""Lowering of statements: plain Python where nothing can suspend, states where it can.

A statement without ``await`` becomes ordinary Python inside the current state (``while``,
``for``, ``try`` included). A statement with one is *lowered*: its parts become states
joined by jumps (a state method returns the label to run next). ``break``/``continue``/
``return`` find their target on a stack of loops and ``finally`` guards; crossing a
lowered ``finally`` stores a pending completion in the variables dict (see
``FlowMachine.leave``/``end_finally``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from rhythm.compiler.analysis import cannot_be_promise, has_continue
from rhythm.compiler.expressions import (
    BINARY_OPS,
    COMPOUND_OPS,
    CompileFailure,
    ExpressionLowering,
)
from rhythm.compiler.resolve import pattern_names
from rhythm.frontend import ast as A


@dataclass(frozen=True)
class Loop:
    native: bool
    break_label: int | None = None
    continue_label: int | None = None


@dataclass(frozen=True)
class FinallyGuard:
    label: int
    slot: str


@dataclass(frozen=True)
class ArrowBoundary:
    pass


Target = Loop | FinallyGuard | ArrowBoundary

# Statements that add a segment to the identity of the awaits inside (identity.py).
_STRUCTURES: dict[type, str] = {
    A.If: "if", A.While: "while", A.DoWhile: "do", A.For: "for", A.ForOf: "for-of",
    A.ForIn: "for-in", A.Try: "try",
}


class StatementLowering(ExpressionLowering):
    source_lines: list[str]
    file_label: str
    _targets: list[Target]
    _last_comment_line: int

    # ------------------------------------------------------------- dispatch

    def block(self, body: tuple[A.Stmt, ...]) -> None:
        with self.em.holding(*self._declared_keys(body)):
            for stmt in body:
                self.stmt(stmt)

    def body(self, s: A.Stmt) -> None:
        self.block(s.body if isinstance(s, A.Block) else (s,))

    def stmt(self, s: A.Stmt) -> None:
        self.em.flow_line = s.span.line
        if not isinstance(s, A.Block | A.Empty):
            self._source_comment(s.span.line)
        lowered = self.awaits.stmt(s)
        kind = _STRUCTURES.get(type(s))  # counted lowered or not: an await added to a
        # plain one must not shift the ordinals of those after it
        with self.em.holding(), self.ids.structure(kind) if kind else nullcontext():
            method = getattr(self, ("lower_" if lowered else "native_") + type(s).__name__)
            method(s)

    def _source_comment(self, line: int) -> None:
        if line == self._last_comment_line or self.em.terminated:
            return
        self._last_comment_line = line
        text = self.source_lines[line - 1] if 0 < line <= len(self.source_lines) else ""
        self.em.comment(f"{self.file_label}:{line}  {_excerpt(text)}".rstrip())

    def _declared_keys(self, body: tuple[A.Stmt, ...]) -> list[str]:
        keys: list[str] = []
        for stmt in body:
            if isinstance(stmt, A.VarDecl):
                for decl in stmt.declarations:
                    keys.extend(self.key_of(n) for n in pattern_names(decl.target))
        return keys

    # ----------------------------------------------------- shared statements

    def native_Empty(self, s: A.Empty) -> None:
        pass

    lower_Empty = native_Empty

    def native_Block(self, s: A.Block) -> None:
        self.block(s.body)

    lower_Block = native_Block

    def native_VarDecl(self, s: A.VarDecl) -> None:
        for decl in s.declarations:
            self.em.flow_line = decl.span.line
            init = self.value(decl.init) if decl.init is not None else "None"
            self.bind(decl.target, init)

    lower_VarDecl = native_VarDecl

    def native_ExprStmt(self, s: A.ExprStmt) -> None:
        e = s.expr
        if isinstance(e, A.Assign) and e.op == "=" and isinstance(e.target, A.Name):
            self.em.line(f"{self.var(self.key_of(e.target))} = {self.value(e.value)}")
        elif (
            isinstance(e, A.Assign)
            and e.op in COMPOUND_OPS
            and isinstance(e.target, A.Name)
            and not self.awaits.expr(e.value)
        ):
            key = self.var(self.key_of(e.target))
            op = BINARY_OPS[COMPOUND_OPS[e.op]]
            self.em.line(f"{key} = ops.{op}({key}, {self.pure(e.value)})")
        elif isinstance(e, A.Update) and isinstance(e.target, A.Name):
            key = self.var(self.key_of(e.target))
            self.em.line(f"{key} = {'ops.inc' if e.op == '++' else 'ops.dec'}({key})")
        else:
            code = self.value(e)
            if not (code.startswith("v['#t") and code.count("[") == 1):
                self.em.line(code)  # self.received() too: it may raise the rejection

    lower_ExprStmt = native_ExprStmt

    def native_Throw(self, s: A.Throw) -> None:
        self.em.line(f"raise FlowThrow({self.value(s.value)})")

    lower_Throw = native_Throw

    def native_Return(self, s: A.Return) -> None:
        boundary = self._innermost(ArrowBoundary)
        code = self.value(s.value) if s.value is not None else "None"
        if boundary:
            self.em.line(f"return {code}")
            return
        route = self._route(stop_at=None)
        settled = s.value is None or cannot_be_promise(s.value)
        if not route:
            if settled:
                self.em.line(f"return self.done({code})")
                return
            resume = self.em.new_label("return_value")
            state = self.em.side_state(resume, ["return self.done(self.received())"])
            self.mark_resume(state, s.span, lambda: self.ids.of_return(s.span.line))
            self.em.line(f"return self.finish({code}, {self.em.ref(resume)})")
            return
        if settled:
            self.em.line(f'return self.leave(v, "return", {code}, {route})')
            return
        resume = self.em.new_label("return_value")
        state = self.em.side_state(
            resume, [f'return self.leave(v, "return", self.received(), {route})'])
        self.mark_resume(state, s.span, lambda: self.ids.of_return(s.span.line))
        self.em.line(f"return self.await_({code}, {self.em.ref(resume)})")

    lower_Return = native_Return

    def native_Break(self, s: A.Break) -> None:
        self._jump_out(is_break=True)

    lower_Break = native_Break

    def native_Continue(self, s: A.Continue) -> None:
        self._jump_out(is_break=False)

    lower_Continue = native_Continue

    def _jump_out(self, is_break: bool) -> None:
        loop = self._innermost(Loop)
        if loop is None:
            raise CompileFailure(None, "break/continue outside a loop")
        if loop.native:
            self.em.line("break" if is_break else "continue")
            return
        label = loop.break_label if is_break else loop.continue_label
        assert label is not None
        route = self._route(stop_at=loop)
        if route:
            self.em.line(f'return self.leave(v, "jump", {self.em.ref(label)}, {route})')
        else:
            self.em.jump(label)

    def _innermost(self, kind: type) -> Any:
        for target in reversed(self._targets):
            if isinstance(target, kind):
                return target
            if isinstance(target, ArrowBoundary):
                return None
        return None

    def _route(self, stop_at: Loop | None) -> str:
        """The lowered ``finally`` blocks crossed on the way out, innermost first."""
        hops: list[str] = []
        for target in reversed(self._targets):
            if target is stop_at or isinstance(target, ArrowBoundary):
                break
            if isinstance(target, FinallyGuard):
                hops.append(f"[{self.em.ref(target.label)}, {target.slot!r}]")
        return "[" + ", ".join(hops) + "]" if hops else ""

    @contextmanager
    def _target(self, target: Target) -> Iterator[None]:
        self._targets.append(target)
        try:
            yield
        finally:
            self._targets.pop()

    # ------------------------------------------------------ native control

    def native_If(self, s: A.If) -> None:
        with self.em.indented(f"if ops.truthy({self.pure(s.test)}):"):
            self.body(s.consequent)
        if s.alternate is not None:
            with self.em.indented("else:"):
                self.body(s.alternate)

    def native_While(self, s: A.While) -> None:
        with (
            self.em.indented(f"while ops.truthy({self.pure(s.test)}):"),
            self._target(Loop(native=True)),
        ):
            self.em.line("self.tick()")
            self.body(s.body)

    def native_DoWhile(self, s: A.DoWhile) -> None:
        first = self.em.fresh("_first")
        self.em.line(f"{first} = True")
        with self.em.indented(f"while {first} or ops.truthy({self.pure(s.test)}):"):
            self.em.line(f"{first} = False")
            self.em.line("self.tick()")
            with self._target(Loop(native=True)):
                self.body(s.body)

    def native_For(self, s: A.For) -> None:
        with self.em.holding(*self._for_keys(s)):
            self._for_init(s)
            test = self.pure(s.test) if s.test is not None else "True"
            if not has_continue(s.body):
                with self.em.indented(f"while ops.truthy({test}):" if s.test else "while True:"):
                    self.em.line("self.tick()")
                    with self._target(Loop(native=True)):
                        self.body(s.body)
                    if s.update is not None:
                        self._expression_statement(s.update)
                return
            again = self.em.fresh("_again")
            self.em.line(f"{again} = False")
            with self.em.indented("while True:"):
                with self.em.indented(f"if {again}:"):
                    if s.update is not None:
                        self._expression_statement(s.update)
                self.em.line(f"{again} = True")
                if s.test is not None:
                    with self.em.indented(f"if not ops.truthy({test}):"):
                        self.em.line("break")
                self.em.line("self.tick()")
                with self._target(Loop(native=True)):
                    self.body(s.body)

    def native_ForOf(self, s: A.ForOf) -> None:
        self._native_each(s, f"ops.iter_of({self.pure(s.iterable)})")

    def native_ForIn(self, s: A.ForIn) -> None:
        self._native_each(s, f"ops.keys_in({self.pure(s.object)})")

    def _native_each(self, s: A.ForOf | A.ForIn, items: str) -> None:
        item = self.em.fresh("_item")
        with (
            self.em.holding(*self._pattern_keys(s.target)),
            self.em.indented(f"for {item} in {items}:"),
        ):
            self.em.line("self.tick()")
            self.bind(s.target, item)
            with self._target(Loop(native=True)):
                self.body(s.body)

    def native_Try(self, s: A.Try) -> None:
        with self.em.indented("try:"):
            self.block(s.block.body)
        if s.handler is not None:
            error = self.em.fresh("_error")
            with (
                self.em.indented(f"except FlowThrow as {error}:"),
                self.em.holding(*self._pattern_keys(s.param)),
            ):
                if s.param is not None:
                    self.bind(s.param, f"{error}.value")
                self.block(s.handler.body)
        if s.finalizer is not None:
            with self.em.indented("finally:"):
                self.block(s.finalizer.body)

    # ----------------------------------------------------- lowered control

    def lower_If(self, s: A.If) -> None:
        test = self.value(s.test)
        end = self.em.new_label("after_if")
        otherwise = self.em.new_label("else") if s.alternate is not None else end
        with self.em.indented(f"if not ops.truthy({test}):"):
            self.em.jump(otherwise)
        with self.ids.part("then"):
            self.body(s.consequent)
        if s.alternate is not None:
            self.em.jump(end)
            self.em.place(otherwise)
            with self.ids.part("else"):
                self.body(s.alternate)
        self.em.place(end)

    def lower_While(self, s: A.While) -> None:
        head, end = self.em.new_label("loop"), self.em.new_label("after_loop")
        self.em.place(head)
        self.em.line("self.tick()")
        with self.em.holding():
            self._exit_unless(self.value(s.test), end)
        with self._target(Loop(False, end, head)):
            self.body(s.body)
        self.em.jump(head)
        self.em.place(end)

    def lower_DoWhile(self, s: A.DoWhile) -> None:
        head = self.em.new_label("loop")
        test, end = self.em.new_label("loop_test"), self.em.new_label("after_loop")
        self.em.place(head)
        self.em.line("self.tick()")
        with self._target(Loop(False, end, test)):
            self.body(s.body)
        self.em.place(test)
        with self.em.holding(), self.em.indented(f"if ops.truthy({self.value(s.test)}):"):
            self.em.jump(head)
        self.em.place(end)

    def lower_For(self, s: A.For) -> None:
        with self.em.holding(*self._for_keys(s)):
            self._for_init(s)
            head, end = self.em.new_label("loop"), self.em.new_label("after_loop")
            update = self.em.new_label("loop_update")
            self.em.place(head)
            self.em.line("self.tick()")
            if s.test is not None:
                with self.em.holding():
                    self._exit_unless(self.value(s.test), end)
            with self._target(Loop(False, end, update)):
                self.body(s.body)
            self.em.place(update)
            if s.update is not None:
                with self.em.holding():
                    self._expression_statement(s.update)
            self.em.jump(head)
            self.em.place(end)

    def lower_ForOf(self, s: A.ForOf) -> None:
        with self.em.holding():
            items = f"ops.iter_of({self.value(s.iterable)})"
        self._lowered_each(s, items)

    def lower_ForIn(self, s: A.ForIn) -> None:
        with self.em.holding():
            items = f"ops.keys_in({self.value(s.object)})"
        self._lowered_each(s, items)

    def _lowered_each(self, s: A.ForOf | A.ForIn, items: str) -> None:
        items_key, index_key = self.em.fresh("#items"), self.em.fresh("#index")
        self.em.line(f"{self.var(items_key)} = {items}")
        self.em.line(f"{self.var(index_key)} = 0")
        with self.em.holding(items_key, index_key, *self._pattern_keys(s.target)):
            head, end = self.em.new_label("loop"), self.em.new_label("after_loop")
            self.em.place(head)
            self.em.line("self.tick()")
            items_ref, index_ref = self.var(items_key), self.var(index_key)
            with self.em.indented(f"if {index_ref} >= len({items_ref}):"):
                self.em.jump(end)
            self.em.line(f"{index_ref} += 1")
            with self.em.holding():
                self.bind(s.target, f"{items_ref}[{index_ref} - 1]")
            with self._target(Loop(False, end, head)):
                self.body(s.body)
            self.em.jump(head)
        self.em.place(end)

    def lower_Try(self, s: A.Try) -> None:
        slot = self.em.fresh("#completion") if s.finalizer is not None else None
        catch = self.em.new_label("catch") if s.handler is not None else None
        final = self.em.new_label("finally") if s.finalizer is not None else None
        end = self.em.new_label("after_try")
        after_body = final if final is not None else end
        outer = self.em.handler
        in_try = (catch, None) if catch is not None else (final, slot)
        guard = FinallyGuard(final, slot) if final is not None and slot else None
        with self.em.region(in_try):  # type: ignore[arg-type]
            self.em.place(self.em.new_label("try"))
            with self._guarded_by(guard), self.ids.part("body"):
                self.block(s.block.body)
            self._normal_exit(slot, after_body)
        if catch is not None and s.handler is not None:
            with self.em.region((final, slot) if final is not None else outer):
                self.em.place(catch)
                with (
                    self._guarded_by(guard),
                    self.em.holding(*self._pattern_keys(s.param)),
                    self.ids.part("catch"),
                ):
                    if s.param is not None:
                        self.bind(s.param, "self.take_caught()")
                    else:
                        self.em.line("self.take_caught()")
                    self.block(s.handler.body)
                self._normal_exit(slot, after_body)
        if final is not None and slot is not None and s.finalizer is not None:
            self.em.place(final)
            with self.em.holding(slot), self.ids.part("finally"):
                self.block(s.finalizer.body)
                self.em.line(f"return self.end_finally(v, {slot!r}, {self.em.ref(end)})")
        self.em.place(end)

    @contextmanager
    def _guarded_by(self, guard: FinallyGuard | None) -> Iterator[None]:
        if guard is None:
            yield
            return
        with self._target(guard):
            yield

    def _normal_exit(self, slot: str | None, label: int) -> None:
        if slot is not None:
            self.em.line(f"{self.var(slot)} = None")
        self.em.jump(label)

    def _exit_unless(self, test: str, end: int) -> None:
        with self.em.indented(f"if not ops.truthy({test}):"):
            self.em.jump(end)

    # ------------------------------------------------------------- helpers

    def _expression_statement(self, e: A.Expr) -> None:
        self.native_ExprStmt(A.ExprStmt(e.span, e))

    def _for_init(self, s: A.For) -> None:
        if isinstance(s.init, A.VarDecl):
            self.stmt(s.init)
        elif s.init is not None:
            self.stmt(A.ExprStmt(s.init.span, s.init))

    def _for_keys(self, s: A.For) -> list[str]:
        if isinstance(s.init, A.VarDecl):
            return self._declared_keys((s.init,))
        return []

    def _pattern_keys(self, p: A.Pattern | None) -> list[str]:
        return [self.key_of(n) for n in pattern_names(p)]

    def bind(self, target: A.Pattern, code: str) -> None:
        """Assign ``code`` (evaluated once, now) to a name or destructuring pattern."""
        if isinstance(target, A.Name):
            key = self.key_of(target)
            self.em.line(f"{self.var(key)} = {code}")
            self.bound.add(key)
            return
        if self.awaits.pattern(target):
            source = self.spill(code)
        else:
            source = self.em.fresh("_source")
            self.em.line(f"{source} = {code}")
        if isinstance(target, A.ObjectPattern):
            for prop in target.props:
                self._bind_part(prop.target, f"ops.get({source}, {prop.key!r})", prop.default)
        else:
            for index, elem in enumerate(target.elements):
                if elem.target is not None:
                    self._bind_part(elem.target, f"ops.get({source}, {index})", elem.default)

    def _bind_part(self, target: A.Pattern, read: str, default: A.Expr | None) -> None:
        if default is None:
            self.bind(target, read)
        elif not self.awaits.expr(default):
            self.bind(target, self._logical("??", read, self.pure(default)))
        else:
            current = self.em.temp()
            self.em.line(f"{self.var(current)} = {read}")
            end = self.em.new_label("after_default")
            with self.em.indented(f"if {self.var(current)} is not None:"):
                self.em.jump(end)
            self.em.line(f"{self.var(current)} = {self.value(default)}")
            self.em.place(end)
            self.bind(target, self.var(current))

    # --------------------------------------------------------------- arrows

    def arrow(self, e: A.Arrow) -> str:
        name = self.em.fresh("_callback")
        with (
            self.em.indented(f"def {name}(*args):"),
            self._target(ArrowBoundary()),
            self.ids.part("arrow"),  # its statements never count among the enclosing ones
        ):
            self.em.line("self.tick()")
            if e.params:
                if all(isinstance(p, A.Name) for p in e.params):
                    names = [p for p in e.params if isinstance(p, A.Name)]
                    keys = ", ".join(self.var(self.key_of(p)) for p in names)
                    comma = "," if len(names) == 1 else ""
                    self.em.line(f"{keys}{comma} = m.params(args, {len(names)})")
                else:
                    values = self.em.fresh("_args")
                    self.em.line(f"{values} = m.params(args, {len(e.params)})")
                    for index, param in enumerate(e.params):
                        self.bind(param, f"{values}[{index}]")
            if isinstance(e.body, A.Block):
                self.block(e.body.body)
            else:
                self.em.line(f"return {self.pure(e.body)}")
        return name


def _excerpt(text: str) -> str:
    """A source line made safe for a Python comment: printable ASCII, at most 70 chars."""
    cleaned = "".join(ch if " " <= ch <= "~" else "?" for ch in text.strip())
    return cleaned if len(cleaned) <= 70 else cleaned[:67] + "..."
