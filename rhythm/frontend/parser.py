"""The .flow parser: source text -> AST (``rhythm.frontend.ast``) plus diagnostics.

The grammar lives in ``grammar.peg`` (data, loaded once per process). The parsimonious
parse tree never leaves this module: :func:`parse` walks it into frozen AST nodes, each with
its source span. Binary operators come out of the grammar flat and get JavaScript
precedence here (see the grammar header for why).

Besides syntax errors, the parser reports the errors that only the concrete syntax can
see: mixing ``??`` with ``||``/``&&`` without parentheses, a unary operator before ``**``,
invalid assignment targets, bad escapes and number literals, ``const`` without a value.
A syntax error stops the parse (no tree); the other errors do not.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from collections import defaultdict
from pathlib import Path
from typing import Any

from parsimonious.exceptions import ParseError
from parsimonious.expressions import Compound, Literal
from parsimonious.grammar import Grammar
from parsimonious.nodes import Node

from rhythm.frontend import ast as A
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.syntax_errors import describe_failure

_GRAMMAR: Grammar | None = None
_LITERAL_OWNERS: dict[int, str] = {}

_WS = re.compile(r"(?:[\s\ufeff]+|//[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)*")
_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]*\}?|u[0-9a-fA-F]{0,4}|x[0-9a-fA-F]{0,2}|\r\n|[\s\S])")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_LINE_BREAKS = {"\n", "\r", "\r\n", "\u2028", "\u2029"}

# Binary operator precedence, JavaScript's (higher binds tighter).
_PRECEDENCE = {
    "??": 1, "||": 2, "&&": 3,
    "==": 4, "!=": 4, "===": 4, "!==": 4,
    "<": 5, "<=": 5, ">": 5, ">=": 5,
    "+": 6, "-": 6, "*": 7, "/": 7, "%": 7, "**": 8,
}  # fmt: skip
_LOGICAL = {"&&", "||", "??"}
_MAX_INT_DIGITS = 400  # longer integer literals go through float (Infinity is an error)
_NESTING_LIMIT = 20000  # recursion limit while parsing; deeper input is reported, not crashed on


def grammar() -> Grammar:
    """The compiled grammar, built once per process (compiling it costs ~50 ms)."""
    global _GRAMMAR
    if _GRAMMAR is None:
        text = Path(__file__).with_name("grammar.peg").read_text(encoding="utf-8")
        _GRAMMAR = Grammar(text)
        _LITERAL_OWNERS.update(_literal_owners(_GRAMMAR))
    return _GRAMMAR


def _literal_owners(g: Grammar) -> dict[int, str]:
    """Map each anonymous literal of the grammar to the rule it appears in (for messages)."""
    owners: dict[int, str] = {}
    for rule_name, rule in g.items():
        stack: list[Any] = [rule]
        while stack:
            expr = stack.pop()
            if isinstance(expr, Literal) and not expr.name:
                owners[id(expr)] = rule_name
            if isinstance(expr, Compound):
                stack.extend(m for m in expr.members if not m.name)
    return owners


def parse(source: str, path: str = "<input>") -> tuple[A.Program | None, list[Diagnostic]]:
    """Parse ``source``; return the program (None after a syntax error) and the diagnostics."""
    rule = grammar()["program"]
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, _NESTING_LIMIT))
    try:
        try:
            # Fast path: plain failure tracking. Only a failed parse is run again to collect
            # every expectation at the furthest position (that bookkeeping costs ~15%).
            tree = rule.match_core(source, 0, defaultdict(dict), ParseError(source))
            failure = _FurthestFailure(source)
            if tree is None:
                rule.match_core(source, 0, defaultdict(dict), failure)
        except RecursionError:
            return None, [_too_deep(source, path)]
        if tree is None or tree.end != len(source):
            message, start, end = describe_failure(
                source, failure.pos, failure.expected, _LITERAL_OWNERS
            )
            lines = _Lines(source)
            return None, [Diagnostic.at(path, lines.span(start, end), message)]
        builder = _Builder(source, path)
        try:
            program = builder.program(tree)
        except RecursionError:
            return None, [_too_deep(source, path)]
        return program, builder.diags
    finally:
        sys.setrecursionlimit(old_limit)


def _too_deep(source: str, path: str) -> Diagnostic:
    return Diagnostic(path, 1, 1, 1, 2, "the program is nested too deeply to compile")


class _FurthestFailure(ParseError):
    """Collects *every* expression that failed at the furthest position reached.

    parsimonious records a failure as ``error.expr = e; error.pos = p`` when ``p`` is at or
    beyond ``error.pos`` and (``e`` is named or ``error.expr`` has no name). Reading ``expr``
    as None makes the second condition always true, so we see all furthest failures and can
    say "expected ')' or ','" instead of naming whichever alternative happened to be last.
    """

    def __init__(self, text: str) -> None:
        self.expected: list[Any] = []
        self._pending: Any = None
        super().__init__(text)

    @property
    def expr(self) -> Any:
        return None

    @expr.setter
    def expr(self, value: Any) -> None:
        self._pending = value

    @property
    def pos(self) -> int:
        return self.__dict__.get("_pos", -1)

    @pos.setter
    def pos(self, value: int) -> None:
        current = self.__dict__.get("_pos", -1)
        if value > current:
            self.__dict__["_pos"] = value
            self.expected = []
        if value >= current and self._pending is not None:
            self.expected.append(self._pending)
            self._pending = None


class _Lines:
    """Offsets -> 1-based (line, column) in code points."""

    def __init__(self, source: str) -> None:
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", source)]

    def position(self, offset: int) -> tuple[int, int]:
        index = bisect_right(self.starts, offset) - 1
        return index + 1, offset - self.starts[index] + 1

    def span(self, start: int, end: int) -> A.Span:
        line, column = self.position(start)
        end_line, end_column = self.position(end)
        return A.Span(line, column, end_line, end_column)


def _opt(node: Node) -> Node | None:
    """The single child of an optional (``x?``) node, or None when it matched nothing."""
    return node.children[0] if node.children else None


class _Builder:
    """Walks the parsimonious tree (by rule name and child position) into AST nodes."""

    def __init__(self, source: str, path: str) -> None:
        self.source = source
        self.path = path
        self.lines = _Lines(source)
        self.diags: list[Diagnostic] = []

    # ---------------------------------------------------------------- helpers

    def span(self, node: Node) -> A.Span:
        match = _WS.match(self.source, node.start)
        start = match.end() if match else node.start
        return self.lines.span(min(start, node.end), node.end)

    def join(self, first: A.Span, last: A.Span) -> A.Span:
        return A.Span(first.line, first.column, last.end_line, last.end_column)

    def error(self, span: A.Span, message: str) -> None:
        self.diags.append(Diagnostic.at(self.path, span, message))

    # ---------------------------------------------------------------- program

    def program(self, tree: Node) -> A.Program:
        whole = self.lines.span(0, len(self.source))
        node = tree.children[0]
        if node.expr_name == "wrapped_main":
            return A.Program(whole, self.block(node.children[10]).body, "main")
        if node.expr_name == "wrapped_workflow":
            params = (node.children[5], node.children[9])
            self.check_wrapper_params(params)
            body = self.block(node.children[12]).body
            return A.Program(whole, body, "workflow", tuple(p.text for p in params))
        return A.Program(whole, tuple(self.statement(s) for s in node.children[0].children))

    def check_wrapper_params(self, params: tuple[Node, Node]) -> None:
        from rhythm.catalog import BUILTIN_NAMES, RESERVED_WORDS

        aliases = ("Context", "Inputs")
        for node, alias in zip(params, aliases, strict=True):
            name = node.text
            if name in RESERVED_WORDS:
                self.error(self.span(node), f"'{name}' is a reserved word and cannot be a name")
            elif name in BUILTIN_NAMES and name != alias:
                self.error(self.span(node), f"'{name}' is a built-in and cannot be a parameter")
        if params[0].text == params[1].text:
            self.error(self.span(params[1]), f"duplicate parameter '{params[1].text}'")

    # ---------------------------------------------------------------- statements

    def statement(self, node: Node) -> A.Stmt:
        node = node.children[0]  # `statement` is a choice
        if node.expr_name == "keyword_stmt":
            node = node.children[2].children[0]
        name = node.expr_name
        c = node.children
        if name == "expr_stmt":
            expr = self.expr(c[0])
            return A.ExprStmt(expr.span, expr)
        if name == "var_decl":
            return self.var_decl(c[0])
        if name == "block":
            return self.block(node)
        if name == "if_stmt":
            alternate = _opt(c[8])
            return A.If(
                self.span(node),
                self.expr(c[4]),
                self.statement(c[7]),
                self.statement(alternate.children[2]) if alternate else None,
            )
        if name == "while_stmt":
            return A.While(self.span(node), self.expr(c[4]), self.statement(c[7]))
        if name == "do_stmt":
            span = self.join(self.span(c[1]), self.span(c[9]))
            return A.DoWhile(span, self.statement(c[2]), self.expr(c[7]))
        if name == "for_stmt":
            return self.for_stmt(node)
        if name == "return_stmt":
            value = _opt(c[2])
            end = value if value is not None else c[1]
            span = self.join(self.span(c[1]), self.span(end))
            return A.Return(span, self.expr(value.children[1]) if value else None)
        if name == "break_stmt":
            return A.Break(self.span(c[1]))
        if name == "continue_stmt":
            return A.Continue(self.span(c[1]))
        if name == "throw_stmt":
            return A.Throw(self.join(self.span(c[1]), self.span(c[3])), self.expr(c[3]))
        if name == "try_stmt":
            return self.try_stmt(node)
        if name == "empty_stmt":
            return A.Empty(self.span(node))
        raise AssertionError(f"unknown statement rule {name}")

    def block(self, node: Node) -> A.Block:
        return A.Block(self.span(node), tuple(self.statement(s) for s in node.children[2].children))

    def var_decl(self, core: Node) -> A.VarDecl:
        c = core.children
        kind = c[1].text
        declarators = [self.declarator(c[2], kind)]
        declarators += [self.declarator(more.children[2], kind) for more in c[3].children]
        return A.VarDecl(self.span(core), kind, tuple(declarators))

    def declarator(self, node: Node, kind: str) -> A.Declarator:
        target = self.pattern(node.children[0])
        init_node = _opt(node.children[1])
        init = self.expr(init_node.children[2]) if init_node else None
        if init is None and kind == "const":
            self.error(target.span, "a const declaration needs a value: const x = ...")
        elif init is None and not isinstance(target, A.Name):
            self.error(target.span, "a destructuring declaration needs a value")
        return A.Declarator(self.span(node), target, init)

    def for_stmt(self, node: Node) -> A.Stmt:
        c = node.children
        span = self.span(node)
        head = c[4].children[0]
        body = self.statement(c[7])
        h = head.children
        if head.expr_name == "for_each":
            kind_node = _opt(h[0])
            kind = kind_node.children[1].text if kind_node else None
            target = self.pattern(h[1])
            source = self.expr(h[4])
            if h[3].text == "of":
                return A.ForOf(span, kind, target, source, body)
            return A.ForIn(span, kind, target, source, body)
        init_node = _opt(h[0])
        init: A.VarDecl | A.Expr | None = None
        if init_node is not None:
            chosen = init_node.children[0]
            init = (
                self.var_decl(chosen)
                if chosen.expr_name == "var_decl_core"
                else (self.expr(chosen))
            )
        test = _opt(h[3])
        update = _opt(h[6])
        return A.For(
            span,
            init,
            self.expr(test) if test else None,
            self.expr(update) if update else None,
            body,
        )

    def try_stmt(self, node: Node) -> A.Try:
        c = node.children
        tail = c[3].children[0]
        catch_node: Node | None = None
        finally_node: Node | None = None
        if tail.expr_name == "finally_clause":
            finally_node = tail
        else:
            catch_node = tail.children[0]
            finally_node = _opt(tail.children[1])
        param: A.Pattern | None = None
        handler: A.Block | None = None
        if catch_node is not None:
            param_node = _opt(catch_node.children[2])
            param = self.pattern(param_node.children[2]) if param_node else None
            handler = self.block(catch_node.children[3])
        finalizer = self.block(finally_node.children[2]) if finally_node else None
        return A.Try(self.span(node), self.block(c[2]), param, handler, finalizer)

    # ---------------------------------------------------------------- patterns

    def pattern(self, node: Node) -> A.Pattern:
        node = node.children[0]
        name = node.expr_name
        if name == "binding_name":
            return self.name(node.children[1])
        if name == "object_pattern":
            props_node = _opt(node.children[2])
            props: list[A.PatternProp] = []
            if props_node is not None:
                pc = props_node.children
                props.append(self.pattern_prop(pc[0]))
                props += [self.pattern_prop(more.children[2]) for more in pc[1].children]
            return A.ObjectPattern(self.span(node), tuple(props))
        elems_node = _opt(node.children[2])
        elements: list[A.PatternElem] = []
        if elems_node is not None:
            ec = elems_node.children
            elements.append(self.pattern_elem(ec[0]))
            elements += [self.pattern_elem(more.children[2]) for more in ec[1].children]
            if elements[-1].target is None:
                elements.pop()  # `[a, b,]`: a trailing comma is not a hole, as in JavaScript
        return A.ArrayPattern(self.span(node), tuple(elements))

    def pattern_prop(self, node: Node) -> A.PatternProp:
        c = node.children
        key_token = c[1].children[0]
        key = self.prop_key(key_token)
        rename = _opt(c[2])
        default = _opt(c[3])
        if rename is not None:
            target = self.pattern(rename.children[2])
        else:
            if key_token.expr_name != "IDENT_ANY":
                self.error(self.span(key_token), 'this key needs a target name: {"key": name}')
            target = A.Name(self.span(key_token), key)
        value = self.expr(default.children[2]) if default else None
        return A.PatternProp(self.span(node), key, target, value)

    def pattern_elem(self, node: Node) -> A.PatternElem:
        inner = _opt(node)
        if inner is None:
            return A.PatternElem(self.lines.span(node.start, node.start), None, None)
        default = _opt(inner.children[1])
        target = self.pattern(inner.children[0])
        value = self.expr(default.children[2]) if default else None
        return A.PatternElem(self.span(inner), target, value)

    def name(self, token: Node) -> A.Name:
        return A.Name(self.span(token), token.text)

    # ---------------------------------------------------------------- expressions

    def expr(self, node: Node) -> A.Expr:
        """Build any expression rule node (``expression``, ``assign``, ``unary``, ...)."""
        name = node.expr_name
        while name in ("expression", "assign", "unary", "arrow_body"):
            node = node.children[0]
            name = node.expr_name
        if name == "assign_plain":
            return self.assign_plain(node)
        if name == "conditional":
            return self.conditional(node)
        if name == "binary":
            return self.binary(node)
        if name == "prefixed":
            return self.prefixed(node)
        if name == "postfix":
            return self.postfix(node)
        if name == "chain":
            return self.chain(node)
        if name == "arrow":
            return self.arrow(node)
        if name == "primary":
            return self.primary(node)
        raise AssertionError(f"unknown expression rule {name}")

    def assign_plain(self, node: Node) -> A.Expr:
        target = self.conditional(node.children[0])
        rest = _opt(node.children[1])
        if rest is None:
            return target
        op = rest.children[1].text
        value = self.expr(rest.children[2])
        if not isinstance(target, A.Name | A.Member | A.Index):
            self.error(target.span, "invalid assignment target")
        return A.Assign(self.join(target.span, value.span), op, target, value)

    def arrow(self, node: Node) -> A.Arrow:
        c = node.children
        chosen = c[2].children[0]
        params: list[A.Pattern] = []
        if chosen.expr_name == "binding_name":
            params.append(self.pattern_from_binding(chosen))
        else:
            items = _opt(chosen.children[2])
            if items is not None:
                params.append(self.pattern(items.children[0]))
                params += [self.pattern(more.children[2]) for more in items.children[1].children]
        body_node = c[5].children[0]
        body: A.Expr | A.Block
        body = self.block(body_node) if body_node.expr_name == "block" else self.expr(body_node)
        return A.Arrow(self.span(node), tuple(params), body)

    def pattern_from_binding(self, node: Node) -> A.Name:
        return self.name(node.children[1])

    def conditional(self, node: Node) -> A.Expr:
        test = self.binary(node.children[0])
        rest = _opt(node.children[1])
        if rest is None:
            return test
        consequent = self.expr(rest.children[2])
        alternate = self.expr(rest.children[5])
        return A.Conditional(self.join(test.span, alternate.span), test, consequent, alternate)

    def binary(self, node: Node) -> A.Expr:
        first = node.children[0]
        tails = node.children[1].children
        if not tails:
            return self.expr(first)
        operands = [self.expr(first)]
        bare_unary = [first.children[0].expr_name == "prefixed"]
        ops: list[tuple[str, A.Span]] = []
        for tail in tails:
            op_node = tail.children[1]
            ops.append((op_node.text, self.span(op_node)))
            operands.append(self.expr(tail.children[2]))
            bare_unary.append(tail.children[2].children[0].expr_name == "prefixed")
        return _Climber(self, operands, bare_unary, ops).parse()

    def prefixed(self, node: Node) -> A.Expr:
        op_node = node.children[1]
        op = op_node.text
        operand = self.expr(node.children[2])
        span = self.join(self.span(op_node), operand.span)
        if op in ("++", "--"):
            self.check_update_target(operand)
            return A.Update(span, op, True, operand)
        if op == "await":
            return A.Await(span, operand)
        return A.Unary(span, op, operand)

    def postfix(self, node: Node) -> A.Expr:
        operand = self.chain(node.children[0])
        rest = _opt(node.children[1])
        if rest is None:
            return operand
        op_node = rest.children[1]
        self.check_update_target(operand)
        span = self.join(operand.span, self.span(op_node))
        return A.Update(span, op_node.text, False, operand)

    def check_update_target(self, target: A.Expr) -> None:
        if not isinstance(target, A.Name | A.Member | A.Index):
            self.error(target.span, "invalid target for ++ or --")

    def chain(self, node: Node) -> A.Expr:
        result = self.primary(node.children[0])
        suffixes = node.children[1].children
        if not suffixes:
            return result
        start = result.span
        optional_seen = False
        for suffix in suffixes:
            s = suffix.children[2].children[0]
            span = self.join(start, self.span(s))
            kind = s.expr_name
            if kind == "member_suffix":
                prop = s.children[2]
                result = A.Member(span, result, prop.text, self.span(prop))
            elif kind == "index_suffix":
                result = A.Index(span, result, self.expr(s.children[1]))
            elif kind == "call_suffix":
                result = A.Call(span, result, self.arguments(s.children[1]))
            else:
                optional_seen = True
                result = self.optional_link(span, result, s.children[1].children[0])
        return A.OptionalChain(result.span, result) if optional_seen else result

    def optional_link(self, span: A.Span, obj: A.Expr, link: Node) -> A.Expr:
        kind = link.expr_name
        if kind == "opt_name":
            prop = link.children[1]
            return A.Member(span, obj, prop.text, self.span(prop), optional=True)
        if kind == "opt_index":
            return A.Index(span, obj, self.expr(link.children[2]), optional=True)
        return A.Call(span, obj, self.arguments(link.children[2]), optional=True)

    def arguments(self, node: Node) -> tuple[A.Expr, ...]:
        inner = _opt(node)
        if inner is None:
            return ()
        args = [self.expr(inner.children[0])]
        args += [self.expr(more.children[2]) for more in inner.children[1].children]
        return tuple(args)

    # ---------------------------------------------------------------- primaries

    def primary(self, node: Node) -> A.Expr:
        token = node.children[1].children[0]
        kind = token.expr_name
        span = self.span(token)
        if kind == "IDENT_REF":
            return A.Name(span, token.text)
        if kind == "NUMBER":
            return A.NumberLit(span, self.number(token.text, span), token.text)
        if kind == "STRING":
            return A.StringLit(span, self.unescape(token.text[1:-1], span))
        if kind == "KW_LITERAL":
            text = token.text
            return A.NullLit(span) if text == "null" else A.BoolLit(span, text == "true")
        if kind == "paren":
            return self.expr(token.children[1])
        if kind == "array_lit":
            items = _opt(token.children[1])
            elements: list[A.Expr] = []
            if items is not None:
                elements.append(self.expr(items.children[0]))
                elements += [self.expr(more.children[2]) for more in items.children[1].children]
            return A.ArrayLit(span, tuple(elements))
        if kind == "object_lit":
            return self.object_lit(token, span)
        if kind == "template":
            return self.template(token, span)
        raise AssertionError(f"unknown primary {kind}")

    def object_lit(self, node: Node, span: A.Span) -> A.ObjectLit:
        props_node = _opt(node.children[1])
        props: list[A.Property] = []
        if props_node is not None:
            pc = props_node.children
            props.append(self.property(pc[0]))
            props += [self.property(more.children[2]) for more in pc[1].children]
        return A.ObjectLit(span, tuple(props))

    def property(self, node: Node) -> A.Property:
        p = node.children[0]
        kind = p.expr_name
        c = p.children
        if kind == "computed_prop":
            return A.Property(self.span(p), self.expr(c[2]), self.expr(c[7]))
        if kind == "keyed_prop":
            key = self.prop_key(c[1].children[0])
            return A.Property(self.span(p), key, self.expr(c[4]))
        name = self.name(c[1])
        return A.Property(name.span, name.id, name, shorthand=True)

    def prop_key(self, token: Node) -> str:
        kind = token.expr_name
        if kind == "STRING":
            return self.unescape(token.text[1:-1], self.span(token))
        if kind == "NUMBER":
            return _number_key(self.number(token.text, self.span(token)))
        return str(token.text)

    def template(self, node: Node, span: A.Span) -> A.TemplateLit:
        quasis: list[str] = []
        exprs: list[A.Expr] = []
        current: list[str] = []
        for part in node.children[1].children:
            piece = part.children[0]
            if piece.expr_name == "TEMPLATE_CHARS":
                current.append(self.unescape(piece.text, self.span(piece)))
            else:
                quasis.append("".join(current))
                current = []
                exprs.append(self.expr(piece.children[1]))
        quasis.append("".join(current))
        return A.TemplateLit(span, tuple(quasis), tuple(exprs))

    # ---------------------------------------------------------------- literal values

    def number(self, raw: str, span: A.Span) -> int | float:
        text = raw.replace("_", "")
        if text[:2].lower() in ("0x", "0b", "0o"):
            whole = int(text, 0)
            if whole.bit_length() > 1024:  # beyond any double (and beyond printing as decimal)
                self.error(span, "number literal is too large")
                return 0
            return whole
        digits = re.match(r"\d*", text)
        if digits and len(digits.group()) > 1 and digits.group().startswith("0"):
            self.error(span, "numbers cannot start with 0 (write 0o17 for octal)")
        if not any(ch in text for ch in ".eE") and len(text) <= _MAX_INT_DIGITS:
            return int(text)
        value = float(text)
        if value in (float("inf"), float("-inf")):
            self.error(span, "number literal is too large")
            return 0
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        return value

    def unescape(self, body: str, span: A.Span) -> str:
        if "\\" not in body:
            return body.replace("\r\n", "\n")
        bad: list[str] = []

        def replace(match: re.Match[str]) -> str:
            esc = match.group(1)
            head = esc[0]
            if esc in _LINE_BREAKS:
                return ""  # a backslash before a line break continues the line
            if head == "u" or head == "x":
                return _code_escape(esc, bad)
            return _SIMPLE_ESCAPES.get(esc, esc)

        value = _ESCAPE.sub(replace, body.replace("\r\n", "\n"))
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            try:
                value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
            except UnicodeDecodeError:
                bad.append("a lone surrogate \\u escape")
        for problem in bad:
            self.error(span, f"invalid escape: {problem}")
        return value


def _code_escape(esc: str, bad: list[str]) -> str:
    """Decode ``uXXXX``, ``u{X...}`` or ``xHH`` (without the backslash)."""
    if esc.startswith("u{"):
        digits = esc[2:-1] if esc.endswith("}") else ""
    elif esc[0] == "u":
        digits = esc[1:] if len(esc) == 5 else ""
    else:
        digits = esc[1:] if len(esc) == 3 else ""
    if not digits or int(digits, 16) > 0x10FFFF:
        bad.append(f"\\{esc}")
        return ""
    return chr(int(digits, 16))


def _number_key(value: int | float) -> str:
    """A number used as an object key, spelled as JavaScript would print it."""
    if isinstance(value, int):
        return str(value)
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", repr(value))


class _Climber:
    """Precedence climbing over a flat ``operand (op operand)*`` list."""

    def __init__(
        self,
        builder: _Builder,
        operands: list[A.Expr],
        bare_unary: list[bool],
        ops: list[tuple[str, A.Span]],
    ) -> None:
        self.b = builder
        self.operands = operands
        self.bare_unary = bare_unary
        self.ops = ops
        self.next = 0  # next operand to read; the operator after operand j is ops[j]
        self.unparenthesized: set[int] = set()  # ids of the logical nodes built here

    def parse(self) -> A.Expr:
        return self.climb(0)

    def climb(self, min_prec: int) -> A.Expr:
        left = self.operands[self.next]
        left_bare = self.bare_unary[self.next]
        self.next += 1
        while self.next - 1 < len(self.ops):
            op, op_span = self.ops[self.next - 1]
            prec = _PRECEDENCE[op]
            if prec < min_prec:
                break
            right = self.climb(prec if op == "**" else prec + 1)  # ** is right-associative
            if op == "**" and left_bare:
                self.b.error(op_span, "put the unary operator before ** in parentheses: (-x) ** y")
            left = self.combine(op, op_span, left, right)
            left_bare = False
        return left

    def combine(self, op: str, op_span: A.Span, left: A.Expr, right: A.Expr) -> A.Expr:
        span = self.b.join(left.span, right.span)
        if op not in _LOGICAL:
            return A.Binary(span, op, left, right)  # type: ignore[arg-type]
        if op == "??":
            # `??` binds loosest, so a mix always shows up as `||`/`&&` directly under it.
            for side in (left, right):
                mixed = isinstance(side, A.Logical) and side.op != "??"
                if mixed and id(side) in self.unparenthesized:
                    message = f"cannot mix '??' with '{side.op}' without parentheses"  # type: ignore[union-attr]
                    self.b.error(op_span, message)
        node = A.Logical(span, op, left, right)  # type: ignore[arg-type]
        self.unparenthesized.add(id(node))
        return node
