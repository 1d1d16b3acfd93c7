"""What the language server knows about one .flow document, as plain data.

Positions are the front end's: 1-based line and column, a span's end one past its last
character. Everything here works on the checker's own tree and scope resolution
(:func:`rhythm.frontend.analyze_source`); features that must work while the text does not
parse (completion, hover of built-ins) read the text around the cursor and the last tree
that did parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rhythm import catalog
from rhythm.frontend import analyze_source
from rhythm.frontend import ast as A
from rhythm.frontend.builtins_doc import BuiltinDoc, lookup, method_docs
from rhythm.frontend.diagnostics import Diagnostic
from rhythm.frontend.scopes import Binding, BuiltinRef, Resolution
from rhythm.frontend.task_checks import NamedCall, named_calls, task_warnings, walk
from rhythm.frontend.task_index import TaskIndex, TaskInfo

Pos = tuple[int, int]  # (line, column), 1-based
Checker = Callable[[str, str], tuple[A.Program | None, Resolution | None, list[Diagnostic]]]
IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*\Z")


@dataclass
class Analysis:
    """The checker's result for one version of a document."""

    path: str
    source: str
    program: A.Program | None
    resolution: Resolution | None
    diagnostics: list[Diagnostic]
    warnings: list[Diagnostic] = field(default_factory=list)
    _scopes: list[tuple[Binding, A.Span]] | None = None  # scoped_bindings, computed once


def analyze(source: str, path: str, tasks: TaskIndex | None = None,
            checker: Checker | None = None) -> Analysis:
    """Run the checker (and the task checks when a task index is given). ``checker`` is a
    faster way to the same result (rhythm/lsp/incremental.py)."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    program, resolution, diags = (checker or analyze_source)(source, path)
    warnings = task_warnings(program, tasks, path) if program is not None and tasks else []
    return Analysis(path, source, program, resolution, diags, warnings)


@dataclass(frozen=True)
class Item:
    """A completion candidate."""

    label: str
    kind: str  # variable, constant, function, module, method, field, keyword, task, workflow
    detail: str = ""
    doc: str = ""


@dataclass(frozen=True)
class Location:
    path: Path | None  # None: this document
    span: A.Span


# ---------------------------------------------------------------- positions and names


def contains(span: A.Span, pos: Pos, inclusive_end: bool = True) -> bool:
    start, end = (span.line, span.column), (span.end_line, span.end_column)
    return start <= pos <= end if inclusive_end else start <= pos < end


def names(program: A.Program) -> list[A.Name]:
    return [node for node in walk(program) if isinstance(node, A.Name)]


def name_at(analysis: Analysis, pos: Pos) -> A.Name | None:
    if analysis.program is None:
        return None
    hits = [n for n in names(analysis.program) if contains(n.span, pos)]
    return hits[-1] if hits else None


def target_of(analysis: Analysis, name: A.Name) -> Binding | BuiltinRef | None:
    return analysis.resolution.get(name) if analysis.resolution is not None else None


def references(analysis: Analysis, binding: Binding) -> list[A.Name]:
    """Every name (declaration included) that refers to ``binding``."""
    assert analysis.program is not None
    return [n for n in names(analysis.program) if target_of(analysis, n) == binding]


def call_at(analysis: Analysis, pos: Pos) -> NamedCall | None:
    """The task or workflow call whose literal name is under the cursor."""
    if analysis.program is None:
        return None
    for call in named_calls(analysis.program):
        if contains(call.name_span, pos):
            return call
    return None


# ---------------------------------------------------------------- scopes at a position


def scoped_bindings(analysis: Analysis) -> list[tuple[Binding, A.Span]]:
    """Each declared binding with the span of the scope it is visible in."""
    if analysis._scopes is not None:
        return analysis._scopes
    found: list[tuple[Binding, A.Span]] = []
    analysis._scopes = found
    if analysis.program is None or analysis.resolution is None:
        return found
    resolution = analysis.resolution

    def visit(node: Any, scope: A.Span) -> None:
        if isinstance(node, A.Name):
            target = resolution.get(node)
            if isinstance(target, Binding) and target.span == node.span:
                found.append((target, scope))
            return
        if isinstance(node, A.Block | A.For | A.ForOf | A.ForIn | A.Arrow):
            scope = node.span
        if isinstance(node, A.Try) and node.handler is not None:
            visit(node.block, scope)
            start = node.param.span if node.param is not None else node.handler.span
            catch_scope = A.Span(start.line, start.column, node.handler.span.end_line,
                                 node.handler.span.end_column)
            if node.param is not None:
                visit(node.param, catch_scope)
            visit(node.handler, catch_scope)
            if node.finalizer is not None:
                visit(node.finalizer, scope)
            return
        for child in _children(node):
            visit(child, scope)

    visit(analysis.program, analysis.program.span)
    return found


def _children(node: Any) -> list[Any]:
    from rhythm.frontend.walk import children

    return list(children(node))


def visible_at(analysis: Analysis, pos: Pos) -> dict[str, Binding]:
    """Variables usable at ``pos``: declared before it in a scope around it (innermost wins)."""
    best: dict[str, tuple[Binding, A.Span]] = {}
    for binding, scope in scoped_bindings(analysis):
        declared = (binding.span.line, binding.span.column)
        if not contains(scope, pos) or declared >= pos:
            continue
        current = best.get(binding.name)
        if current is None or contains(current[1], (scope.line, scope.column)):
            best[binding.name] = (binding, scope)
    return {name: pair[0] for name, pair in best.items()}


def wrapper_aliases(program: A.Program | None) -> dict[str, str]:
    """``workflow(ctx, inputs)``: alias -> built-in (``ctx`` -> ``Context``)."""
    if program is None or program.wrapper != "workflow":
        return {}
    return dict(zip(program.params, ("Context", "Inputs"), strict=False))


# ---------------------------------------------------------------- hover


_DOTTED = re.compile(r"(?:([A-Za-z_$][\w$]*)?\s*(\??\.)\s*)?([A-Za-z_$][\w$]*)$")


def word_at(source: str, pos: Pos) -> tuple[str | None, str] | None:
    """The identifier under the cursor and what is before a dot in front of it: an
    identifier, ``""`` for another expression (``f().x``), None when there is no dot."""
    lines = source.split("\n")
    if not 1 <= pos[0] <= len(lines):
        return None
    text = lines[pos[0] - 1]
    col = pos[1] - 1
    end = col
    while end < len(text) and (text[end].isalnum() or text[end] in "_$"):
        end += 1
    match = _DOTTED.search(text[:end])
    if match is None or match.end(3) < col:
        return None
    qualifier = (match.group(1) or "") if match.group(2) else None
    return qualifier, match.group(3)


def hover(analysis: Analysis, pos: Pos, tasks: TaskIndex | None = None) -> str | None:
    """Markdown for the thing under the cursor: a built-in, a variable or a task name."""
    call = call_at(analysis, pos)
    if call is not None and call.kind == "task" and tasks is not None:
        info = tasks.tasks.get(call.name)
        return _task_markdown(info) if info else None
    name = name_at(analysis, pos)
    if name is not None:
        target = target_of(analysis, name)
        if isinstance(target, Binding):
            return f"```js\n{target.kind} {target.name}\n```\ndeclared on line {target.span.line}"
        if isinstance(target, BuiltinRef):
            return _markdown([lookup(target.name)])
    word = word_at(analysis.source, pos)
    if word is None:
        return None
    qualifier, member = word
    aliases = wrapper_aliases(analysis.program)
    if qualifier is None:
        return _markdown([lookup(aliases.get(member, member))]) if member in catalog.BUILTIN_NAMES \
            or member in aliases else None
    owner = aliases.get(qualifier, qualifier)
    if owner in catalog.BUILTIN_NAMES:
        return _markdown([lookup(f"{owner}.{member}")])
    return _markdown(method_docs(member))


def _markdown(entries: Sequence[BuiltinDoc | None]) -> str | None:
    shown = []
    for entry in entries:
        if entry is not None and entry not in shown:
            shown.append(entry)
    if not shown:
        return None
    return "\n\n".join(f"```js\n{e.signature}\n```\n{e.doc}" for e in shown)


def _task_markdown(info: TaskInfo) -> str:
    params = ", ".join(p if p in info.required else f"{p}?" for p in info.params)
    return f"```python\ntask {info.name}({params})\n```\ndefined in {info.path}:{info.line}"


# ---------------------------------------------------------------- completion

_NAME_ARG = re.compile(r"(Task\.run|\btask|Workflow\.run)\(\s*([\"'])([^\"'\\]*)$")
_MEMBER = re.compile(r"(?:([A-Za-z_$][\w$]*)|[\)\]])\s*\??\.\s*([\w$]*)$")
_INPUTS = re.compile(r"(?:Task\.run|\btask)\(\s*([\"'])([^\"'\\]+)\1\s*,\s*\{([^{}]*)$")
_KEYWORDS = ("let", "const", "if", "else", "while", "do", "for", "of", "in", "break",
             "continue", "return", "try", "catch", "finally", "throw", "await", "typeof",
             "true", "false", "null")


def completions(analysis: Analysis, pos: Pos, fallback: Analysis | None = None,
                tasks: TaskIndex | None = None,
                workflows: Callable[[], list[str]] | None = None) -> list[Item]:
    """Candidates at ``pos``; ``fallback`` is the last analysis whose text parsed;
    ``workflows`` lists the sibling workflow names (called only when they are wanted)."""
    lines = analysis.source.split("\n")
    prefix = lines[pos[0] - 1][: pos[1] - 1] if 1 <= pos[0] <= len(lines) else ""
    tree = analysis if analysis.program is not None else (fallback or analysis)
    named = _NAME_ARG.search(prefix)
    if named is not None:
        if named.group(1) == "Workflow.run":
            return [Item(w, "workflow", "workflow") for w in (workflows() if workflows else [])]
        return [Item(t.name, "task", _task_markdown(t).split("\n")[1])
                for t in (tasks.tasks.values() if tasks else [])]
    member = _MEMBER.search(prefix)
    if member is not None:
        return _member_items(member.group(1), wrapper_aliases(tree.program))
    keys = _input_keys(analysis.source, lines, pos, tasks)
    return keys + _global_items(tree, pos)


def _input_keys(source: str, lines: list[str], pos: Pos, tasks: TaskIndex | None) -> list[Item]:
    """At a key of ``Task.run("name", { ... })``: the task's parameters not given yet."""
    if tasks is None or not 1 <= pos[0] <= len(lines):
        return []
    offset = sum(len(line) + 1 for line in lines[: pos[0] - 1]) + pos[1] - 1
    before = source[max(0, offset - 2000): offset]
    call = _INPUTS.search(before)
    if call is None or not re.search(r"(?:^|,)\s*[\w$]*$", call.group(3)):
        return []  # not inside a call's inputs object, or not where a key goes
    info = tasks.tasks.get(call.group(2))
    if info is None:
        return []
    given = set(re.findall(r"([\w$]+)\s*:", call.group(3)))
    return [Item(p, "field", f"{'required' if p in info.required else 'optional'} input of "
                 f"task {info.name}") for p in info.params if p not in given]


def _member_items(qualifier: str | None, aliases: dict[str, str]) -> list[Item]:
    owner = aliases.get(qualifier or "", qualifier)
    if owner == "Context":
        return [_doc_item(f, "field", lookup(f"Context.{f}"))
                for f in sorted(catalog.CONTEXT_FIELDS)]
    if owner in catalog.NAMESPACES:
        items = [_doc_item(m, "function", lookup(f"{owner}.{m}"))
                 for m in catalog.NAMESPACES[owner]]
        items += [_doc_item(c, "constant", lookup(f"{owner}.{c}"))
                  for c in sorted(catalog.NAMESPACE_CONSTANTS.get(owner, ()))]
        return items
    if owner in catalog.BUILTIN_NAMES:
        return []  # Inputs' keys are not known; functions have no members
    methods = sorted({*catalog.STRING_METHODS, *catalog.ARRAY_METHODS, "length"})
    return [_doc_item(m, "field" if m == "length" else "method", next(iter(method_docs(m)), None))
            for m in methods]


def _global_items(analysis: Analysis, pos: Pos) -> list[Item]:
    items = [Item(name, "constant" if b.kind == "const" else "variable", f"{b.kind} {name}")
             for name, b in sorted(visible_at(analysis, pos).items())]
    for alias, builtin in wrapper_aliases(analysis.program).items():
        items.append(_doc_item(alias, "variable", lookup(builtin)))
    for name in sorted(catalog.BUILTIN_NAMES):
        kind = "module" if name in catalog.NAMESPACES else (
            "function" if name in catalog.FUNCTIONS else "variable")
        items.append(_doc_item(name, kind, lookup(name)))
    items += [Item(k, "keyword") for k in _KEYWORDS]
    return items


def _doc_item(label: str, kind: str, doc: BuiltinDoc | None) -> Item:
    return Item(label, kind, doc.signature if doc else "", doc.doc if doc else "")


# ---------------------------------------------------------------- definition, symbols, rename


def definition(analysis: Analysis, pos: Pos, tasks: TaskIndex | None = None,
               workflows: dict[str, Path] | None = None) -> Location | None:
    """Where the variable, task or child workflow under the cursor is defined."""
    call = call_at(analysis, pos)
    if call is not None:
        if call.kind == "task" and tasks is not None and call.name in tasks.tasks:
            info = tasks.tasks[call.name]
            width = len(info.name) if info.name.isidentifier() else 1
            return Location(info.path, A.Span(info.line, info.column, info.line,
                                              info.column + width))
        if call.kind == "workflow" and workflows and call.name in workflows:
            return Location(workflows[call.name], A.Span(1, 1, 1, 1))
        return None
    name = name_at(analysis, pos)
    target = target_of(analysis, name) if name is not None else None
    if isinstance(target, Binding) and target.kind != "wrapper":
        return Location(None, target.span)
    return None


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # variable or constant
    span: A.Span


def symbols(analysis: Analysis) -> list[Symbol]:
    """Every ``let``, ``const`` and ``catch`` variable of the document, in source order
    (arrow parameters would crowd an outline)."""
    if analysis.resolution is None:
        return []
    declared = sorted((b for b in analysis.resolution.bindings
                       if b.kind in ("let", "const", "catch")),
                      key=lambda b: (b.span.line, b.span.column))  # bindings are hoisted
    return [Symbol(b.name, "constant" if b.kind == "const" else "variable", b.span)
            for b in declared]


class RenameError(Exception):
    """The rename cannot be done (shown to the user as is)."""


def rename(analysis: Analysis, pos: Pos, new_name: str) -> list[tuple[A.Span, str]]:
    """Edits renaming the variable under the cursor across its scope."""
    name = name_at(analysis, pos)
    target = target_of(analysis, name) if name is not None else None
    if not isinstance(target, Binding) or target.kind == "wrapper":
        raise RenameError("only a variable declared in this file can be renamed")
    if not IDENTIFIER.match(new_name):
        raise RenameError(f"'{new_name}' is not a valid name")
    if new_name in catalog.RESERVED_WORDS or new_name in catalog.BUILTIN_NAMES:
        raise RenameError(f"'{new_name}' is a reserved word or a built-in")
    assert analysis.program is not None
    shorthand = _shorthand_names(analysis.program)
    edits = []
    for ref in references(analysis, target):
        text = f"{ref.id}: {new_name}" if ref in shorthand else new_name
        edits.append((ref.span, text))
    return edits


def _shorthand_names(program: A.Program) -> set[A.Name]:
    """Names written once for both key and value (``{x}``, ``const {x} = o``)."""
    found: set[A.Name] = set()
    for node in walk(program):
        if isinstance(node, A.Property) and node.shorthand and isinstance(node.value, A.Name):
            found.add(node.value)
        elif isinstance(node, A.PatternProp) and isinstance(node.target, A.Name) \
                and (node.target.span.line, node.target.span.column) == \
                (node.span.line, node.span.column):
            found.add(node.target)
    return found
