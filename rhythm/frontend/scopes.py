"""Scope resolution: which declaration (or built-in) every name refers to.

JavaScript's block scoping, as a JavaScript programmer expects it:
- ``let``/``const`` are scoped to their block and hoisted to its start, with a temporal
  dead zone: using one before its declaration has run is an error (``let x = x`` too).
- An inner declaration shadows an outer one and never touches it.
- A ``for`` head has its own scope (one per loop); the loop body is a block inside it.
- A ``catch`` parameter and the catch block share one scope, as do an arrow's parameters
  and its block body (so ``catch (e) { let e }`` is a duplicate).
- The wrapper parameters of ``workflow(ctx, inputs)`` are aliases of the built-ins
  ``Context`` and ``Inputs``: references to them resolve to :class:`BuiltinRef`.

Errors reported here: undeclared names (with a "did you mean"), use before declaration,
duplicate declarations in one scope, reserved words and built-in names used as names,
assignment to a ``const`` or to a built-in, and a declaration as the lone body of
``if``/``while``/``for`` (JavaScript rejects it too).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Literal

from rhythm.catalog import BUILTIN_NAMES, RESERVED_WORDS
from rhythm.frontend import ast as A
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.walk import children, pattern_names

BindingKind = Literal["let", "const", "catch", "param", "wrapper"]


@dataclass(frozen=True)
class Binding:
    """One declared name; ``id`` is unique within a program."""

    id: int
    name: str
    kind: BindingKind
    span: A.Span


@dataclass(frozen=True)
class BuiltinRef:
    """A reference to a catalog built-in (``Inputs``, ``Task``, ``Math``, ...)."""

    name: str


class Resolution:
    """What each :class:`~rhythm.frontend.ast.Name` node (reference or binding) refers to."""

    def __init__(self) -> None:
        self.bindings: list[Binding] = []
        self._targets: dict[A.Name, Binding | BuiltinRef] = {}

    def binding_of(self, name: A.Name) -> Binding | BuiltinRef:
        """The declaration or built-in ``name`` refers to (KeyError for an unresolved name)."""
        return self._targets[name]

    def get(self, name: A.Name) -> Binding | BuiltinRef | None:
        return self._targets.get(name)

    def _record(self, name: A.Name, target: Binding | BuiltinRef) -> None:
        self._targets[name] = target


def resolve(program: A.Program, path: str = "<input>") -> tuple[Resolution, list[Diagnostic]]:
    """Resolve every name of ``program``; return the resolution and the scope errors."""
    resolver = _Resolver(path)
    resolver.program(program)
    return resolver.resolution, resolver.diags


@dataclass
class _Entry:
    target: Binding | BuiltinRef
    ready: bool  # False between hoisting and the declaration itself (the dead zone)


class _Scope:
    def __init__(self, parent: _Scope | None) -> None:
        self.parent = parent
        self.entries: dict[str, _Entry] = {}

    def lookup(self, name: str) -> _Entry | None:
        scope: _Scope | None = self
        while scope is not None:
            entry = scope.entries.get(name)
            if entry is not None:
                return entry
            scope = scope.parent
        return None

    def visible_names(self) -> set[str]:
        names: set[str] = set()
        scope: _Scope | None = self
        while scope is not None:
            names.update(scope.entries)
            scope = scope.parent
        return names


class _Resolver:
    def __init__(self, path: str) -> None:
        self.path = path
        self.resolution = Resolution()
        self.diags: list[Diagnostic] = []
        self.scope = _Scope(None)

    def error(self, span: A.Span, message: str) -> None:
        self.diags.append(Diagnostic.at(self.path, span, message))

    # ---------------------------------------------------------------- scopes

    def push(self) -> None:
        self.scope = _Scope(self.scope)

    def pop(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def declare(self, name: A.Name, kind: BindingKind, ready: bool) -> None:
        if name.id in RESERVED_WORDS:
            self.error(name.span, f"'{name.id}' is a reserved word and cannot be used as a name")
            return
        if name.id in BUILTIN_NAMES:
            self.error(name.span, f"'{name.id}' is a built-in and cannot be declared")
            return
        binding = Binding(len(self.resolution.bindings), name.id, kind, name.span)
        self.resolution.bindings.append(binding)
        self.resolution._record(name, binding)
        existing = self.scope.entries.get(name.id)
        if existing is not None:
            where = existing.target.span.line if isinstance(existing.target, Binding) else None
            also = f" (line {where})" if where else ""
            self.error(name.span, f"'{name.id}' is already declared in this scope{also}")
            return
        self.scope.entries[name.id] = _Entry(binding, ready)

    def mark_ready(self, name: A.Name) -> None:
        entry = self.scope.entries.get(name.id)
        if entry is not None and entry.target == self.resolution.get(name):
            entry.ready = True

    # ---------------------------------------------------------------- program and statements

    def program(self, program: A.Program) -> None:
        if program.wrapper == "workflow":
            for alias, param in zip(("Context", "Inputs"), program.params, strict=False):
                binding = Binding(len(self.resolution.bindings), param, "wrapper", program.span)
                self.resolution.bindings.append(binding)
                self.scope.entries[param] = _Entry(BuiltinRef(alias), True)
        # The body shares the parameters' scope: `let ctx` there is a duplicate, as in JS.
        self.statements(program.body)

    def statements(self, body: tuple[A.Stmt, ...]) -> None:
        for stmt in body:  # hoist: the whole block is the scope of its declarations
            if isinstance(stmt, A.VarDecl):
                self.hoist(stmt)
        for stmt in body:
            self.stmt(stmt)

    def hoist(self, decl: A.VarDecl) -> None:
        for declarator in decl.declarations:
            for name in pattern_names(declarator.target):
                self.declare(name, decl.kind, ready=False)

    def block(self, block: A.Block) -> None:
        self.push()
        self.statements(block.body)
        self.pop()

    def sub_statement(self, stmt: A.Stmt) -> None:
        """The body of if/while/for: a scope of its own even without braces."""
        if isinstance(stmt, A.VarDecl):
            self.error(stmt.span, f"a '{stmt.kind}' declaration needs a block here: {{ ... }}")
        self.push()
        self.statements((stmt,))
        self.pop()

    def stmt(self, stmt: A.Stmt) -> None:
        if isinstance(stmt, A.VarDecl):
            for declarator in stmt.declarations:
                if declarator.init is not None:
                    self.expr(declarator.init)
                self.bind_pattern(declarator.target)
        elif isinstance(stmt, A.Block):
            self.block(stmt)
        elif isinstance(stmt, A.If):
            self.expr(stmt.test)
            self.sub_statement(stmt.consequent)
            if stmt.alternate is not None:
                self.sub_statement(stmt.alternate)
        elif isinstance(stmt, A.While):
            self.expr(stmt.test)
            self.sub_statement(stmt.body)
        elif isinstance(stmt, A.DoWhile):
            self.sub_statement(stmt.body)
            self.expr(stmt.test)
        elif isinstance(stmt, A.For):
            self.for_loop(stmt)
        elif isinstance(stmt, A.ForOf | A.ForIn):
            self.for_each(stmt)
        elif isinstance(stmt, A.Try):
            self.try_stmt(stmt)
        else:  # ExprStmt, Return, Throw, Break, Continue, Empty
            for child in children(stmt):
                self.expr(child)

    def for_loop(self, stmt: A.For) -> None:
        self.push()
        if isinstance(stmt.init, A.VarDecl):
            self.hoist(stmt.init)
            self.stmt(stmt.init)
        elif stmt.init is not None:
            self.expr(stmt.init)
        for part in (stmt.test, stmt.update):
            if part is not None:
                self.expr(part)
        self.sub_statement(stmt.body)
        self.pop()

    def for_each(self, stmt: A.ForOf | A.ForIn) -> None:
        source = stmt.iterable if isinstance(stmt, A.ForOf) else stmt.object
        self.push()
        if stmt.kind is None:
            self.expr(source)
            self.assign_pattern(stmt.target)
        else:
            for name in pattern_names(stmt.target):
                self.declare(name, stmt.kind, ready=False)
            self.expr(source)  # `for (const x of x)` reads x in its dead zone
            self.bind_pattern(stmt.target)
        self.sub_statement(stmt.body)
        self.pop()

    def try_stmt(self, stmt: A.Try) -> None:
        self.block(stmt.block)
        if stmt.handler is not None:
            self.push()
            if stmt.param is not None:
                for name in pattern_names(stmt.param):
                    self.declare(name, "catch", ready=False)
                self.bind_pattern(stmt.param)
            self.statements(stmt.handler.body)
            self.pop()
        if stmt.finalizer is not None:
            self.block(stmt.finalizer)

    # ---------------------------------------------------------------- patterns

    def bind_pattern(self, pattern: A.Pattern | None) -> None:
        """Evaluate defaults and mark names initialised, in JavaScript's order."""
        if pattern is None:
            return
        if isinstance(pattern, A.Name):
            self.mark_ready(pattern)
        elif isinstance(pattern, A.ObjectPattern):
            for prop in pattern.props:
                if prop.default is not None:
                    self.expr(prop.default)
                self.bind_pattern(prop.target)
        else:
            for elem in pattern.elements:
                if elem.default is not None:
                    self.expr(elem.default)
                self.bind_pattern(elem.target)

    def assign_pattern(self, pattern: A.Pattern) -> None:
        """A pattern that assigns existing names (``for (x of xs)``)."""
        if isinstance(pattern, A.Name):
            self.assign_name(pattern)
            return
        items: list[Any] = list(
            pattern.props if isinstance(pattern, A.ObjectPattern) else pattern.elements
        )
        for item in items:
            if item.default is not None:
                self.expr(item.default)
            if item.target is not None:
                self.assign_pattern(item.target)

    # ---------------------------------------------------------------- expressions

    def expr(self, node: Any) -> None:
        if isinstance(node, A.Name):
            self.reference(node)
        elif isinstance(node, A.Assign | A.Update) and isinstance(node.target, A.Name):
            self.assign_name(node.target)
            if isinstance(node, A.Assign):
                self.expr(node.value)
        elif isinstance(node, A.Arrow):
            self.arrow(node)
        else:
            for child in children(node):
                self.expr(child)

    def arrow(self, node: A.Arrow) -> None:
        self.push()
        for param in node.params:
            for name in pattern_names(param):
                self.declare(name, "param", ready=False)
        for param in node.params:
            self.bind_pattern(param)
        if isinstance(node.body, A.Block):
            self.statements(node.body.body)
        else:
            self.expr(node.body)
        self.pop()

    def reference(self, name: A.Name, assigning: bool = False) -> Binding | BuiltinRef | None:
        if name.id in RESERVED_WORDS:
            self.error(name.span, f"'{name.id}' is a reserved word and cannot be used as a name")
            return None
        entry = self.scope.lookup(name.id)
        if entry is not None:
            if not entry.ready:
                self.error(name.span, f"'{name.id}' is used before its declaration")
            self.resolution._record(name, entry.target)
            return entry.target
        if name.id in BUILTIN_NAMES:
            builtin = BuiltinRef(name.id)
            self.resolution._record(name, builtin)
            return builtin
        message = self.undeclared_message(name.id)
        if assigning and "did you mean" not in message:
            message += f" (declare it first: let {name.id} = ...)"
        self.error(name.span, message)
        return None

    def assign_name(self, name: A.Name) -> None:
        target = self.reference(name, assigning=True)
        if isinstance(target, BuiltinRef):
            alias = "" if target.name == name.id else f" (an alias of the built-in {target.name})"
            self.error(name.span, f"cannot assign to '{name.id}'{alias}: built-ins are read-only")
        elif isinstance(target, Binding) and target.kind == "const":
            self.error(
                name.span,
                f"cannot assign to '{name.id}': it is a constant (line {target.span.line})",
            )

    def undeclared_message(self, name: str) -> str:
        if name == "undefined":
            return "there is no 'undefined' in .flow: use null"
        candidates = self.scope.visible_names() | BUILTIN_NAMES
        close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
        if not close:
            lowered = {c.lower(): c for c in candidates}
            close = [lowered[name.lower()]] if name.lower() in lowered else []
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"undeclared name '{name}'{hint}"
