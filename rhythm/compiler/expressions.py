"""Lowering of expressions to Python expression text.

Two modes share one table of node translations (``_combine``):

- ``pure(e)`` for an expression without ``await``: one Python expression, evaluated in
  place (optional chains and short-circuits use ``:=`` on method-local names);
- ``value(e)`` for an expression that contains an ``await``: operands are evaluated left to
  right into temporaries of the variables dict, so that nothing computed before a suspension
  is computed again after it, and ``await`` ends the current state.

User text never becomes Python syntax: names become keys of the variables dict, and every
string (keys, member names, literals) is written with ``repr()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rhythm import catalog
from rhythm.compiler.analysis import AwaitIndex
from rhythm.compiler.emitter import Emitter
from rhythm.compiler.identity import AwaitIdentities, IdentityError
from rhythm.compiler.model import State
from rhythm.compiler.resolve import Binding, BuiltinRef, Resolution, expr_children
from rhythm.errors import CompileError
from rhythm.frontend import ast as A

# Namespace members whose ops function takes the host first.
HOST_MEMBERS = {
    ("Task", "run"): "task_run",
    ("Workflow", "run"): "workflow_run",
    ("Timer", "delay"): "timer_delay",
    ("Timer", "until"): "timer_until",
    ("Signal", "next"): "signal_next",
    ("Signal", "when"): "signal_when",
    ("Promise", "all"): "promise_all",
    ("Promise", "allSettled"): "promise_allSettled",
    ("Promise", "race"): "promise_race",
    ("Promise", "any"): "promise_any",
    ("Math", "random"): "math_random",
    ("Date", "now"): "date_now",
    ("console", "log"): "console_log",
}
HOST_FUNCTIONS = {"task": "fn_task", "sleep": "fn_sleep"}

BINARY_OPS = {
    "+": "add",
    "-": "sub",
    "*": "mul",
    "/": "div",
    "%": "mod",
    "**": "pow",
    "==": "eq",
    "===": "eq",
    "!=": "ne",
    "!==": "ne",
    "<": "lt",
    "<=": "le",
    ">": "gt",
    ">=": "ge",
}
UNARY_OPS = {"!": "not_", "-": "neg", "+": "pos", "typeof": "type_of"}
COMPOUND_OPS = {"+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "**=": "**"}


@dataclass(frozen=True)
class Raw:
    """A Python expression made by the lowering itself (e.g. a destructuring read)."""

    code: str


class CompileFailure(CompileError):
    """A construct the compiler cannot lower (the checker should have rejected it)."""

    def __init__(self, span: A.Span | None, message: str) -> None:
        super().__init__(message)
        self.span = span
        self.message = message


class ExpressionLowering:
    em: Emitter
    awaits: AwaitIndex
    resolution: Resolution
    _keys: dict[int, str]
    _name_uses: dict[str, int]
    ids: AwaitIdentities
    bound: set[str]  # keys whose declaration was lowered already (source order)

    # ----------------------------------------------------------------- names

    def key_of(self, name: A.Name) -> str:
        """The variables-dict key of the binding ``name`` refers to or declares."""
        binding = self.resolution.binding_of(name)
        if not isinstance(binding, Binding):
            raise CompileFailure(name.span, f"'{name.id}' is a built-in and cannot be assigned")
        key = self._keys.get(binding.id)
        if key is None:
            uses = self._name_uses.get(binding.name, 0) + 1
            self._name_uses[binding.name] = uses
            key = binding.name if uses == 1 else f"{binding.name}@{uses}"
            self._keys[binding.id] = key
        return key

    def builtin_of(self, name: A.Name) -> str | None:
        binding = self.resolution.binding_of(name)
        return binding.name if isinstance(binding, BuiltinRef) else None

    def var(self, key: str) -> str:
        return f"v[{key!r}]"

    # ------------------------------------------------------------ pure mode

    def pure(self, e: Any) -> str:
        if isinstance(e, Raw):
            return e.code
        if isinstance(e, A.OptionalChain):
            return self._chain(e.expr, lambda code: code)
        if isinstance(e, A.Logical):
            return self._logical(e.op, self.pure(e.left), self.pure(e.right))
        if isinstance(e, A.Conditional):
            test, yes, no = (self.pure(x) for x in (e.test, e.consequent, e.alternate))
            return f"({yes} if ops.truthy({test}) else {no})"
        if isinstance(e, A.Assign):
            return self._assign_expr(e, None)
        if isinstance(e, A.Update):
            return self._update_expr(e, None)
        if isinstance(e, A.Arrow):
            return self.arrow(e)
        if isinstance(e, A.Await):
            raise CompileFailure(e.span, "await is not allowed here")
        return self._combine(e, [self.pure(c) for c in self._operands(e)])

    def _logical(self, op: str, left: str, right: str) -> str:
        t = self.em.fresh("_l")
        if op == "&&":
            return f"({right} if ops.truthy({t} := {left}) else {t})"
        if op == "||":
            return f"({t} if ops.truthy({t} := {left}) else {right})"
        return f"({t} if ({t} := {left}) is not None else {right})"

    def _chain(self, e: Any, rest: Any) -> str:
        """An optional chain: a null left of any ``?.`` makes the whole chain null."""

        def guard(code: str, optional: bool, then: Any) -> str:
            if not optional:
                return str(then(code))
            t = self.em.fresh("_o")
            return f"(None if ({t} := {code}) is None else {then(t)})"

        if isinstance(e, A.Member):
            return self._chain(
                e.object,
                lambda o: guard(o, e.optional, lambda x: rest(self._member(e.object, x, e))),
            )
        if isinstance(e, A.Index):
            key = self.pure(e.index)
            return self._chain(
                e.object, lambda o: guard(o, e.optional, lambda x: rest(f"ops.get({x}, {key})"))
            )
        if (
            isinstance(e, A.Call)
            and isinstance(e.callee, A.Member | A.Index)
            and not (self._builtin_callee(e.callee))
        ):
            callee = e.callee
            args = [self.pure(a) for a in e.args]

            def method(first: str, later: str) -> str:
                """``o.f(...)``; with ``o.f?.()``, null when ``o.f`` is null."""
                if not e.optional:
                    return str(rest(self._method_call(first, callee, args, None)))
                key = (
                    repr(callee.property)
                    if isinstance(callee, A.Member)
                    else self.pure(callee.index)
                )
                call = self._method_call(later, callee, args, None)
                return f"(None if ops.get({first}, {key}) is None else {rest(call)})"

            def call_on(obj: str) -> str:
                if callee.optional:
                    return guard(obj, True, lambda o: method(o, o))
                if not e.optional or obj.startswith("v[") or obj.isidentifier():
                    return method(obj, obj)
                local = self.em.fresh("_o")
                return method(f"({local} := {obj})", local)

            return self._chain(callee.object, call_on)
        if isinstance(e, A.Call) and e.optional:
            args = [self.pure(a) for a in e.args]
            return self._chain(
                e.callee, lambda f: guard(f, True, lambda x: rest(self._call_value(x, args)))
            )
        return str(rest(self.pure(e)))

    # --------------------------------------------------------- shared table

    def _operands(self, e: Any) -> list[Any]:
        """Operands evaluated strictly left to right before the node itself."""
        if isinstance(e, A.Call):
            if self._builtin_callee(e.callee):
                return list(e.args)
            if isinstance(e.callee, A.Member):
                return [e.callee.object, *e.args]
            if isinstance(e.callee, A.Index):
                return [e.callee.object, e.callee.index, *e.args]
            return [e.callee, *e.args]
        if isinstance(e, A.Member) and self._builtin_constant(e):
            return []
        return expr_children(e)

    def _combine(self, e: Any, parts: list[str]) -> str:
        if isinstance(e, A.NumberLit):
            return repr(e.value)
        if isinstance(e, A.StringLit):
            return repr(e.value)
        if isinstance(e, A.BoolLit):
            return "True" if e.value else "False"
        if isinstance(e, A.NullLit):
            return "None"
        if isinstance(e, A.TemplateLit):
            return self._template(e, parts)
        if isinstance(e, A.ArrayLit):
            return "[" + ", ".join(parts) + "]"
        if isinstance(e, A.ObjectLit):
            return self._object(e, parts)
        if isinstance(e, A.Name):
            return self._name_value(e)
        if isinstance(e, A.Member):
            constant = self._builtin_constant(e)
            return constant if constant else self._member(e.object, parts[0], e)
        if isinstance(e, A.Index):
            return f"ops.get({parts[0]}, {parts[1]})"
        if isinstance(e, A.Call):
            return self._call(e, parts)
        if isinstance(e, A.Unary):
            return f"ops.{UNARY_OPS[e.op]}({parts[0]})"
        if isinstance(e, A.Binary):
            return f"ops.{BINARY_OPS[e.op]}({parts[0]}, {parts[1]})"
        raise CompileFailure(e.span, f"cannot compile {type(e).__name__} here")

    def _template(self, e: A.TemplateLit, parts: list[str]) -> str:
        pieces: list[str] = []
        for index, quasi in enumerate(e.quasis):
            if quasi:
                pieces.append(repr(quasi))
            if index < len(parts):
                pieces.append(parts[index])
        return f"ops.template({', '.join(pieces)})"

    def _object(self, e: A.ObjectLit, parts: list[str]) -> str:
        items: list[str] = []
        cursor = iter(parts)
        for prop in e.props:
            key = repr(prop.key) if isinstance(prop.key, str) else f"ops.to_str({next(cursor)})"
            items.append(f"{key}: {next(cursor)}")
        return "{" + ", ".join(items) + "}"

    def _name_value(self, e: A.Name) -> str:
        builtin = self.builtin_of(e)
        if builtin == "Inputs":
            return "self.host.inputs"
        if builtin == "Context":
            return "self.host.context"
        if builtin is not None:
            return self._builtin_value(builtin)
        return self.var(self.key_of(e))

    def _builtin_namespace(self, e: Any) -> str | None:
        if isinstance(e, A.Name):
            name = self.builtin_of(e)
            if name in catalog.NAMESPACES:
                return name
        return None

    def _builtin_constant(self, e: A.Member) -> str | None:
        namespace = self._builtin_namespace(e.object)
        if namespace is None:
            return None
        if e.property in catalog.NAMESPACE_CONSTANTS.get(namespace, ()):
            return f"ops.{namespace.upper()}_{e.property}"
        if e.property in catalog.NAMESPACES[namespace]:
            return self._builtin_value(f"{namespace}.{e.property}")
        raise CompileFailure(e.span, f"unknown built-in {namespace}.{e.property}")

    def _builtin_value(self, qualified: str) -> str:
        """A built-in function used as a value (``typeof Math.max``, ``xs.map(String)``)."""
        if qualified in catalog.NAMESPACES:
            raise CompileFailure(None, f"'{qualified}' cannot be used as a value")
        return f"ops.builtin_function({qualified!r}, self.host)"

    def _builtin_callee(self, callee: Any) -> bool:
        if isinstance(callee, A.Member) and self._builtin_namespace(callee.object):
            return True
        return isinstance(callee, A.Name) and self.builtin_of(callee) is not None

    def _member(self, obj_expr: Any, obj: str, e: A.Member) -> str:
        return f"ops.get({obj}, {e.property!r})"

    def _call(self, e: A.Call, parts: list[str]) -> str:
        callee = e.callee
        if isinstance(callee, A.Member) and (ns := self._builtin_namespace(callee.object)):
            host_fn = HOST_MEMBERS.get((ns, callee.property))
            if host_fn:
                return f"ops.{host_fn}({', '.join(['self.host', *parts])})"
            if callee.property not in catalog.NAMESPACES[ns]:
                raise CompileFailure(callee.span, f"unknown built-in {ns}.{callee.property}")
            return f"ops.{ns.lower()}_{callee.property}({', '.join(parts)})"
        if isinstance(callee, A.Name) and (fn := self.builtin_of(callee)):
            if fn in HOST_FUNCTIONS:
                return f"ops.{HOST_FUNCTIONS[fn]}({', '.join(['self.host', *parts])})"
            if fn not in catalog.FUNCTIONS:
                raise CompileFailure(callee.span, f"'{fn}' is not a function")
            return f"ops.fn_{fn}({', '.join(parts)})"
        if isinstance(callee, A.Member | A.Index):
            key_parts = 2 if isinstance(callee, A.Index) else 1
            return self._method_call(parts[0], callee, parts[key_parts:], parts[1:key_parts])
        return self._call_value(parts[0], parts[1:])

    def _method_call(self, obj: str, callee: Any, args: list[str], key: list[str] | None) -> str:
        if isinstance(callee, A.Member):
            return f"ops.call_method({obj}, {callee.property!r}, [{', '.join(args)}])"
        index = key[0] if key else self.pure(callee.index)
        return f"ops.call_method({obj}, ops.to_str({index}), [{', '.join(args)}])"

    def _call_value(self, fn: str, args: list[str]) -> str:
        return f"ops.call({fn}, [{', '.join(args)}])"

    # --------------------------------------------------------- assignments

    def _assign_expr(self, e: A.Assign, parts: list[str] | None) -> str:
        """An assignment used for its value.

        ``parts`` are the target's operands (object, index) already evaluated and kept in
        temporaries by value mode; in pure mode they are evaluated once here, through
        ``:=``, so ``o[f()] += 1`` calls ``f`` once.
        """
        target = e.target
        if isinstance(target, A.Name):
            key = self.key_of(target)
            if e.op == "=":
                return f"m.assign(v, {key!r}, {self.pure(e.value)})"
            current = self.var(key)
            if e.op in ("??=", "||=", "&&="):
                write = f"m.assign(v, {key!r}, {self.pure(e.value)})"
                return self._logical(e.op[:2], current, write)
            combined = f"ops.{BINARY_OPS[COMPOUND_OPS[e.op]]}({current}, {self.pure(e.value)})"
            return f"m.assign(v, {key!r}, {combined})"
        first, again = self._target_refs(target, parts, reuse=e.op != "=")
        if e.op == "=":
            return f"m.assign_member({first[0]}, {first[1]}, {self.pure(e.value)})"
        if e.op in ("??=", "||=", "&&="):
            write = f"m.assign_member({again[0]}, {again[1]}, {self.pure(e.value)})"
            return self._logical(e.op[:2], f"ops.get({first[0]}, {first[1]})", write)
        current = f"ops.get({again[0]}, {again[1]})"
        combined = f"ops.{BINARY_OPS[COMPOUND_OPS[e.op]]}({current}, {self.pure(e.value)})"
        return f"m.assign_member({first[0]}, {first[1]}, {combined})"

    def _target_operands(self, target: Any) -> list[Any]:
        if isinstance(target, A.Member):
            return [target.object]
        if isinstance(target, A.Index):
            return [target.object, target.index]
        return []

    def _target_refs(
        self, target: Any, parts: list[str] | None, reuse: bool
    ) -> tuple[list[str], list[str]]:
        """(first use, later uses) of a member target's object and key."""
        if parts is None:
            parts = [self.pure(x) for x in self._target_operands(target)]
            if reuse:
                first, again = [], []
                for code in parts:
                    if code.startswith("v[") or code[:1].isdigit() or code[:1] in "'\"":
                        first.append(code)
                        again.append(code)
                    else:
                        local = self.em.fresh("_a")
                        first.append(f"({local} := {code})")
                        again.append(local)
                parts, later = first, again
            else:
                later = parts
        else:
            later = parts
        if isinstance(target, A.Member):
            return [parts[0], repr(target.property)], [later[0], repr(target.property)]
        return parts[:2], later[:2]

    def _update_expr(self, e: A.Update, parts: list[str] | None) -> str:
        step = "ops.inc" if e.op == "++" else "ops.dec"
        prefix = "True" if e.prefix else "False"
        if isinstance(e.target, A.Name):
            return f"m.update(v, {self.key_of(e.target)!r}, {step}, {prefix})"
        first, _ = self._target_refs(e.target, parts, reuse=False)
        return f"m.update_member({first[0]}, {first[1]}, {step}, {prefix})"

    # --------------------------------------------------------------- arrows

    def mark_resume(self, state: State | None, span: A.Span, identity: Callable[[], str]) -> None:
        """Give a resume state its await identity (shown in a comment at its top) and the
        live keys bound before the await (the ones an upgrade must find a value for)."""
        assert state is not None and state.live is not None
        try:
            state.identity = identity()
        except IdentityError as err:
            raise CompileFailure(span, str(err)) from None
        state.needs = tuple(k for k in state.live if k.startswith("#") or k in self.bound)
        shown = "".join(ch if " " <= ch <= "~" else "?" for ch in state.identity)
        state.lines.insert(0, f"# await {shown}")  # (a task name may hold a line break)

    def arrow(self, e: A.Arrow) -> str:
        """Define a closure before the current line; arrows are synchronous (no await)."""
        raise NotImplementedError  # provided by the statement lowering

    # ------------------------------------------------------------ value mode

    def value(self, e: Any) -> str:
        """Python text for ``e``; parts that contain an await are lowered into states."""
        if not self.awaits.expr(e):
            return self.pure(e)
        if isinstance(e, A.Await):
            operand = self.value(e.operand)
            return self.await_value(operand, self._await_hint(e.operand), e)
        if isinstance(e, A.Logical):
            return self._lowered_logical(e)
        if isinstance(e, A.Conditional):
            return self._lowered_conditional(e)
        if isinstance(e, A.OptionalChain):
            return self._lowered_chain(e)
        if isinstance(e, A.Assign):
            return self._lowered_assign(e)
        if isinstance(e, A.Update):
            return self._update_expr(e, self.ordered(self._target_operands(e.target)))
        return self._combine(e, self.ordered(self._operands(e)))

    def ordered(self, operands: list[Any]) -> list[str]:
        """Evaluate operands left to right; those before the last await are kept in temps."""
        last = max((i for i, x in enumerate(operands) if self.awaits.expr(x)), default=-1)
        parts: list[str] = []
        for index, operand in enumerate(operands):
            if index < last and isinstance(operand, A.Arrow):
                parts.append("")  # defined after the awaits: a closure never enters a snapshot
                continue
            code = self.value(operand)
            if index < last and not _is_constant(operand):
                code = self.spill(code)
            parts.append(code)
        for index, operand in enumerate(operands):
            if index < last and isinstance(operand, A.Arrow):
                parts[index] = self.arrow(operand)
        return parts

    def spill(self, code: str) -> str:
        if code.startswith("v['#t") and code.endswith("']") and code.count("[") == 1:
            return code
        key = self.em.temp()
        self.em.line(f"{self.var(key)} = {code}")
        return self.var(key)

    def await_value(self, operand: str, hint: str, node: A.Await) -> str:
        resume = self.em.new_label(hint)
        self.em.line(f"return self.await_({operand}, {self.em.ref(resume)})")
        self.em.place(resume, resume=True)
        self.mark_resume(self.em.current, node.span, lambda: self.ids.of_await(node.operand,
                                                                               node.span.line))
        # Called exactly once: the caller spills it or uses it before anything else runs.
        return "self.received()"

    def _await_hint(self, operand: Any) -> str:
        """``after_<task name>`` for ``await Task.run("name")``, else ``after_await``."""
        if isinstance(operand, A.Call) and operand.args:
            first = operand.args[0]
            if isinstance(first, A.StringLit):
                return "after_" + first.value
        if isinstance(operand, A.Call) and isinstance(operand.callee, A.Member):
            return "after_" + operand.callee.property
        return "after_await"

    def _lowered_logical(self, e: A.Logical) -> str:
        result = self.em.temp()
        self.em.line(f"{self.var(result)} = {self.value(e.left)}")
        if not self.awaits.expr(e.right):
            right = self.pure(e.right)
            self.em.line(f"{self.var(result)} = {self._logical(e.op, self.var(result), right)}")
            return self.var(result)
        end = self.em.new_label("after_" + {"&&": "and", "||": "or", "??": "nullish"}[e.op])
        self._skip_unless_needed(e.op, self.var(result), end)
        self.em.line(f"{self.var(result)} = {self.value(e.right)}")
        self.em.place(end)
        return self.var(result)

    def _skip_unless_needed(self, op: str, current: str, end: int) -> None:
        test = {
            "&&": f"not ops.truthy({current})",
            "||": f"ops.truthy({current})",
            "??": f"{current} is not None",
        }[op]
        with self.em.indented(f"if {test}:"):
            self.em.jump(end)

    def _lowered_assign(self, e: A.Assign) -> str:
        """JavaScript order: target object and key, current value (compound), then the value."""
        operands = self._target_operands(e.target)
        parts = [self.spill(code) for code in self.ordered(operands)] if operands else []
        if isinstance(e.target, A.Name):
            key = self.key_of(e.target)
            read, write = self.var(key), lambda value: f"m.assign(v, {key!r}, {value})"
        else:
            (obj, prop), _ = self._target_refs(e.target, parts, reuse=False)
            read = f"ops.get({obj}, {prop})"

            def write(value: str) -> str:
                return f"m.assign_member({obj}, {prop}, {value})"

        if e.op == "=":
            return write(self.value(e.value))
        if e.op in ("??=", "||=", "&&="):
            result = self.em.temp()
            self.em.line(f"{self.var(result)} = {read}")
            end = self.em.new_label("after_assign")
            self._skip_unless_needed(e.op[:2], self.var(result), end)
            self.em.line(f"{self.var(result)} = {write(self.value(e.value))}")
            self.em.place(end)
            return self.var(result)
        current = self.spill(read)
        combined = f"ops.{BINARY_OPS[COMPOUND_OPS[e.op]]}({current}, {self.value(e.value)})"
        return write(combined)

    def _lowered_conditional(self, e: A.Conditional) -> str:
        if not (self.awaits.expr(e.consequent) or self.awaits.expr(e.alternate)):
            test = self.value(e.test)
            yes, no = self.pure(e.consequent), self.pure(e.alternate)
            return f"({yes} if ops.truthy({test}) else {no})"
        result = self.em.temp()
        test = self.value(e.test)
        otherwise, end = self.em.new_label("else"), self.em.new_label("after_conditional")
        with self.em.indented(f"if not ops.truthy({test}):"):
            self.em.jump(otherwise)
        self.em.line(f"{self.var(result)} = {self.value(e.consequent)}")
        self.em.jump(end)
        self.em.place(otherwise)
        self.em.line(f"{self.var(result)} = {self.value(e.alternate)}")
        self.em.place(end)
        return self.var(result)

    def _lowered_chain(self, e: A.OptionalChain) -> str:
        """An optional chain containing an await: each ``?.`` tests a temporary."""
        result = self.em.temp()
        end = self.em.new_label("after_optional_chain")
        self.em.line(f"{self.var(result)} = {self._lowered_link(e.expr, result, end)}")
        self.em.place(end)
        return self.var(result)

    def _lowered_link(self, e: Any, result: str, end: int) -> str:
        if not isinstance(e, A.Member | A.Index | A.Call):
            return self.value(e)
        callee: Any = e.callee if isinstance(e, A.Call) else None
        if isinstance(callee, A.Member | A.Index) and not self._builtin_callee(callee):
            assert isinstance(e, A.Call)
            obj = self._guarded(callee.object, callee.optional, result, end)
            extra = [callee.index] if isinstance(callee, A.Index) else []
            parts = [self.spill(p) for p in self.ordered([*extra, *e.args])]
            key = parts[:1] if extra else None
            if e.optional:  # o.f?.(): null when o.f is null
                prop = repr(callee.property) if isinstance(callee, A.Member) else parts[0]
                with self.em.indented(f"if ops.get({obj}, {prop}) is None:"):
                    self.em.line(f"{self.var(result)} = None")
                    self.em.jump(end)
            return self._method_call(obj, callee, parts[len(extra) :], key)
        if isinstance(e, A.Call):
            fn = self._guarded(e.callee, e.optional, result, end)
            return self._call_value(fn, self.ordered(list(e.args)))
        obj = self._guarded(e.object, e.optional, result, end)
        if isinstance(e, A.Member):
            return self._member(e.object, obj, e)
        return f"ops.get({obj}, {self.value(e.index)})"

    def _guarded(self, e: Any, optional: bool, result: str, end: int) -> str:
        code = self.spill(self._lowered_link(e, result, end))
        if optional:
            with self.em.indented(f"if {code} is None:"):
                self.em.line(f"{self.var(result)} = None")
                self.em.jump(end)
        return code


def _is_constant(e: Any) -> bool:
    return isinstance(e, A.NumberLit | A.StringLit | A.BoolLit | A.NullLit)
