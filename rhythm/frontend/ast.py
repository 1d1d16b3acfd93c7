"""The .flow abstract syntax tree: small frozen dataclasses, each carrying its source span.

This module is the contract between the parser (which builds these nodes and nothing
else leaves it) and everything after it: static checks, lowering, code generation.
Nodes are immutable and compare by value; ``span`` is always the first field.

Shape decisions (see docs/language.md for the user-facing side):
- Names are plain strings here; scope resolution lives in ``rhythm.frontend.scopes``
  and keys its results by the node itself (nodes hash by value, span included, so a
  node at a given position is unique); it never mutates nodes.
- Optional chaining follows ESTree: ``Member``/``Index``/``Call`` carry ``optional``
  for the ``?.`` link itself, and the whole chain is wrapped in ``OptionalChain`` so
  that a null on the left of any ``?.`` short-circuits to the end of that wrapper.
- Destructuring appears only in declarations, ``for-of``/``for-in`` heads, ``catch``
  parameters and arrow parameters (``Pattern``). Assignment targets are ``Name``,
  ``Member`` or ``Index``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias


@dataclass(frozen=True, slots=True)
class Span:
    """Source range: 1-based line and column of the first character, and of one past the last."""

    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True, slots=True)
class Name:
    """An identifier reference, or a binding when it appears in a pattern."""

    span: Span
    id: str


@dataclass(frozen=True, slots=True)
class PatternProp:
    """``key``, ``key: target`` or ``key = default`` inside an object pattern."""

    span: Span
    key: str
    target: Pattern
    default: Expr | None


@dataclass(frozen=True, slots=True)
class ObjectPattern:
    span: Span
    props: tuple[PatternProp, ...]


@dataclass(frozen=True, slots=True)
class PatternElem:
    """One element of an array pattern; ``target`` is None for a hole (``[, b]``)."""

    span: Span
    target: Pattern | None
    default: Expr | None


@dataclass(frozen=True, slots=True)
class ArrayPattern:
    span: Span
    elements: tuple[PatternElem, ...]


Pattern: TypeAlias = Name | ObjectPattern | ArrayPattern


# ------------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class NumberLit:
    """``value`` is an int for integral literals (``1e3`` -> 1000), else a float."""

    span: Span
    value: int | float
    raw: str


@dataclass(frozen=True, slots=True)
class StringLit:
    """A quoted string with escapes already decoded."""

    span: Span
    value: str


@dataclass(frozen=True, slots=True)
class TemplateLit:
    """`` `a${x}b${y}c` `` is quasis ("a", "b", "c") and exprs (x, y).

    Always ``len(quasis) == len(exprs) + 1``.
    """

    span: Span
    quasis: tuple[str, ...]
    exprs: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class BoolLit:
    span: Span
    value: bool


@dataclass(frozen=True, slots=True)
class NullLit:
    span: Span


@dataclass(frozen=True, slots=True)
class ArrayLit:
    span: Span
    elements: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Property:
    """``key: value``; ``{x}`` is shorthand for ``{x: x}`` (value is a Name).

    ``key`` is a string for identifier, string and number keys (numbers are written as
    JavaScript would print them), or an Expr for a computed key ``[expr]: value``.
    """

    span: Span
    key: str | Expr
    value: Expr
    shorthand: bool = False


@dataclass(frozen=True, slots=True)
class ObjectLit:
    span: Span
    props: tuple[Property, ...]


@dataclass(frozen=True, slots=True)
class Member:
    """``object.property`` or ``object?.property`` (``optional``)."""

    span: Span
    object: Expr
    property: str
    property_span: Span
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Index:
    """``object[index]`` or ``object?.[index]``."""

    span: Span
    object: Expr
    index: Expr
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Call:
    """``callee(args)`` or ``callee?.(args)``."""

    span: Span
    callee: Expr
    args: tuple[Expr, ...]
    optional: bool = False


@dataclass(frozen=True, slots=True)
class OptionalChain:
    """Boundary of a chain containing at least one ``?.``: a null there ends here as null."""

    span: Span
    expr: Expr


UnaryOp = Literal["!", "-", "+", "typeof"]


@dataclass(frozen=True, slots=True)
class Unary:
    span: Span
    op: UnaryOp
    operand: Expr


@dataclass(frozen=True, slots=True)
class Await:
    span: Span
    operand: Expr


@dataclass(frozen=True, slots=True)
class Update:
    """``++x`` / ``x--`` and friends; ``target`` is a Name, Member or Index."""

    span: Span
    op: Literal["++", "--"]
    prefix: bool
    target: Expr


BinaryOp = Literal[
    "+", "-", "*", "/", "%", "**", "==", "!=", "===", "!==", "<", "<=", ">", ">="
]


@dataclass(frozen=True, slots=True)
class Binary:
    span: Span
    op: BinaryOp
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Logical:
    """Short-circuit ``&&``, ``||``, ``??`` (returns an operand)."""

    span: Span
    op: Literal["&&", "||", "??"]
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Conditional:
    span: Span
    test: Expr
    consequent: Expr
    alternate: Expr


AssignOp = Literal["=", "+=", "-=", "*=", "/=", "%=", "**=", "??=", "||=", "&&="]


@dataclass(frozen=True, slots=True)
class Assign:
    """``target op value``; ``target`` is a Name, Member or Index."""

    span: Span
    op: AssignOp
    target: Expr
    value: Expr


@dataclass(frozen=True, slots=True)
class Arrow:
    """``(a, b) => expr`` or ``a => { ... }``: only as an argument of an array method."""

    span: Span
    params: tuple[Pattern, ...]
    body: Expr | Block


Expr: TypeAlias = (
    NumberLit
    | StringLit
    | TemplateLit
    | BoolLit
    | NullLit
    | ArrayLit
    | ObjectLit
    | Name
    | Member
    | Index
    | Call
    | OptionalChain
    | Unary
    | Await
    | Update
    | Binary
    | Logical
    | Conditional
    | Assign
    | Arrow
)


# ------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class Declarator:
    span: Span
    target: Pattern
    init: Expr | None


@dataclass(frozen=True, slots=True)
class VarDecl:
    """``let a = 1, b`` / ``const {x} = o``."""

    span: Span
    kind: Literal["let", "const"]
    declarations: tuple[Declarator, ...]


@dataclass(frozen=True, slots=True)
class ExprStmt:
    span: Span
    expr: Expr


@dataclass(frozen=True, slots=True)
class Block:
    span: Span
    body: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class Empty:
    span: Span


@dataclass(frozen=True, slots=True)
class If:
    span: Span
    test: Expr
    consequent: Stmt
    alternate: Stmt | None


@dataclass(frozen=True, slots=True)
class While:
    span: Span
    test: Expr
    body: Stmt


@dataclass(frozen=True, slots=True)
class DoWhile:
    span: Span
    body: Stmt
    test: Expr


@dataclass(frozen=True, slots=True)
class For:
    """C-style ``for (init; test; update) body``; every header part may be missing."""

    span: Span
    init: VarDecl | Expr | None
    test: Expr | None
    update: Expr | None
    body: Stmt


@dataclass(frozen=True, slots=True)
class ForOf:
    """``for (const x of iterable)``.

    ``kind`` is None for ``for (x of ...)`` on an existing name.
    """

    span: Span
    kind: Literal["let", "const"] | None
    target: Pattern
    iterable: Expr
    body: Stmt


@dataclass(frozen=True, slots=True)
class ForIn:
    """``for (const k in object)``: object keys, or array indices as numbers."""

    span: Span
    kind: Literal["let", "const"] | None
    target: Pattern
    object: Expr
    body: Stmt


@dataclass(frozen=True, slots=True)
class Break:
    span: Span


@dataclass(frozen=True, slots=True)
class Continue:
    span: Span


@dataclass(frozen=True, slots=True)
class Return:
    span: Span
    value: Expr | None


@dataclass(frozen=True, slots=True)
class Throw:
    span: Span
    value: Expr


@dataclass(frozen=True, slots=True)
class Try:
    """``try block catch (param) handler finally finalizer``; handler or finalizer may be None.

    ``param`` is None for ``catch { }`` without a binding.
    """

    span: Span
    block: Block
    param: Pattern | None
    handler: Block | None
    finalizer: Block | None


Stmt: TypeAlias = (
    VarDecl
    | ExprStmt
    | Block
    | Empty
    | If
    | While
    | DoWhile
    | For
    | ForOf
    | ForIn
    | Break
    | Continue
    | Return
    | Throw
    | Try
)


@dataclass(frozen=True, slots=True)
class Program:
    """A whole .flow file.

    ``wrapper`` records which optional file wrapper was used: None (bare statements),
    "main" (``async function main() { ... }``) or "workflow" (``workflow(ctx, inputs) { ... }``,
    whose two parameter names are ``params``: aliases of ``Context`` and ``Inputs``).
    """

    span: Span
    body: tuple[Stmt, ...]
    wrapper: Literal["main", "workflow"] | None = None
    params: tuple[str, ...] = ()
