"""Parser: precedence, automatic semicolons, literals, templates, wrappers and spans."""

from __future__ import annotations

from typing import Any

import pytest

from rhythm.frontend import ast as A
from rhythm.frontend.parser import parse


def program(source: str) -> A.Program:
    prog, diags = parse(source, "t.flow")
    assert prog is not None and not diags, [d.headline() for d in diags]
    return prog


def expr(source: str) -> A.Expr:
    stmt = program(f"return {source}").body[0]
    assert isinstance(stmt, A.Return) and stmt.value is not None
    return stmt.value


def show(node: Any) -> str:
    """A fully parenthesised rendering, to assert tree shapes compactly."""
    if isinstance(node, A.Binary | A.Logical):
        return f"({show(node.left)} {node.op} {show(node.right)})"
    if isinstance(node, A.Unary):
        sep = " " if node.op == "typeof" else ""
        return f"({node.op}{sep}{show(node.operand)})"
    if isinstance(node, A.Await):
        return f"(await {show(node.operand)})"
    if isinstance(node, A.Update):
        return (
            f"({node.op}{show(node.target)})" if node.prefix else f"({show(node.target)}{node.op})"
        )
    if isinstance(node, A.Conditional):
        return f"({show(node.test)} ? {show(node.consequent)} : {show(node.alternate)})"
    if isinstance(node, A.Assign):
        return f"({show(node.target)} {node.op} {show(node.value)})"
    if isinstance(node, A.Name):
        return node.id
    if isinstance(node, A.NumberLit):
        return repr(node.value)
    if isinstance(node, A.StringLit):
        return repr(node.value)
    if isinstance(node, A.Member):
        return f"{show(node.object)}{'?.' if node.optional else '.'}{node.property}"
    if isinstance(node, A.Index):
        return f"{show(node.object)}{'?.' if node.optional else ''}[{show(node.index)}]"
    if isinstance(node, A.Call):
        args = ", ".join(show(a) for a in node.args)
        return f"{show(node.callee)}{'?.' if node.optional else ''}({args})"
    if isinstance(node, A.OptionalChain):
        return f"chain[{show(node.expr)}]"
    if isinstance(node, A.BoolLit):
        return "true" if node.value else "false"
    if isinstance(node, A.NullLit):
        return "null"
    return type(node).__name__


@pytest.mark.parametrize(
    ("source", "shape"),
    [
        ("2 + 3 * 4", "(2 + (3 * 4))"),
        ("(2 + 3) * 4", "((2 + 3) * 4)"),
        ("a - b - c", "((a - b) - c)"),
        ("2 ** 3 ** 2", "(2 ** (3 ** 2))"),
        ("a * b ** c", "(a * (b ** c))"),
        ("a || b && c", "(a || (b && c))"),
        ("a == b < c", "(a == (b < c))"),
        ("a + b < c * d", "((a + b) < (c * d))"),
        ("a === b !== c", "((a === b) !== c)"),
        ("!a && b", "((!a) && b)"),
        ("a ? b : c ? d : e", "(a ? b : (c ? d : e))"),
        ("a ?? b ?? c", "((a ?? b) ?? c)"),
        ("typeof a == 'x'", "((typeof a) == 'x')"),
        ("await a + await b", "((await a) + (await b))"),
        ("await f(x).y", "(await f(x).y)"),
        ("-7", "(-7)"),
        ("- -7", "(-(-7))"),
        ("+a", "(+a)"),
        ("a++ + ++b", "((a++) + (++b))"),
        ("a+++b", "((a++) + b)"),
        ("a = b = c", "(a = (b = c))"),
        ("a ??= b || c", "(a ??= (b || c))"),
        ("a.b[c](d)?.e", "chain[a.b[c](d)?.e]"),
        ("o?.a.b.c", "chain[o?.a.b.c]"),
        ("f?.()", "chain[f?.()]"),
        ("o?.[0]", "chain[o?.[0]]"),
        ("x ?.5 : 1", "(x ? 0.5 : 1)"),
        ("a.return.if", "a.return.if"),
    ],
)
def test_precedence_and_associativity(source: str, shape: str) -> None:
    result = show(expr(source))
    assert result == shape


def test_unary_before_exponent_is_an_error() -> None:
    _, diags = parse("return -x ** 2", "t.flow")
    assert [(d.line, d.column) for d in diags] == [(1, 11)]


@pytest.mark.parametrize(
    ("source", "kinds"),
    [
        ("let a = 1\nlet b = 2", ["VarDecl", "VarDecl"]),
        ("let a = 1; let b = 2;", ["VarDecl", "VarDecl"]),
        ("a\n++b", ["ExprStmt", "ExprStmt"]),
        ("return\nx", ["Return", "ExprStmt"]),
        ("x = 1\n-1", ["ExprStmt"]),  # a line starting with an operator continues
        ("if (a) { b } c", ["If", "ExprStmt"]),
        ("do x++\nwhile (x < 3) y()", ["DoWhile", "ExprStmt"]),
        ("let a = 1 // trailing comment\nlet b = 2", ["VarDecl", "VarDecl"]),
        ("let a = 1 /* one\nline break */ let b = 2", ["VarDecl", "VarDecl"]),
        ("{ a }", ["Block"]),
        (";;", ["Empty", "Empty"]),
        ("", []),
    ],
)
def test_automatic_semicolons(source: str, kinds: list[str]) -> None:
    assert [type(s).__name__ for s in program(source).body] == kinds


def test_return_then_newline_returns_null() -> None:
    first = program("return\n42").body[0]
    assert isinstance(first, A.Return) and first.value is None


def test_return_value_on_the_same_line_after_a_comment() -> None:
    first = program("return /* c */ 42").body[0]
    assert isinstance(first, A.Return) and isinstance(first.value, A.NumberLit)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("42", 42),
        ("3.14", 3.14),
        ("1e3", 1000),
        ("1E-2", 0.01),
        ("0x1F", 31),
        ("0b101", 5),
        ("0o17", 15),
        ("1_000", 1000),
        (".5", 0.5),
        ("2.50", 2.5),
        ("2.0", 2),
        ("1.5e1_0", 15000000000),
    ],
)
def test_numbers(source: str, value: float) -> None:
    node = expr(source)
    assert isinstance(node, A.NumberLit)
    assert node.value == value and type(node.value) is type(value)
    assert node.raw == source


def test_minus_seven_is_unary_minus_on_seven() -> None:
    node = expr("-7")
    assert isinstance(node, A.Unary) and node.op == "-"
    assert isinstance(node.operand, A.NumberLit) and node.operand.value == 7


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ('"a\\nb"', "a\nb"),
        ("'it\\'s'", "it's"),
        ('"say \\"hi\\""', 'say "hi"'),
        ('"\\u0041\\u{1F600}"', "A\U0001f600"),
        ('"\\uD83D\\uDE00"', "\U0001f600"),
        ('"\\t\\r\\\\"', "\t\r\\"),
        ('"\\q"', "q"),
        ("'\"'", '"'),
        ('"héllo"', "héllo"),
    ],
)
def test_strings(source: str, value: str) -> None:
    node = expr(source)
    assert isinstance(node, A.StringLit) and node.value == value


def test_template_with_nested_template_and_await() -> None:
    node = expr("`Hi ${name}, ${`n=${await f(1)}`}!\\n$x`")
    assert isinstance(node, A.TemplateLit)
    assert node.quasis == ("Hi ", ", ", "!\n$x")
    assert isinstance(node.exprs[0], A.Name)
    inner = node.exprs[1]
    assert isinstance(inner, A.TemplateLit) and inner.quasis == ("n=", "")
    assert isinstance(inner.exprs[0], A.Await)


def test_template_without_substitutions_and_with_object_inside() -> None:
    plain = expr("`plain`")
    assert isinstance(plain, A.TemplateLit) and plain.quasis == ("plain",) and plain.exprs == ()
    braces = expr("`${ {a: 1}.a }`")
    assert isinstance(braces, A.TemplateLit) and isinstance(braces.exprs[0], A.Member)


def test_keywords_are_whole_words() -> None:
    body = program(
        "let letters = 1\nlet nullable = 2\nlet breakdown = 3\nlet returned = 4\n"
        "let iffy = 5\nlet format = letters + nullable + breakdown + returned + iffy"
    ).body
    assert [d.declarations[0].target.id for d in body] == [  # type: ignore[union-attr]
        "letters", "nullable", "breakdown", "returned", "iffy", "format",
    ]  # fmt: skip


def test_object_literal_keys() -> None:
    node = expr("{a: 1, 'b c': 2, 3: x, 1.5: y, [k]: z, if: 0, short}")
    assert isinstance(node, A.ObjectLit)
    keys = [p.key if isinstance(p.key, str) else "computed" for p in node.props]
    assert keys == ["a", "b c", "3", "1.5", "computed", "if", "short"]
    assert node.props[-1].shorthand


def test_statement_forms() -> None:
    body = program(
        "for (let i = 0, j = 1; i < 3; i++) {}\n"
        "for (const x of xs) s\n"
        "for (const k in o) s\n"
        "for (x of xs) s\n"
        "for (;;) break\n"
        "try { a } catch { b }\n"
        "try { a } catch ({message}) { b } finally { c }\n"
        "try { a } finally { c }\n"
        "throw new_error\n"
        "while (x) x--\n"
    ).body
    kinds = [type(s).__name__ for s in body]
    assert kinds == ["For", "ForOf", "ForIn", "ForOf", "For", "Try", "Try", "Try", "Throw", "While"]
    loop = body[3]
    assert isinstance(loop, A.ForOf) and loop.kind is None
    bare_catch = body[5]
    assert isinstance(bare_catch, A.Try) and bare_catch.param is None
    assert bare_catch.handler is not None and bare_catch.finalizer is None


def test_destructuring_patterns() -> None:
    decl = program("const { id, amount: amt, currency = 'EUR', n: [a, , b = 2] } = o").body[0]
    assert isinstance(decl, A.VarDecl)
    pattern = decl.declarations[0].target
    assert isinstance(pattern, A.ObjectPattern)
    assert [p.key for p in pattern.props] == ["id", "amount", "currency", "n"]
    nested = pattern.props[3].target
    assert isinstance(nested, A.ArrayPattern)
    assert [e.target.id if isinstance(e.target, A.Name) else None for e in nested.elements] == [
        "a",
        None,
        "b",
    ]


def test_arrows() -> None:
    call = expr("xs.reduce((acc, {qty}) => acc + qty, 0)")
    assert isinstance(call, A.Call)
    arrow = call.args[0]
    assert isinstance(arrow, A.Arrow) and len(arrow.params) == 2
    block = expr("xs.map(x => { return x })")
    assert isinstance(block, A.Call) and isinstance(block.args[0], A.Arrow)
    assert isinstance(block.args[0].body, A.Block)


def test_async_main_wrapper() -> None:
    prog = program("// comment\nasync function main() {\n  return 1\n}\n")
    assert prog.wrapper == "main" and isinstance(prog.body[0], A.Return)


def test_workflow_wrapper() -> None:
    prog = program("workflow(ctx, inputs) {\n  return inputs.x\n}")
    assert prog.wrapper == "workflow" and prog.params == ("ctx", "inputs")


@pytest.mark.parametrize(
    "source",
    [
        "async function main() { }\nlet x = 1",
        "let x = 1\nasync function main() { }",
        "workflow(a, b) { }\nworkflow(a, b) { }",
    ],
)
def test_wrappers_only_as_the_whole_file(source: str) -> None:
    prog, diags = parse(source, "t.flow")
    assert prog is None and len(diags) == 1


def test_spans_are_one_based_and_end_exclusive() -> None:
    stmt = program("let a = 1\n  foo.bar(2)").body[1]
    assert isinstance(stmt, A.ExprStmt)
    assert stmt.span == A.Span(2, 3, 2, 13)
    call = stmt.expr
    assert isinstance(call, A.Call) and isinstance(call.callee, A.Member)
    assert call.callee.property_span == A.Span(2, 7, 2, 10)


def test_columns_count_code_points() -> None:
    stmt = program('let s = "héllo😀"; let t = u').body[1]
    assert isinstance(stmt, A.VarDecl)
    assert stmt.declarations[0].init.span.column == 27  # type: ignore[union-attr]


def test_crlf_line_endings() -> None:
    body = program("let a = 1\r\nlet b = `x\r\ny`\r\n").body
    second = body[1]
    assert isinstance(second, A.VarDecl) and second.span.line == 2
    init = second.declarations[0].init
    assert isinstance(init, A.TemplateLit) and init.quasis == ("x\ny",)


def test_deep_nesting_is_a_diagnostic_not_a_crash() -> None:
    prog, diags = parse("return " + "[" * 3000 + "]" * 3000, "t.flow")
    assert prog is None or diags == [] or diags[0].message.startswith("the program is nested")
